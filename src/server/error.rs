//! The v2 error shape: every refusal is a JSON array with one object.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error that becomes one v2 error response. Built by the handlers, never logged by them:
/// the response is how it is handled (internal errors are logged once, in `internal`).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub invalid_reason: Option<String>,
    /// The field of the request that was refused, when one was (v3 errors name it).
    pub field: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// What an [`ApiError`] said, kept in its response's extensions so that the v3 routes can
/// render the same refusal in the v3 shape without parsing the v2 body back.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub message: String,
    pub field: Option<String>,
    pub invalid_reason: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            invalid_reason: None,
            field: None,
            headers: Vec::new(),
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.invalid_reason = Some(reason.into());
        self
    }

    /// Names the refused field of the request.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 400 for one field of a write.
    pub fn invalid_field(field: &str, reason: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("The field '{field}' is invalid."),
        )
        .with_reason(reason)
        .with_field(field)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn product_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The requested product was not found.",
        )
    }

    pub fn image_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "The requested image was not found.")
    }

    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "The requested resource was not found.",
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "No valid credentials were sent. Use HTTP Basic (username:token) or the X-Auth-Token header.",
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"imagedesk\""),
        )
    }

    pub fn not_acceptable() -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "This API only answers with application/json; the Accept header excludes it.",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the limit of {limit} bytes."),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be application/json (or multipart/form-data to upload a file).",
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "This method is not allowed on this resource.",
        )
    }

    /// A failure of the server itself (database, disk). Logged here, once, with its cause;
    /// the client only learns that it was not its fault.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server failed to complete the request; nothing was changed.",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if is_text_refused(&err) {
            // Input, not a failure of the server: the transaction is rolled back by its drop.
            return ApiError::bad_request("A text field is invalid.")
                .with_reason("text must not contain the NUL character (U+0000)");
        }
        ApiError::internal("database error", err)
    }
}

/// PostgreSQL's refusal of text it cannot store (a NUL character, which SQLite stores):
/// SQLSTATE 22021 `character_not_in_repertoire` or 22P05 `untranslatable_character`.
fn is_text_refused(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db)
        if matches!(db.code().as_deref(), Some("22021" | "22P05")))
}

impl From<super::repo::WriteError> for ApiError {
    fn from(err: super::repo::WriteError) -> Self {
        match err {
            super::repo::WriteError::Database(err) => err.into(),
            full @ super::repo::WriteError::SortOrderFull { .. } => {
                ApiError::invalid_field("sort_order", full.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "status": self.status.as_u16(),
            "message": self.message,
        });
        if let Some(reason) = &self.invalid_reason {
            body["details"] = json!({ "invalid_reason": reason });
        }
        let mut response = (self.status, axum::Json(json!([body]))).into_response();
        response.extensions_mut().insert(ErrorInfo {
            message: self.message,
            field: self.field,
            invalid_reason: self.invalid_reason,
        });
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
