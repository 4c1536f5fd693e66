//! Host packages the runtime installs itself when a tool it needs is missing (debootstrap for the
//! default image, btrfs-progs for the data disk), so the README's commands work on a bare Debian
//! machine. Installs are serialized: one attempt per package per process (later callers get the
//! first attempt's result), and one apt-get at a time across processes through a lock file, so
//! parallel tests or two servers never lose a race for dpkg's lock.

use crate::image::BuildProgress;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// The cross-process lock; `/run/lock` is a tmpfs on Debian, so a stale file never outlives a boot.
const LOCK_FILE: &str = "/run/lock/sandbar-host-tools.lock";
/// How long apt-get itself waits for dpkg's lock when something other than Sandbar holds it.
const DPKG_LOCK_TIMEOUT_SECONDS: &str = "300";

/// Outcome of each package's install in this process.
static ATTEMPTS: Mutex<Option<HashMap<&'static str, Result<(), String>>>> = Mutex::new(None);

/// Makes sure `tool` is on the PATH, installing Debian's `package` with apt-get if it is not.
/// The error is the tail of apt-get's output (the caller names the step).
pub(crate) fn ensure(tool: &str, package: &'static str, progress: &mut dyn BuildProgress) -> Result<(), String> {
    if on_path(tool) {
        return Ok(());
    }
    // Held for the whole install: a second caller in this process waits, then reads the result.
    let mut attempts = crate::sync::lock(&ATTEMPTS);
    let attempts = attempts.get_or_insert_with(HashMap::new);
    if let Some(result) = attempts.get(package) {
        return result.clone();
    }
    let result = install_locked(tool, package, progress);
    attempts.insert(package, result.clone());
    result
}

fn install_locked(tool: &str, package: &str, progress: &mut dyn BuildProgress) -> Result<(), String> {
    if !on_path("apt-get") {
        return Err(format!("{tool} is missing and this host has no apt-get: install {package} by hand"));
    }
    let _lock = lock_across_processes()?;
    // Another process may have installed it while this one waited for the lock.
    if on_path(tool) {
        return Ok(());
    }
    progress.step(&format!("{tool} is not installed: installing {package} with apt-get"));
    tracing::info!(tool, package, "installing a missing host tool with apt-get");
    let install = |progress: &mut dyn BuildProgress| {
        crate::image::build::run(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["-o", &format!("DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT_SECONDS}")])
                .args(["install", "-y", "-q", "--no-install-recommends", package]),
            progress,
        )
    };
    // A machine whose package lists were never fetched knows no packages: update once, retry.
    install(progress).or_else(|_| {
        crate::image::build::run(
            Command::new("apt-get")
                .args(["-o", &format!("DPkg::Lock::Timeout={DPKG_LOCK_TIMEOUT_SECONDS}")])
                .args(["update", "-q"]),
            progress,
        )?;
        install(progress)
    })?;
    if on_path(tool) {
        Ok(())
    } else {
        Err(format!("apt-get installed {package}, but {tool} is still not on the PATH"))
    }
}

fn lock_across_processes() -> Result<nix::fcntl::Flock<std::fs::File>, String> {
    let path = Path::new(LOCK_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| format!("lock {}: {errno}", path.display()))
}

/// Whether `program` is on PATH (or in the sbin directories, which root's PATH may lack).
pub(crate) fn on_path(program: &str) -> bool {
    path_of(program).is_some()
}

/// Where `program` is: on the PATH, or in `/usr/sbin` or `/sbin` (which a non-login root shell
/// may lack on its PATH).
pub(crate) fn path_of(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let found =
        path.split(':').chain(["/usr/sbin", "/sbin"]).map(|dir| Path::new(dir).join(program)).find(|p| p.is_file());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_tool_needs_no_install() {
        // `sh` is on every host's PATH: nothing is attempted, nothing recorded.
        assert_eq!(ensure("sh", "dash", &mut ()), Ok(()));
        let attempts = crate::sync::lock(&ATTEMPTS);
        assert!(attempts.as_ref().is_none_or(|map| !map.contains_key("dash")));
    }

    #[test]
    fn sbin_counts_as_on_path() {
        assert!(on_path("sh"));
        assert!(!on_path("sandbar-no-such-tool"));
    }
}
