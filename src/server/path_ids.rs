//! Extractors for the ids in `/api/v2` paths. An id is a positive decimal integer; anything else
//! names no resource, so it is answered like a missing one (the v2 "not found" of its kind), and
//! no handler parses an id by hand.
//!
//! SPEC answers "product not found" before it judges the image: a handler of
//! `/products/{product_id}/images/{image_id}` takes [`ExistingProduct`] before [`ImageId`]
//! (axum runs extractors in the order of the arguments).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse as _, Response};

use super::error::ApiError;
use super::repo;
use super::state::AppState;

/// `{product_id}`, a valid id of a product that may not exist (for handlers that look it up
/// themselves, or answer from a cache first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductId(pub i64);

/// `{product_id}`, naming a product that exists (checked with one read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExistingProduct(pub i64);

/// `{image_id}`, a valid id of an image that may not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for ProductId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        path_id(parts, state, "product_id", ApiError::product_not_found)
            .await
            .map(ProductId)
    }
}

impl FromRequestParts<Arc<AppState>> for ExistingProduct {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ProductId(id) = ProductId::from_request_parts(parts, state).await?;
        match product_exists(state, id).await {
            Ok(true) => Ok(ExistingProduct(id)),
            Ok(false) => Err(ApiError::product_not_found().into_response()),
            Err(err) => Err(err.into_response()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ImageId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        path_id(parts, state, "image_id", ApiError::image_not_found)
            .await
            .map(ImageId)
    }
}

async fn product_exists(state: &AppState, id: i64) -> Result<bool, ApiError> {
    let mut conn = state.records.read().await?;
    Ok(repo::product_exists(&mut conn, id).await?)
}

/// The id in the path segment `name`. A path axum cannot decode (not UTF-8) keeps axum's own
/// rejection, which `json_errors` turns into the v2 400, as it did before ids had extractors.
async fn path_id<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    name: &str,
    not_found: fn() -> ApiError,
) -> Result<i64, Response> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|rejection| rejection.into_response())?;
    params
        .get(name)
        .and_then(|raw| parse_id(raw))
        .ok_or_else(|| not_found().into_response())
}

/// Ids are positive decimal integers; anything else names no resource.
fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_decimal_integers() {
        assert_eq!(parse_id("7"), Some(7));
        assert_eq!(parse_id("+7"), Some(7));
        assert_eq!(parse_id("0"), None);
        assert_eq!(parse_id("-3"), None);
        assert_eq!(parse_id("abc"), None);
        assert_eq!(parse_id("9223372036854775808"), None);
        assert_eq!(parse_id(""), None);
    }
}
