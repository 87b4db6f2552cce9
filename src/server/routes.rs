//! The router: which handler answers which path, and the layers around them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use tower::Layer as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use super::handlers::*;
use super::metrics;
use super::state::AppState;
use super::{auth, faults, idempotency, openapi, v3};

/// Every `/api/v2` route, registered together with its OpenAPI description so that the two
/// cannot drift apart.
fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(list_products, create_product))
        .routes(routes!(count_products))
        .routes(routes!(get_product))
        .routes(routes!(count_store_images))
        .routes(routes!(list_images, create_image, delete_images))
        .routes(routes!(count_product_images))
        .routes(routes!(get_image, update_image, delete_image))
}

/// The `/api/v3` route, described like the v2 ones.
fn v3_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new().routes(routes!(v3::upload_image))
}

/// The v2 and v3 routers and the one document that describes both: the v3 paths carry their
/// own `servers` entry (`/api/v3`), since the document's server is `/api/v2`.
fn documented_routes() -> (
    Router<Arc<AppState>>,
    Router<Arc<AppState>>,
    utoipa::openapi::OpenApi,
) {
    let (v2, mut doc) = api_routes().split_for_parts();
    let (v3, mut v3_doc) = v3_routes().split_for_parts();
    for item in v3_doc.paths.paths.values_mut() {
        item.servers = Some(vec![utoipa::openapi::Server::new("/api/v3")]);
    }
    openapi::add_guard_answers(&mut doc, openapi::ErrorShape::V2);
    openapi::add_guard_answers(&mut v3_doc, openapi::ErrorShape::V3);
    doc.merge(v3_doc);
    (v2, v3, doc)
}

/// The full OpenAPI document, as served (for tools that want it without a running server).
pub fn openapi_json() -> String {
    let (_, _, doc) = documented_routes();
    openapi::render(&doc)
}

pub fn router(state: Arc<AppState>) -> Router {
    let (api, v3_api, doc) = documented_routes();
    let doc_json = Arc::new(openapi::render(&doc));
    let api = api
        .route(
            "/openapi",
            get(move || {
                let doc = doc_json.clone();
                async move {
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        doc.as_str().to_owned(),
                    )
                }
            }),
        )
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            forget_lists_after_writes,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::api_guard,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::echo_key,
        ))
        .layer(middleware::from_fn_with_state(
            state.faults.clone(),
            faults::inject,
        ));
    // The same guard and layers as v2, and the v3 error shape around all of them.
    let v3_api = v3_api
        .fallback(v3::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            forget_lists_after_writes,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::api_guard,
        ))
        .layer(middleware::from_fn(v3::v3_errors))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::echo_key,
        ))
        .layer(middleware::from_fn_with_state(
            state.faults.clone(),
            faults::inject,
        ));
    let metrics_state = state.metrics.clone();
    Router::new()
        .nest("/api/v2", api)
        .nest("/api/v3", v3_api)
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_text))
        .route("/product_images/{*path}", get(serve_image_file))
        .fallback(|| async { ApiError::route_not_found().into_response() })
        .with_state(state)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(
            metrics_state,
            metrics::track,
        ))
}

/// Empties the image-list cache once any request that may write is over (answered, failed or
/// cut off), before its response leaves.
async fn forget_lists_after_writes(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let _forget = state.lists.invalidate_on_drop();
    next.run(request).await
}

/// Wraps the router so that `.json` at the end of an `/api/v2` path is optional: the suffix is
/// removed before routing, so `/products/7/images.json` and `/products/7/images` are one route.
pub fn with_json_suffix_stripped(
    router: Router,
) -> tower::util::MapRequest<Router, fn(Request) -> Request> {
    tower::util::MapRequestLayer::new(strip_json_suffix as fn(Request) -> Request).layer(router)
}

fn strip_json_suffix(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    if let Some(stripped) = path.strip_suffix(".json")
        && path.starts_with("/api/v2/")
    {
        let rebuilt = match uri.query() {
            Some(q) => format!("{stripped}?{q}"),
            None => stripped.to_owned(),
        };
        if let Ok(new_uri) = rebuilt.parse::<Uri>() {
            *request.uri_mut() = new_uri;
        }
    }
    request
}
