//! The one v3 route a v2 client needs (SPEC §1, "Uploading a local file the v3 way"):
//! `POST /api/v3/catalog/products/{product_id}/images`, multipart with the file in part
//! `image_file`. It is the v2 create (`handlers::create`) answered in v3's shapes: 200
//! `{"data": …, "meta": {}}` on success, and every refusal as a v3 error object, by
//! [`v3_errors`] around the route, so that the guard's, the extractors' and the handler's
//! refusals are all translated in one place.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http_body_util::BodyExt as _;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorInfo};
use super::faults::Injected;
use super::handlers::{self, BaseUrl, CreateVia, Created};
use super::openapi::ImageUpload;
use super::path_ids::ExistingProduct;
use super::state::AppState;
use crate::api::types::Image;

/// An image as the v3 catalog API sends it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct V3Image {
    pub id: i64,
    pub product_id: i64,
    pub image_file: String,
    pub is_thumbnail: bool,
    pub sort_order: i64,
    pub description: String,
    pub url_zoom: String,
    pub url_standard: String,
    pub url_thumbnail: String,
    pub url_tiny: String,
    /// ISO 8601 (`2012-12-21T18:54:04+00:00`), as v3 writes dates.
    pub date_modified: String,
}

impl From<Image> for V3Image {
    fn from(image: Image) -> Self {
        let date_modified = image
            .date_modified
            .as_deref()
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
            .unwrap_or_default();
        V3Image {
            id: image.id,
            product_id: image.product_id,
            image_file: image.image_file,
            is_thumbnail: image.is_thumbnail,
            sort_order: image.sort_order,
            description: image.description,
            url_zoom: image.zoom_url.unwrap_or_default(),
            url_standard: image.standard_url.unwrap_or_default(),
            url_thumbnail: image.thumbnail_url.unwrap_or_default(),
            url_tiny: image.tiny_url.unwrap_or_default(),
            date_modified,
        }
    }
}

/// v3's envelope of one record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct V3ImageAnswer {
    pub data: V3Image,
    pub meta: V3Meta,
}

/// Always `{}` here (v3 puts paging in it).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct V3Meta {}

/// A v3 error object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct V3Error {
    pub status: u16,
    pub title: String,
    /// Always `about:blank`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The refused field (or `request`) and why.
    pub errors: BTreeMap<String, String>,
}

/// Upload a local file as a new image of the product (BigCommerce v3 catalog API).
#[utoipa::path(post, path = "/catalog/products/{product_id}/images", tag = "v3",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 200, pattern = "^[ -~]*$", description = "As on the v2 POST")),
    request_body(content = ImageUpload, content_type = "multipart/form-data",
        description = "The file in part `image_file`; optional parts `description`, `is_thumbnail` (true/false), `sort_order` (decimal)"),
    responses((status = 200, body = V3ImageAnswer),
              (status = 401, body = V3Error), (status = 404, body = V3Error),
              (status = 406, body = V3Error),
              (status = 409, body = V3Error), (status = 413, body = V3Error),
              (status = 415, body = V3Error), (status = 422, body = V3Error),
              (status = 429, body = V3Error)))]
pub async fn upload_image(
    State(state): State<Arc<AppState>>,
    ExistingProduct(product_id): ExistingProduct,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (image, replayed) =
        match handlers::create(&state, product_id, &base, &headers, body, CreateVia::V3).await? {
            Created::New(row) => (row.to_wire(&base.0), false),
            Created::Replayed { body, .. } => {
                let image = Created::replayed_image(&body).ok_or_else(|| {
                    ApiError::internal("replaying a create", "the stored answer is unreadable")
                })?;
                (image, true)
            }
        };
    let mut response = Json(V3ImageAnswer {
        data: image.into(),
        meta: V3Meta {},
    })
    .into_response();
    if replayed {
        handlers::mark_replayed(&mut response);
    }
    Ok(response)
}

/// The v3 404 for paths under `/api/v3` that name nothing.
pub async fn not_found() -> Response {
    ApiError::route_not_found().into_response()
}

/// Renders every error answer of the v3 routes as a v3 error object. A refused field or image
/// (v2's 400) is v3's 422; other statuses stay. Headers (`WWW-Authenticate`, the rate-limit
/// headers, `X-Retry-After`) are kept.
pub async fn v3_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Injected>().is_some()
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let info = match parts.extensions.get::<ErrorInfo>() {
        Some(info) => info.clone(),
        // Not an `ApiError` (an axum rejection): its text is the reason.
        None => {
            let text = match body.collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            ErrorInfo {
                message: status.canonical_reason().unwrap_or("Error").to_owned(),
                field: None,
                invalid_reason: (!text.is_empty()).then_some(text),
            }
        }
    };
    let status = if status == StatusCode::BAD_REQUEST {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        status
    };
    let errors = info
        .invalid_reason
        .map(|reason| (info.field.unwrap_or_else(|| "request".to_owned()), reason))
        .into_iter()
        .collect();
    let error = V3Error {
        status: status.as_u16(),
        title: info.message,
        kind: "about:blank".to_owned(),
        errors,
    };
    let mut rebuilt = (status, Json(error)).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}
