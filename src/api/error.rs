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
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .or_else(|| value.get("errors").and_then(v3_errors));
    Some((title.to_owned(), detail))
}

/// The `errors` of a v3 object in words: `{"image_file": "is not an image"}` becomes
/// `image_file: is not an image` (several joined by `; `), a list its items, text itself.
fn v3_errors(errors: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let parts: Vec<String> = match errors {
        Value::Object(map) => map
            .iter()
            .map(|(field, message)| format!("{field}: {}", text(message)))
            .collect(),
        Value::Array(items) => items.iter().map(text).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    };
    (!parts.is_empty()).then(|| parts.join("; "))
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
        let v3 = br#"{"status":422,"title":"The image could not be stored.","type":"about:blank",
            "errors":{"image_file":"is not an image","sort_order":"must be a number"}}"#;
        let refused = ApiError::from_response(422, None, v3);
        match &refused {
            ApiError::Status {
                message,
                invalid_reason,
                ..
            } => {
                assert_eq!(message, "The image could not be stored.");
                assert_eq!(
                    invalid_reason.as_deref(),
                    Some("image_file: is not an image; sort_order: must be a number")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(refused.to_string().contains("(image_file: is not an image"));
        let listed = br#"{"status":404,"title":"Not found","errors":["no such product"]}"#;
        assert!(
            ApiError::from_response(404, None, listed)
                .to_string()
                .contains("Not found (no such product)")
        );
        assert!(
            ApiError::from_response(502, None, b"Bad gateway")
                .to_string()
                .contains("Bad gateway")
        );
        assert!(ApiError::from_response(502, None, b"").is_transient());
    }
}
