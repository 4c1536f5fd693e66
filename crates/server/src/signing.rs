//! Signed file URLs of SDK 0.226 (`sandbox.download_url` / `upload_url`): the SDK signs
//! `v1:files:{METHOD}:{path}:{expires}` with the sandbox's signing key (HMAC-SHA256, URL-safe
//! base64 without padding, prefixed `v1_`); the toolbox checks that signature instead of an API
//! key. Sans-IO: keys come from the store, time from the caller.

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

/// A fresh random signing key (64 hex characters).
pub fn new_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    hex::encode(bytes)
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
