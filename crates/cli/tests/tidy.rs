//! Repository rules that are cheaper to enforce than to review: every Rust file explains why it
//! exists in a `//!` line, no test is silently ignored, and `unsafe` stays in the few files
//! allowed to hold it, each use with the reason it is sound.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates"), &mut files);
    assert!(files.len() > 10, "found only {} Rust files; is the walk broken?", files.len());
    files
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let missing: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap().trim_start().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:?}");
}

#[test]
fn no_test_is_ignored_without_a_reason() {
    let bare: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).unwrap().lines().any(|l| l.trim() == concat!("#[", "ignore]")))
        .collect();
    assert!(bare.is_empty(), "bare #[ignore] in {bare:?}");
}

/// The only files that may allow `unsafe_code` (the workspace denies it): the runtime's system
/// calls, the init binary, and the init crate's file that declares the fd-passing channel module.
const UNSAFE_ALLOWED: [&str; 3] = ["crates/runtime/src/sys.rs", "crates/init/src/main.rs", "crates/init/src/lib.rs"];

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace()).unwrap().to_string_lossy().into_owned()
}

#[test]
fn unsafe_code_is_allowed_only_in_the_allow_list() {
    let allow = concat!("allow(", "unsafe_code)");
    let strays: Vec<_> = all_rust_files()
        .into_iter()
        .filter(|path| std::fs::read_to_string(path).unwrap().lines().any(|l| l.contains(allow)))
        .map(|path| relative(&path))
        .filter(|path| !UNSAFE_ALLOWED.contains(&path.as_str()))
        .collect();
    assert!(strays.is_empty(), "{allow} outside {UNSAFE_ALLOWED:?}: {strays:?}");
}

#[test]
fn every_unsafe_block_says_why_it_is_sound() {
    let uses = [concat!("unsafe", " {"), concat!("unsafe", " fn"), concat!("unsafe", " impl")];
    let mut unexplained = Vec::new();
    for path in all_rust_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if !uses.iter().any(|u| code.contains(u)) {
                continue;
            }
            // `// SAFETY:` for a block or impl; an `unsafe fn` may instead document its contract
            // in a `# Safety` section, as rustdoc and clippy expect.
            let explained = lines[index.saturating_sub(3)..index].iter().any(|above| {
                above.contains("// SAFETY:") || (code.contains(uses[1]) && above.contains("/// # Safety"))
            });
            if !explained {
                unexplained.push(format!("{}:{}", relative(&path), index + 1));
            }
        }
    }
    assert!(unexplained.is_empty(), "unsafe without a SAFETY: comment in the 3 lines above: {unexplained:?}");
}
