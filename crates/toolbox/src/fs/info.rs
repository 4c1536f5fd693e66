//! The daemon's `FileInfo` of an `lstat` result, in its formats: the mode as Go's
//! `FileMode.String()` and `modTime` as Go's `time.Time.String()` (SDKs 0.190 and 0.226 read
//! these strings as the reference daemon writes them).

use nix::sys::stat::FileStat;
use sandbar_api::toolbox::fs::FileInfo;
use std::path::Path;

/// The FileInfo object (both SDK versions: `modifiedAt` always, `path` for 0.226).
pub(crate) fn file_info(name: &str, path: &Path, st: &FileStat) -> FileInfo {
    let modified =
        time::OffsetDateTime::from_unix_timestamp_nanos(st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    FileInfo {
        name: name.to_string(),
        path: path.display().to_string(),
        size: st.st_size,
        mode: go_mode_string(st.st_mode),
        permissions: format!("{:04o}", st.st_mode & 0o7777),
        is_dir: st.st_mode & libc::S_IFMT == libc::S_IFDIR,
        owner: st.st_uid.to_string(),
        group: st.st_gid.to_string(),
        modified_at: modified.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        mod_time: go_time_string(modified),
    }
}

/// Go's `FileMode.String()`: type letters (or `-`) then `rwxrwxrwx`, as the reference daemon sends.
fn go_mode_string(mode: u32) -> String {
    let kind = mode & libc::S_IFMT;
    let mut prefix = String::new();
    if kind == libc::S_IFDIR {
        prefix.push('d');
    }
    if kind == libc::S_IFLNK {
        prefix.push('L');
    }
    if kind == libc::S_IFBLK || kind == libc::S_IFCHR {
        prefix.push('D');
    }
    if kind == libc::S_IFIFO {
        prefix.push('p');
    }
    if kind == libc::S_IFSOCK {
        prefix.push('S');
    }
    if mode & libc::S_ISUID != 0 {
        prefix.push('u');
    }
    if mode & libc::S_ISGID != 0 {
        prefix.push('g');
    }
    if kind == libc::S_IFCHR {
        prefix.push('c');
    }
    if mode & libc::S_ISVTX != 0 {
        prefix.push('t');
    }
    if prefix.is_empty() {
        prefix.push('-');
    }
    let bits = "rwxrwxrwx";
    let perms: String =
        bits.chars().enumerate().map(|(i, c)| if mode & (1 << (8 - i)) != 0 { c } else { '-' }).collect();
    prefix + &perms
}

/// Go's `time.Time.String()` layout in UTC.
fn go_time_string(at: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09} +0000 UTC",
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_go_prints_them() {
        assert_eq!(go_mode_string(libc::S_IFREG | 0o644), "-rw-r--r--");
        assert_eq!(go_mode_string(libc::S_IFDIR | 0o755), "drwxr-xr-x");
        assert_eq!(go_mode_string(libc::S_IFLNK | 0o777), "Lrwxrwxrwx");
        assert_eq!(go_mode_string(libc::S_IFDIR | libc::S_ISVTX | 0o777), "dtrwxrwxrwx");
        assert_eq!(go_mode_string(libc::S_IFCHR | 0o666), "Dcrw-rw-rw-");
        assert_eq!(go_mode_string(libc::S_IFREG | libc::S_ISUID | 0o755), "urwxr-xr-x");
        assert_eq!(go_mode_string(libc::S_IFIFO | 0o600), "prw-------");
    }

    #[test]
    fn times_read_as_go_prints_them_in_utc() {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(1_765_101_600_500_000_000).unwrap();
        assert_eq!(go_time_string(at), "2025-12-07 10:00:00.500000000 +0000 UTC");
    }
}
