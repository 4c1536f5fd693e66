//! Repository rules that are cheaper to enforce than to review: every Rust file explains why it
//! exists in a `//!` line, no test is silently ignored, `unsafe` stays in the few files allowed
//! to hold it (each use with the reason it is sound), and wire bodies live in `sandbar-api` only
//! (no serde derives elsewhere except the listed non-wire records, no ad-hoc JSON bodies in the
//! HTTP layers).

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

/// Files (or folders, ending in `/`) outside `crates/api` that may derive serde, each with why it
/// is not a wire body. Paths are relative to the workspace root.
const SERDE_OUTSIDE_API: &[(&str, &str)] = &[
    ("crates/init/src/", "the protocol between the runtime and init over init.sock, never on HTTP"),
    (
        "crates/runtime/src/",
        "the runtime's on-disk records (sandbox.json, running.json, image manifests) and its spec; \
         the runtime knows nothing of the wire",
    ),
    ("crates/server/src/model.rs", "VolumeMount, stored as JSON in the sandboxes row of the database"),
];

/// Source text that counts for the wire rules: test files (under a `tests/` folder) are skipped,
/// and so is a file's `#[cfg(test)]` module (it comes last, as CONTRIBUTING.md asks).
fn non_test_source(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).unwrap();
    if relative.components().any(|c| c.as_os_str() == "tests") {
        return None;
    }
    let text = std::fs::read_to_string(path).unwrap();
    let cut = text.find(concat!("#[cfg", "(test)]")).unwrap_or(text.len());
    Some(text[..cut].to_string())
}

/// The derive lists in `text` that name a serde trait (`Serialize`, `serde::Deserialize`, ...),
/// as `line: list`.
fn serde_derives(text: &str) -> Vec<String> {
    let needle = concat!("derive", "(");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(needle) {
        let after = &rest[start + needle.len()..];
        let list = &after[..after.find(')').unwrap_or(after.len())];
        let names_serde = list
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .map(|name| name.rsplit("::").next().unwrap_or(name))
            .any(|name| name == "Serialize" || name == "Deserialize");
        if names_serde {
            let line = text[..text.len() - rest.len() + start].lines().count().max(1);
            found.push(format!("{line}: {}", list.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
        rest = after;
    }
    found
}

#[test]
fn wire_types_derive_serde_only_in_the_api_crate() {
    let root = workspace();
    for (allowed, reason) in SERDE_OUTSIDE_API {
        assert!(root.join(allowed).exists(), "allow-list entry {allowed} ({reason}) names nothing; remove or fix it");
    }
    let mut offenders = Vec::new();
    for path in all_rust_files() {
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let allowed = SERDE_OUTSIDE_API.iter().any(|(entry, _)| {
            if entry.ends_with('/') {
                relative.starts_with(entry)
            } else {
                relative == *entry
            }
        });
        if relative.starts_with("crates/api/") || allowed {
            continue;
        }
        let Some(text) = non_test_source(&root, &path) else { continue };
        offenders.extend(serde_derives(&text).into_iter().map(|hit| format!("{relative}:{hit}")));
    }
    assert!(
        offenders.is_empty(),
        "serde derives outside crates/api (wire bodies belong in sandbar-api; a non-wire record needs an \
         entry with its reason in SERDE_OUTSIDE_API):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn http_layers_build_no_ad_hoc_json_bodies() {
    let root = workspace();
    let needle = concat!("json", "!(");
    let mut offenders = Vec::new();
    for dir in ["crates/toolbox/src", "crates/server/src/http"] {
        let mut files = Vec::new();
        rust_files(&root.join(dir), &mut files);
        assert!(!files.is_empty(), "no Rust files under {dir}; update this test's folders");
        for path in files {
            let Some(text) = non_test_source(&root, &path) else { continue };
            for (number, line) in text.lines().enumerate() {
                if line.contains(needle) {
                    offenders.push(format!(
                        "{}:{}: {}",
                        path.strip_prefix(&root).unwrap().display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "JSON bodies must be sandbar-api types, not json! values:\n{}", offenders.join("\n"));
}

#[test]
fn the_serde_derive_finder_sees_every_spelling() {
    let text = concat!(
        "#[derive(Debug, Clone)]\nstruct A;\n#[",
        "derive(Debug, serde::Serialize)]\nstruct B;\n#[",
        "derive(\n    Debug,\n    Deserialize,\n)]\nstruct C;\n#[",
        "derive(SerializeLike)]\nstruct D;\n",
    );
    let found = serde_derives(text);
    assert_eq!(found, vec!["3: Debug, serde::Serialize".to_string(), "5: Debug, Deserialize,".to_string()]);
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
