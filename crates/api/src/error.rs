//! The error body every non-2xx response carries (a superset of Daytona's NestJS and daemon
//! formats, so every SDK version finds its `message`, `code` and `source`; G8).

use serde::{Deserialize, Serialize};

/// `{"statusCode":404,"error":"Not Found","message":"...","code":"NOT_FOUND","source":"DAYTONA_API","timestamp":"..."}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status, repeated.
    pub status_code: u16,
    /// The status's reason phrase ("Not Found").
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
    /// A machine-readable code (`NOT_FOUND`, `CONFLICT`, ...).
    pub code: String,
    /// Which component answered: `DAYTONA_API` for the control plane, `DAYTONA_DAEMON` for the toolbox.
    pub source: String,
    /// When, as an ISO datetime.
    pub timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_key_is_sent_for_both_sources() {
        for source in ["DAYTONA_API", "DAYTONA_DAEMON"] {
            let body = json!({
                "statusCode": 408,
                "error": "Request Timeout",
                "message": "process timed out after 1 s and was killed with its process group",
                "code": "PROCESS_EXECUTION_TIMEOUT",
                "source": source,
                "timestamp": "2026-12-07T10:00:00.123456789Z",
            });
            let parsed: ErrorBody = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(parsed.status_code, 408);
            assert_eq!(serde_json::to_value(&parsed).unwrap(), body);
        }
    }
}
