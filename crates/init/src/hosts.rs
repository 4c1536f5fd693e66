//! `/etc/hosts` and `/etc/resolv.conf` inside the sandbox. `localhost` and the sandbox's own
//! hostname must resolve (`sudo` warns "unable to resolve host" on every call otherwise, and
//! `gethostbyname(gethostname())` fails): init adds what is missing to `/etc/hosts` at every
//! start, as lines tagged `# sandbar`, and keeps every other line, so what a user or an image put
//! there stays. A networked sandbox's `/etc/resolv.conf` names the host's forwarder; init owns
//! that file whole and rewrites it at every start.
//!
//! Written after `pivot_root`, so every path resolves inside the sandbox; a file is replaced
//! by `rename` (a symlink the sandbox put at the path is replaced, never followed), and only
//! when its content changes.

use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::unistd::unlinkat;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The mark on the lines init owns (and rewrites at every start).
const TAG: &str = "# sandbar";
/// The address a loopback-only sandbox's hostname resolves to (Debian's convention).
pub(crate) const LOOPBACK_HOSTNAME_ADDRESS: &str = "127.0.1.1";
/// A larger hosts file is left alone.
const MAX_BYTES: u64 = 1 << 20;

/// Whether `name` can stand in a hosts file: letters, digits, `-`, `_` and `.`.
fn is_host_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The hosts file with `existing`'s own lines and, tagged, whatever of `localhost` (IPv4 and
/// IPv6) and `hostname` (at `address`) no line names yet.
pub(crate) fn render(existing: &str, hostname: &str, address: &str) -> String {
    let kept: Vec<&str> = existing.lines().filter(|line| !line.trim_end().ends_with(TAG)).collect();
    let names = |address: &str, name: &str| {
        kept.iter().any(|line| {
            let mut fields = line.split('#').next().unwrap_or("").split_whitespace();
            let on = match address {
                "" => fields.next().is_some(),
                address => fields.next() == Some(address),
            };
            on && fields.any(|field| field.eq_ignore_ascii_case(name))
        })
    };
    let mut out = String::new();
    for line in &kept {
        out.push_str(line);
        out.push('\n');
    }
    if !names("127.0.0.1", "localhost") {
        out.push_str(&format!("127.0.0.1\tlocalhost\t{TAG}\n"));
    }
    if !names("::1", "localhost") {
        out.push_str(&format!("::1\tlocalhost ip6-localhost ip6-loopback\t{TAG}\n"));
    }
    if is_host_name(hostname) && !names("", hostname) {
        out.push_str(&format!("{address}\t{hostname}\t{TAG}\n"));
    }
    out
}

