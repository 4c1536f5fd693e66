//! Signed file URLs of SDK 0.226 (`sandbox.download_url` / `upload_url`): the SDK signs
//! `v1:files:{METHOD}:{path}:{expires}` with the sandbox's signing key (HMAC-SHA256, URL-safe
//! base64 without padding, prefixed `v1_`); the toolbox checks that signature instead of an API
//! key. Sans-IO: nonces come from the store, the master key from the caller, time from the caller.
//!
//! A sandbox's signing key is not stored: it is HMAC-SHA256 of the server's master key over the
//! sandbox id and a per-sandbox nonce (the store keeps the nonce; rotation replaces it). A copy
//! of the database alone signs nothing; every control-plane replica shares the master key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "v1_";

/// Why a signed URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `expires` or `signature` is missing or malformed.
    #[error("signed URL is malformed: {0}")]
    Malformed(String),
    /// The URL's lifetime ended.
    #[error("signed URL expired at unix time {0}")]
    Expired(i64),
    /// The signature does not match (tampered, or the key was rotated).
    #[error("signature does not match this sandbox's signing key (was the URL changed or the key rotated?)")]
    Mismatch,
}

/// A fresh random nonce (64 hex characters).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    hex::encode(bytes)
}

/// The secret every sandbox's signing key is derived from.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key of these bytes (tests; a file's content).
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    /// The key in `path` (64 hex characters), made (0600, written whole before it is used) when
    /// the file does not exist.
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<MasterKey> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let parse = |text: &str| -> std::io::Result<MasterKey> {
            let bytes = hex::decode(text.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            bytes
                .map(MasterKey)
                .ok_or_else(|| std::io::Error::other(format!("{} does not hold 64 hex characters", path.display())))
        };
        match std::fs::read_to_string(path) {
            Ok(text) => return parse(&text),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        let staging = path.with_extension("new");
        let key = new_nonce();
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&staging)?;
        file.write_all(key.as_bytes())?;
        file.sync_all()?;
        // Two servers starting at once: the first link wins and both use its key.
        match std::fs::hard_link(&staging, path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let _ = std::fs::remove_file(&staging);
        parse(&std::fs::read_to_string(path)?)
    }

    /// The signing key of sandbox `id` with `nonce` (64 hex characters, what the SDK signs with).
    pub fn derive(&self, id: &str, nonce: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(format!("sandbar signing key v1\0{id}\0{nonce}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

fn mac(key: &str, method: &str, path: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("v1:files:{method}:{path}:{expires}").as_bytes());
    mac
}

/// The signature the SDK puts in a URL for `method` on `path` until `expires` (0 = never).
pub fn sign(key: &str, method: &str, path: &str, expires: i64) -> String {
    use base64::Engine;
    let digest = mac(key, method, path, expires).finalize().into_bytes();
    format!("{PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest))
}

/// Checks a signed URL's `expires` and `signature` query values for `method` on `path` at `now`
/// (Unix seconds). The comparison is constant-time.
pub fn verify(
    key: &str,
    method: &str,
    path: &str,
    expires: &str,
    signature: &str,
    now: i64,
) -> Result<(), SignatureError> {
    use base64::Engine;
    let expires: i64 =
        expires.parse().map_err(|_| SignatureError::Malformed(format!("expires {expires:?} is not a Unix time")))?;
    if expires < 0 {
        return Err(SignatureError::Malformed(format!("expires {expires} is negative")));
    }
    let encoded = signature
        .strip_prefix(PREFIX)
        .ok_or_else(|| SignatureError::Malformed(format!("signature must start with {PREFIX}")))?;
    let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SignatureError::Malformed("signature is not URL-safe base64".into()))?;
    mac(key, method, path, expires).verify_slice(&digest).map_err(|_| SignatureError::Mismatch)?;
    if expires != 0 && expires < now {
        return Err(SignatureError::Expired(expires));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_sdk_signature() {
        // Computed with daytona 0.226.1's compute_file_url_signature("k", "GET", "/tmp/a b", 1700000000).
        assert_eq!(sign("k", "GET", "/tmp/a b", 1_700_000_000), "v1_en_ogMUVewbjEFMN2ax5rCikTaehGwpwWPTxQ7AeVEU");
    }

    #[test]
    fn derived_keys_differ_by_sandbox_nonce_and_master() {
        let master = MasterKey::from_bytes([7; 32]);
        let key = master.derive("s1", "n1");
        assert_eq!(key.len(), 64);
        assert_eq!(master.derive("s1", "n1"), key, "the same inputs give the same key");
        assert_ne!(master.derive("s2", "n1"), key);
        assert_ne!(master.derive("s1", "n2"), key, "rotation (a new nonce) changes the key");
        assert_ne!(MasterKey::from_bytes([8; 32]).derive("s1", "n1"), key);
        assert_eq!(format!("{master:?}"), "MasterKey(..)", "never printed");
    }

    #[test]
    fn the_master_key_is_made_once_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signing-master-key");
        let made = MasterKey::load_or_create(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(MasterKey::load_or_create(&path).unwrap(), made, "a second start reads the same key");
        std::fs::write(&path, "short").unwrap();
        let error = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("64 hex characters"), "{error}");
    }

    #[test]
    fn accepts_its_own_signature_until_it_expires() {
        let signature = sign("key", "POST", "/home/daytona/x", 100);
        assert_eq!(verify("key", "POST", "/home/daytona/x", "100", &signature, 99), Ok(()));
        assert_eq!(verify("key", "POST", "/home/daytona/x", "100", &signature, 101), Err(SignatureError::Expired(100)));
        let forever = sign("key", "GET", "/f", 0);
        assert_eq!(verify("key", "GET", "/f", "0", &forever, i64::MAX), Ok(()));
    }

    #[test]
    fn refuses_changes_to_any_signed_part() {
        let signature = sign("key", "GET", "/f", 100);
        for (key, method, path, expires) in [
            ("other", "GET", "/f", "100"),
            ("key", "POST", "/f", "100"),
            ("key", "GET", "/g", "100"),
            ("key", "GET", "/f", "101"),
        ] {
            assert_eq!(
                verify(key, method, path, expires, &signature, 0),
                Err(SignatureError::Mismatch),
                "{key} {method} {path} {expires}"
            );
        }
        assert!(matches!(verify("key", "GET", "/f", "soon", &signature, 0), Err(SignatureError::Malformed(_))));
        assert!(matches!(verify("key", "GET", "/f", "100", "nope", 0), Err(SignatureError::Malformed(_))));
    }
}
