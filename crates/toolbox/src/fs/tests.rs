//! [`SandboxFs`] on a plain temporary directory (no sandbox, no root): paths resolve inside the
//! root whatever `..` and symlinks say, only regular files open, and `mkdir_all` makes parents
//! that belong to the user.

use super::*;
use axum::http::StatusCode;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

/// A temporary directory holding `root/` (the view's root) and `outside/` beside it, with a
/// `secret.txt` in both so a test can tell which one it reached.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/outside")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("root/outside/secret.txt"), "inside the root").unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "host secret").unwrap();
        Fixture { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn fs(&self) -> SandboxFs {
        SandboxFs::with_root(std::fs::File::open(self.root()).unwrap(), "/work", "me", None)
    }

    fn read(&self, fs: &SandboxFs, path: &str) -> Result<String, ToolboxError> {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut fs.open_regular(Path::new(path), false)?, &mut text).unwrap();
        Ok(text)
    }
}

#[test]
fn request_paths_resolve_against_the_workdir() {
    let fs = Fixture::new().fs();
    assert_eq!(fs.absolute("").unwrap(), Path::new("/work"));
    assert_eq!(fs.absolute("a/b.txt").unwrap(), Path::new("/work/a/b.txt"));
    assert_eq!(fs.absolute("/etc/hosts").unwrap(), Path::new("/etc/hosts"));
    let nul = fs.absolute("a\0b").unwrap_err();
    assert_eq!((nul.status, nul.code), (StatusCode::BAD_REQUEST, "INVALID_FILE_PATH"));
}

#[test]
fn dot_dot_stops_at_the_root() {
    let fixture = Fixture::new();
    let fs = fixture.fs();
    assert_eq!(fixture.read(&fs, "/../outside/secret.txt").unwrap(), "inside the root");
    assert_eq!(fixture.read(&fs, "/outside/../../../outside/secret.txt").unwrap(), "inside the root");
}