fn open_at(dir: &OwnedFd, name: &str, flags: OFlag, mode: u32) -> nix::Result<OwnedFd> {
    // SAFETY: openat returns a fresh fd on success, owned by nobody else.
    openat(Some(dir.as_raw_fd()), name, flags | OFlag::O_CLOEXEC, Mode::from_bits_truncate(mode))
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_etc() -> Result<OwnedFd, String> {
    // SAFETY: open returns a fresh fd on success.
    nix::fcntl::open("/etc", OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .map_err(|e| format!("open /etc: {e}"))
}

/// Brings `/etc/hosts` up to date for `hostname` at `address`. Best effort: a sandbox without a
/// plain `/etc` or with a full disk starts anyway, with the file as it was.
pub(crate) fn write(hostname: &str, address: &str) -> Result<(), String> {
    let etc = open_etc()?;
    let existing = read(&etc, "hosts")?;
    replace(&etc, "hosts", &existing, &render(&existing, hostname, address))
}

/// The `/etc/resolv.conf` of a networked sandbox: only the host's forwarder at `nameserver`.
pub(crate) fn render_resolv_conf(nameserver: &str) -> String {
    format!("# Written by sandbar at every start.\nnameserver {nameserver}\noptions timeout:2 attempts:2\n")
}

/// Makes `/etc/resolv.conf` exactly `text` (a symlink there, such as systemd's stub link, is
/// replaced). Best effort, as [`write`].
pub(crate) fn write_resolv_conf(text: &str) -> Result<(), String> {
    let etc = open_etc()?;
    let existing = read(&etc, "resolv.conf")?;
    replace(&etc, "resolv.conf", &existing, text)
}

/// The text of `/etc/<name>`: empty when it is missing or a symlink (which is then replaced).
fn read(etc: &OwnedFd, name: &str) -> Result<String, String> {
    match open_at(etc, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK, 0) {
        Ok(fd) => {
            let stat = fstat(fd.as_raw_fd()).map_err(|e| format!("stat /etc/{name}: {e}"))?;
            let regular = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
            if !regular || stat.st_size as u64 > MAX_BYTES {
                return Err(format!("/etc/{name} is not a regular file of at most 1 MiB; left alone"));
            }
            let mut text = String::new();
            std::fs::File::from(fd).read_to_string(&mut text).map_err(|e| format!("read /etc/{name}: {e}"))?;
            Ok(text)
        }
        // A symlink (ELOOP) is replaced by the file, as is a missing file.
        Err(nix::errno::Errno::ELOOP | nix::errno::Errno::ENOENT) => Ok(String::new()),
        Err(e) => Err(format!("open /etc/{name}: {e}")),
    }
}

/// Replaces `/etc/<name>` with `wanted` (through a staging file and `rename`) unless it already
/// holds exactly that.
fn replace(etc: &OwnedFd, name: &str, existing: &str, wanted: &str) -> Result<(), String> {
    if wanted == existing {
        return Ok(());
    }
    let staging = format!("{name}.sandbar-new");
    let staging = staging.as_str();
    let _ = unlinkat(Some(etc.as_raw_fd()), staging, nix::unistd::UnlinkatFlags::NoRemoveDir);
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let file = open_at(etc, staging, flags, 0o644).map_err(|e| format!("create /etc/{staging}: {e}"))?;
    let written = std::fs::File::from(file).write_all(wanted.as_bytes());
    if let Err(e) = written {
        let _ = unlinkat(Some(etc.as_raw_fd()), staging, nix::unistd::UnlinkatFlags::NoRemoveDir);
        return Err(format!("write /etc/{staging}: {e}"));
    }
    renameat(Some(etc.as_raw_fd()), staging, Some(etc.as_raw_fd()), name)
        .map_err(|e| format!("replace /etc/{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_names_are_added_and_tagged_and_other_lines_stay() {
        let debian = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n";
        assert_eq!(render(debian, "sb-1", LOOPBACK_HOSTNAME_ADDRESS), format!("{debian}127.0.1.1\tsb-1\t# sandbar\n"));
        assert_eq!(
            render("", "sb-1", LOOPBACK_HOSTNAME_ADDRESS),
            "127.0.0.1\tlocalhost\t# sandbar\n::1\tlocalhost ip6-localhost ip6-loopback\t# sandbar\n127.0.1.1\tsb-1\t# sandbar\n"
        );
        // A user's own lines, even for the hostname, win; a comment is not a mapping.
        let user = "127.0.0.1 localhost\n::1 localhost\n10.0.0.5 sb-1 # my own\n192.168.1.2 db\n";
        assert_eq!(render(user, "sb-1", LOOPBACK_HOSTNAME_ADDRESS), user);
        let commented = "127.0.0.1 localhost\n::1 localhost\n# 127.0.1.1 sb-1\n";
        assert!(render(commented, "sb-1", LOOPBACK_HOSTNAME_ADDRESS).ends_with("127.0.1.1\tsb-1\t# sandbar\n"));
    }

    #[test]
    fn rendering_again_changes_nothing_and_a_new_hostname_replaces_the_old_line() {
        let once = render("127.0.0.1 localhost\n::1 localhost\n", "first", LOOPBACK_HOSTNAME_ADDRESS);
        assert_eq!(render(&once, "first", LOOPBACK_HOSTNAME_ADDRESS), once, "a second start rewrites nothing");
        let renamed = render(&once, "second", LOOPBACK_HOSTNAME_ADDRESS);
        assert!(!renamed.contains("first") && renamed.ends_with("127.0.1.1\tsecond\t# sandbar\n"), "{renamed}");
    }

    #[test]
    fn a_hostname_that_could_inject_lines_is_not_written() {
        let text =
            render("127.0.0.1 localhost\n::1 localhost\n", "evil\n1.2.3.4 bank.example", LOOPBACK_HOSTNAME_ADDRESS);
        assert!(!text.contains("evil") && !text.contains("bank"), "{text}");
    }

    #[test]
    fn a_networked_sandbox_names_its_own_address_and_a_move_replaces_the_tagged_line() {
        let base = "127.0.0.1 localhost\n::1 localhost\n";
        let loopback = render(base, "sb-1", LOOPBACK_HOSTNAME_ADDRESS);
        let networked = render(&loopback, "sb-1", "10.213.0.7");
        assert_eq!(networked, format!("{base}10.213.0.7\tsb-1\t# sandbar\n"));
        assert_eq!(
            render_resolv_conf("10.213.0.1"),
            "# Written by sandbar at every start.\nnameserver 10.213.0.1\noptions timeout:2 attempts:2\n"
        );
    }
}
