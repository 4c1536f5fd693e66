//! Every environment variable the runtime reads, in one place.

/// Debian mirror for building the default image (default: the host's apt source, then deb.debian.org).
pub const DEBIAN_MIRROR: &str = "SANDBAR_DEBIAN_MIRROR";
/// Image store directory (default `/var/cache/sandbar`).
pub const IMAGE_CACHE: &str = "SANDBAR_IMAGE_CACHE";

/// The image store directory: `SANDBAR_IMAGE_CACHE` or `/var/cache/sandbar`.
pub fn image_cache_dir() -> std::path::PathBuf {
    std::env::var_os(IMAGE_CACHE).map(Into::into).unwrap_or_else(|| "/var/cache/sandbar".into())
}
