//! A writable layer packed into one zstd-compressed tar file and back, byte for byte: contents,
//! owners, modes (set-id bits included), modification times, extended attributes (overlayfs keeps
//! `trusted.overlay.*` ones on directories), symlinks, hard links, and the character devices
//! overlayfs uses as whiteouts. Sockets are skipped: nothing can reconnect to them after a stop.
//!
//! The `tar` crate writes and reads the entries; what it leaves out is done here: hard links are
//! recognised by inode on the way in, xattrs travel as `SCHILY.xattr.*` PAX records and are set
//! on every kind of entry on the way out, device nodes are made with `mknod`, and directory times
//! are set last (creating their children changes them).
//!
//! `format` holds the file format ([`pack`], [`unpack`]); `lifecycle` holds the runtime's
//! archive and restore of a stopped sandbox's writable layer, with their crash recovery.

mod format;
mod lifecycle;

pub use format::{pack, unpack, Packed};
pub(crate) use lifecycle::recover_archive_state;
