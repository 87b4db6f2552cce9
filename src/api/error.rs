use std::time::Duration;

use super::types::ErrorEntry;

/// Everything that can go wrong talking to the store, in one type. A refusal keeps the store's
/// status, message and `invalid_reason`, so that the UI can show the store's own words.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the store refused the request (HTTP {status}): {message}{}", reason_suffix(.invalid_reason))]
    Status {
        status: u16,
        message: String,
        invalid_reason: Option<String>,
        /// For 429: how long the store asked us to wait.
        retry_after: Option<Duration>,
    },
    #[error("could not reach the store: {0}")]
    Network(String),
    #[error("the store's answer could not be read: {0}")]
    Decode(String),
    #[error("invalid store URL '{0}': it must be an http or https URL")]
    InvalidUrl(String),
    #[error("could not read {path}: {message}")]
    File { path: String, message: String },
    #[error("after reordering, the store's order is {actual:?}, not the requested {expected:?}")]
    OrderMismatch {
        expected: Vec<i64>,
        actual: Vec<i64>,
    },
    /// The store takes pictures only as URLs: neither multipart on v2 nor the v3 endpoint.
    #[error("this store does not take uploaded files (only picture URLs); add the picture by URL")]
    UploadsUnsupported,
    #[error(transparent)]
    Plan(#[from] super::reorder::PlanError),
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

impl ApiError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: the store was unreachable, failed (5xx), or asked
    /// us to slow down (429). Other refusals will fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Network(_) => true,
            ApiError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Builds the error for a refused response from its status, headers and body: the v2 error
    /// array, else a v3 object (`{"status", "title"}`), else the text itself.
    pub(crate) fn from_response(
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> ApiError {
        let (message, invalid_reason) = parse_error_body(body).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(300)
                .collect::<String>();
            (
                if text.is_empty() {
                    format!("HTTP {status}")
                } else {
                    text
                },
                None,
            )
        });
        ApiError::Status {
            status,
            message,
            invalid_reason,
            retry_after,
        }
    }
}

fn parse_error_body(body: &[u8]) -> Option<(String, Option<String>)> {
    if let Ok(entries) = serde_json::from_slice::<Vec<ErrorEntry>>(body) {
        let first = entries.into_iter().next()?;
        return Some((first.message, first.details.and_then(|d| d.invalid_reason)));
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let title = value.get("title").and_then(|t| t.as_str())?;
    let detail = value
        .get("detail")
        .and_then(|d| d.as_str())
        .map(str::to_owned)
        .or_else(|| value.get("errors").map(|e| e.to_string()));
    Some((title.to_owned(), detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v2_array_v3_object_and_text() {
        let v2 = br#"[{"status":400,"message":"The field 'x' is invalid.","details":{"invalid_reason":"bad"}}]"#;
        match ApiError::from_response(400, None, v2) {
            ApiError::Status {
                message,
                invalid_reason,
                ..
            } => {
                assert_eq!(message, "The field 'x' is invalid.");
                assert_eq!(invalid_reason.as_deref(), Some("bad"));
            }
            other => panic!("{other:?}"),
        }
        let v3 = br#"{"status":422,"title":"Unprocessable","errors":{"a":"b"}}"#;
        match ApiError::from_response(422, None, v3) {
            ApiError::Status {
                message,
                invalid_reason,
                ..
            } => {
                assert_eq!(message, "Unprocessable");
                assert!(invalid_reason.unwrap().contains("\"a\""));
            }
            other => panic!("{other:?}"),
        }
        assert!(
            ApiError::from_response(502, None, b"Bad gateway")
                .to_string()
                .contains("Bad gateway")
        );
        assert!(ApiError::from_response(502, None, b"").is_transient());
    }
}
