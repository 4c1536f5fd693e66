//! Request extractors that answer malformed input with our 400 body instead of axum's plain text.

use super::error::ApiError;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON body; a missing, malformed or mistyped body is a 400 that says what was wrong.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read request body: {e}")))?;
        let bytes =
            if bytes.iter().all(u8::is_ascii_whitespace) { axum::body::Bytes::from_static(b"{}") } else { bytes };
        serde_json::from_slice(&bytes)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    }
}

/// Query pairs in order, repeated keys kept (`states=a&states=b`, G21).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// How many rows come before page `page` (from 1) of `limit` rows. A page past the end is
/// empty, never an overflow (`page=9223372036854775807` is a valid integer).
pub fn page_offset(page: i64, limit: i64) -> usize {
    usize::try_from(page.saturating_sub(1).saturating_mul(limit)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::page_offset;

    #[test]
    fn page_offsets_saturate() {
        assert_eq!(page_offset(1, 100), 0);
        assert_eq!(page_offset(3, 20), 40);
        assert_eq!(page_offset(i64::MAX, 200), usize::try_from(i64::MAX).unwrap());
    }
}
