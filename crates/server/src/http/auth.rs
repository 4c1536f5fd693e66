//! API-key authentication and per-key rate limiting for every `/api` and `/toolbox` request.
//!
//! A key is `Authorization: Bearer <key>`; the store keeps only its SHA-256. The organization
//! of the key becomes a request extension that handlers read. `X-Daytona-Organization-ID` is
//! ignored for API keys (G5: SDKs put other values there).

use super::error::ApiError;
use super::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// SHA-256 hex of a key, as stored.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh random API key (`sbk_` + 40 hex characters).
pub fn new_key() -> String {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).expect("the OS provides randomness");
    format!("sbk_{}", hex::encode(bytes))
}

/// A token bucket per key hash.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Allows `per_second` requests per key on average, bursts of `burst`.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter { per_second: per_second as f64, burst: burst as f64, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token for `key`; false when the bucket is empty.
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut buckets = sandbar_runtime::lock(&self.buckets);
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Resolves the caller's organization or answers 401/429.
pub async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    // A signed file URL was already checked and stands in for a key (see `signed`).
    if request.extensions().get::<super::signed::SignedUrl>().is_some() {
        return Ok(next.run(request).await);
    }
    let header = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let key = header
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::unauthorized("missing API key: send Authorization: Bearer <key>"))?;
    let key_hash = hash_key(key);
    let org = state
        .plane
        .store()
        .organization_of_key(&key_hash)
        .await
        .map_err(|e| ApiError::from(crate::service::ServiceError::Store(e)))?
        .ok_or_else(|| ApiError::unauthorized("invalid or revoked API key"))?;
    if !state.limiter.allow(&key_hash) {
        return Err(ApiError::rate_limited());
    }
    request.extensions_mut().insert(org);
    Ok(next.run(request).await)
}