#[test]
fn symlinks_resolve_inside_the_root() {
    let fixture = Fixture::new();
    let host_secret = fixture.dir.path().join("outside/secret.txt");
    std::os::unix::fs::symlink(&host_secret, fixture.root().join("absolute")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret.txt", fixture.root().join("relative")).unwrap();
    std::os::unix::fs::symlink("/outside/secret.txt", fixture.root().join("inside")).unwrap();
    let fs = fixture.fs();
    // The host path of the secret names a path inside the root, where nothing is.
    let absolute = fixture.read(&fs, "/absolute").unwrap_err();
    assert_eq!((absolute.status, absolute.code), (StatusCode::NOT_FOUND, "FILE_NOT_FOUND"));
    assert_eq!(fixture.read(&fs, "/relative").unwrap(), "inside the root");
    assert_eq!(fixture.read(&fs, "/inside").unwrap(), "inside the root");
    // lstat reports the link itself.
    assert_eq!(fs.metadata(Path::new("/inside")).unwrap().0.st_mode & libc::S_IFMT, libc::S_IFLNK);
}

#[test]
fn only_regular_files_open() {
    let fixture = Fixture::new();
    nix::unistd::mkfifo(&fixture.root().join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    std::os::unix::fs::symlink("/outside", fixture.root().join("to-dir")).unwrap();
    let fs = fixture.fs();
    for path in ["/outside", "/fifo", "/to-dir"] {
        let refused = fs.open_regular(Path::new(path), false).unwrap_err();
        assert_eq!((refused.status, refused.code), (StatusCode::BAD_REQUEST, "INVALID_FILE_PATH"), "{path}");
        assert!(refused.message.ends_with("is not a regular file"), "{path}: {}", refused.message);
    }
    let missing = fs.open_regular(Path::new("/nothing"), false).unwrap_err();
    assert_eq!((missing.status, missing.code), (StatusCode::NOT_FOUND, "FILE_NOT_FOUND"));
}

#[test]
fn kernel_interface_files_are_refused() {
    let fs = SandboxFs::with_root(std::fs::File::open("/").unwrap(), "/", "nobody", None);
    let refused = fs.open_regular(Path::new("/proc/version"), false).unwrap_err();
    assert_eq!((refused.status, refused.code), (StatusCode::FORBIDDEN, "FILE_ACCESS_DENIED"));
}

#[test]
fn a_regular_file_opens_for_writing() {
    use std::io::{Seek, Write};
    let fixture = Fixture::new();
    let fs = fixture.fs();
    let mut file = fs.open_regular(Path::new("/outside/secret.txt"), true).unwrap();
    file.set_len(0).unwrap();
    file.rewind().unwrap();
    file.write_all(b"rewritten").unwrap();
    assert_eq!(std::fs::read_to_string(fixture.root().join("outside/secret.txt")).unwrap(), "rewritten");
}

#[test]
fn mkdir_all_makes_the_parents_and_gives_them_to_the_user() {
    let fixture = Fixture::new();
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    std::fs::create_dir_all(fixture.root().join("etc")).unwrap();
    std::fs::write(
        fixture.root().join("etc/passwd"),
        format!("root:x:0:0::/root:/bin/sh\nme:x:{uid}:{gid}::/w:/bin/sh\n"),
    )
    .unwrap();
    let fs = fixture.fs();
    assert_eq!((fs.uid, fs.gid), (uid, gid));
    fs.mkdir_all(Path::new("/a/b/c"), 0o750).unwrap();
    for dir in ["a", "a/b", "a/b/c"] {
        let meta = std::fs::metadata(fixture.root().join(dir)).unwrap();
        assert!(meta.is_dir(), "{dir}");
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{dir}");
    }
    assert!(fs.metadata(Path::new("/a/b/c")).unwrap().is_dir());
}

#[test]
fn mkdir_all_through_a_symlink_stays_inside_the_root() {
    let fixture = Fixture::new();
    let host_outside = fixture.dir.path().join("outside");
    std::os::unix::fs::symlink(&host_outside, fixture.root().join("escape")).unwrap();
    let _ = fixture.fs().mkdir_all(Path::new("/escape/made"), 0o755);
    assert!(!host_outside.join("made").exists(), "a directory was made outside the root");
}

#[test]
fn accounts_are_read_from_the_roots_own_files() {
    let fixture = Fixture::new();
    std::fs::create_dir_all(fixture.root().join("etc")).unwrap();
    std::fs::write(fixture.root().join("etc/passwd"), "daytona:x:1000:1001::/home/daytona:/bin/bash\nbad:x\n").unwrap();
    nix::unistd::mkfifo(&fixture.root().join("etc/group"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let fs = fixture.fs();
    assert_eq!(lookup_user(&fs.root, "daytona"), Some((1000, 1001)));
    assert_eq!(lookup_user(&fs.root, "bad"), None);
    assert_eq!(lookup_user(&fs.root, "nobody"), None);
    // A FIFO planted as /etc/group is refused, not read (which would hang).
    assert_eq!(lookup_group(&fs.root, "daytona"), None);
    std::fs::remove_file(fixture.root().join("etc/group")).unwrap();
    std::fs::write(fixture.root().join("etc/group"), "staff:x:50:\ndaytona:x:1001:\n").unwrap();
    assert_eq!(lookup_group(&fs.root, "daytona"), Some(1001));
}

#[test]
fn modes_are_octal_up_to_7777() {
    assert_eq!(parse_mode("755").unwrap(), 0o755);
    assert_eq!(parse_mode("0o4755").unwrap(), 0o4755);
    assert!(parse_mode("10000").is_err());
    assert!(parse_mode("rwx").is_err());
}

#[test]
fn a_path_past_path_max_is_refused_without_repeating_it() {
    let fs = Fixture::new().fs();
    let huge = "a/".repeat(150_000);
    let error = fs.absolute(&huge).unwrap_err();
    assert_eq!(error.status, StatusCode::BAD_REQUEST);
    assert!(error.message.len() < 200, "the answer does not repeat a 300 KB path: {} bytes", error.message.len());
    assert!(error.message.contains("PATH_MAX"), "{}", error.message);
    // Under the limit is fine, also relative to the working directory.
    assert!(fs.absolute(&"a/".repeat(1_000)).is_ok());
    assert!(fs.absolute(&"a/".repeat(2_047)).is_err(), "/work/ plus 4094 bytes is past the limit");
}

#[test]
fn mkdir_all_of_a_deep_path_makes_every_level() {
    let fixture = Fixture::new();
    let fs = fixture.fs();
    // 2,000 components, near the path limit: linear work, every level made and handed over.
    let deep = format!("/{}", vec!["d"; 2_000].join("/"));
    fs.mkdir_all(Path::new(&deep), 0o755).unwrap();
    assert!(fs.metadata(Path::new(&deep)).unwrap().is_dir());
    assert!(fixture.root().join("d/d/d").is_dir());
}

/// A tree `depth` levels deep under `root` (a file, a link out of the root and a directory per
/// level), made relative to open directories so no path ever grows.
fn deep_tree(root: &Path, depth: usize, link_target: &Path) {
    let mut dir = std::fs::File::open(root).unwrap();
    for _ in 0..depth {
        let here = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
        std::fs::write(here.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(link_target, here.join("out")).unwrap();
        std::fs::create_dir(here.join("d")).unwrap();
        dir = std::fs::File::open(here.join("d")).unwrap();
    }
}

#[test]
fn a_recursive_delete_of_a_tree_deeper_than_any_stack_removes_everything() {
    let fixture = Fixture::new();
    let host_outside = fixture.dir.path().join("outside");
    std::fs::create_dir(fixture.root().join("deep")).unwrap();
    // 5,000 levels: past PATH_MAX, and about twice as deep as the recursive removal went on a
    // 2 MiB stack before it overflowed. The links point at the host directory beside the root.
    deep_tree(&fixture.root().join("deep"), 5_000, &host_outside);
    let fs = fixture.fs();
    // A thread with a small stack (128 KiB): only an iterative walk gets through.
    let removed = std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || fs.remove_tree(Path::new("/outside/../deep")).map_err(|e| e.message))
        .unwrap()
        .join()
        .expect("the delete did not crash its thread");
    assert_eq!(removed, Ok(()));
    assert!(!fixture.root().join("deep").exists(), "the tree is gone");
    assert_eq!(std::fs::read_to_string(host_outside.join("secret.txt")).unwrap(), "host secret");
    assert!(fixture.root().join("outside/secret.txt").exists(), "nothing beside the tree was touched");
}

#[test]
fn a_recursive_delete_through_a_link_stays_inside_the_root_and_reports_what_is_missing() {
    let fixture = Fixture::new();
    let host_outside = fixture.dir.path().join("outside");
    // The parent path is a link to the host directory: it resolves inside the root, where
    // `outside/` has no `gone` directory.
    std::os::unix::fs::symlink(&host_outside, fixture.root().join("escape")).unwrap();
    std::fs::create_dir(host_outside.join("gone")).unwrap();
    let fs = fixture.fs();
    let missing = fs.remove_tree(Path::new("/escape/gone")).unwrap_err();
    assert_eq!((missing.status, missing.code), (StatusCode::NOT_FOUND, "FILE_NOT_FOUND"), "{}", missing.message);
    assert!(host_outside.join("gone").is_dir(), "the host directory is untouched");
    // Through a link that names a directory inside the root, the target inside the root goes.
    std::os::unix::fs::symlink("/outside", fixture.root().join("inner")).unwrap();
    std::fs::create_dir_all(fixture.root().join("outside/gone/sub")).unwrap();
    fs.remove_tree(Path::new("/inner/gone")).unwrap();
    assert!(!fixture.root().join("outside/gone").exists());
    assert!(host_outside.join("gone").is_dir(), "the host directory is untouched");
}
