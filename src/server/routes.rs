//! The router: which handler answers which path, and the layers around them.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use tower::Layer as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::db::Db;
use super::error::ApiError;
use super::fetch::Fetcher;
use super::files::FileStore;
use super::handlers::*;
use super::list_cache::ListCache;
use super::metrics::{self, Metrics};
use super::rate_limit::RateLimiter;
use super::{Config, auth, openapi, repo};

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub files: FileStore,
    pub fetcher: Fetcher,
    pub rate_limiter: Option<RateLimiter>,
    pub metrics: Arc<Metrics>,
    /// Bounds how many uploads decode at once, so that memory stays proportional to the cores.
    pub imaging_permits: tokio::sync::Semaphore,
    /// Rendered image lists, emptied by every write.
    pub lists: Arc<ListCache>,
}

impl AppState {
    pub async fn open(config: &Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "could not create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let db = Db::open(&config.data_dir.join("imagedesk.sqlite3")).await?;
        let files = FileStore::open(&config.data_dir).with_context(|| {
            format!(
                "could not create the image folders in {}",
                config.data_dir.display()
            )
        })?;
        let known: HashSet<String> = repo::all_image_files(&mut *db.reader.acquire().await?)
            .await?
            .into_iter()
            .collect();
        let cleanup_files = files.clone();
        let removed = tokio::task::spawn_blocking(move || cleanup_files.remove_orphans(&known))
            .await?
            .context("could not clean up unreferenced image files")?;
        if removed > 0 {
            tracing::info!("removed {removed} image files left by interrupted writes");
        }
        let cutoff = chrono::Utc::now().timestamp() - 24 * 3600;
        repo::forget_idempotent_before(&mut *db.writer.acquire().await?, cutoff).await?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(AppState {
            config: config.clone(),
            db,
            files,
            fetcher: Fetcher::new(config.allow_private_urls)?,
            rate_limiter: config.rate_limit.map(RateLimiter::new),
            metrics: Arc::new(Metrics::new()),
            imaging_permits: tokio::sync::Semaphore::new(cores),
            lists: Arc::new(ListCache::default()),
        })
    }
}

/// Every `/api/v2` route, registered together with its OpenAPI description so that the two
/// cannot drift apart.
pub(super) fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(list_products, create_product))
        .routes(routes!(count_products))
        .routes(routes!(get_product))
        .routes(routes!(count_store_images))
        .routes(routes!(list_images, create_image, delete_images))
        .routes(routes!(count_product_images))
        .routes(routes!(get_image, update_image, delete_image))
}

pub fn router(state: Arc<AppState>) -> Router {
    let (api, doc) = api_routes().split_for_parts();
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
        ));
    let metrics_state = state.metrics.clone();
    Router::new()
        .nest("/api/v2", api)
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
