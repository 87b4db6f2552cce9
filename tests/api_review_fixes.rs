//! The client's fixes from review: store-given waits are bounded, picture fetches from the
//! store's own origin spend the shared request budget, a stray 404 does not disable uploads for
//! good, unreadable records are reported with types rather than sentinel strings. Small stub
//! stores on loopback; every test is bounded by a time-out.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use common::stub::{serve_on_loopback, stub_client};
use imagedesk::api::{
    ApiError, Client, FieldValue, ImageWrite, RetryPolicy, UploadRoute, UploadSource,
};
use serde_json::json;

const TOKEN: &str = "review-token";

/// Every test finishes well within this, or fails.
const LIMIT: Duration = Duration::from_secs(60);

fn client(api_url: &str, adjust: impl FnOnce(&mut RetryPolicy)) -> Client {
    stub_client(api_url, TOKEN, 1, adjust)
}

/// Serves `app` on a loopback port; returns its origin (`http://127.0.0.1:port`).
async fn serve(app: axum::Router) -> String {
    serve_on_loopback(app).await
}

// -- 1. store-given waits -------------------------------------------------------------------

/// A 429 asking for `1e20` seconds: finite, so it passed the old check, and it panicked
/// `Duration::from_secs_f64`. Now the wait is bounded, longer than the policy allows, so the
/// client gives up at once and says so.
#[tokio::test]
async fn a_huge_retry_header_neither_panics_nor_stalls() {
    tokio::time::timeout(LIMIT, async {
        for (name, value) in [
            ("x-retry-after", "1e20"),
            ("retry-after", "1e300"),
            ("x-rate-limit-time-reset-ms", "18446744073709551615"),
        ] {
            let app = axum::Router::new().route(
                "/api/v2/products/count.json",
                get(move || async move {
                    let mut headers = HeaderMap::new();
                    headers.insert(name, value.parse().unwrap());
                    (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
                }),
            );
            let origin = serve(app).await;
            let client = client(&format!("{origin}/api/v2"), |_| {});
            let started = Instant::now();
            let err = client.count_products().await.unwrap_err();
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name}: it waited {:?}",
                started.elapsed()
            );
            match err {
                ApiError::Status {
                    status: 429,
                    retry_after: Some(wait),
                    ..
                } => assert!(wait <= Duration::from_secs(300), "{name}: {wait:?}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    })
    .await
    .unwrap();
}

/// A quota answer whose reset is absurd: the next request is held at most the policy's
/// longest wait, not for ever, and nothing panics.
#[tokio::test]
async fn an_absurd_quota_reset_holds_the_next_request_only_briefly() {
    tokio::time::timeout(LIMIT, async {
        let app = axum::Router::new().route(
            "/api/v2/products/count.json",
            get(|| async {
                let mut headers = HeaderMap::new();
                headers.insert("x-rate-limit-requests-quota", 10.into());
                headers.insert("x-rate-limit-requests-left", 0.into());
                headers.insert("x-rate-limit-time-reset-ms", u64::MAX.into());
                (headers, axum::Json(json!({"count": 3}))).into_response()
            }),
        );
        let origin = serve(app).await;
        let client = client(&format!("{origin}/api/v2"), |r| {
            r.max_rate_limit_wait = Duration::from_millis(300);
        });
        assert_eq!(client.count_products().await.unwrap(), 3);
        let started = Instant::now();
        assert_eq!(client.count_products().await.unwrap(), 3);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    })
    .await
    .unwrap();
}

// -- 2. picture fetches and the shared budget ---------------------------------------------

/// A store that serves the API and, under `/pictures/`, its own pictures. Every picture answer
/// says the quota is spent (reset in 1.5 s); the first picture answer is a 429 with a short
/// wait when `refuse_first` is set. It notes whether a picture request carried credentials.
#[derive(Clone, Default)]
struct PictureStore {
    picture_calls: Arc<AtomicUsize>,
    refuse_first: bool,
    credentials_seen: Arc<AtomicUsize>,
}

fn picture_app(store: PictureStore) -> axum::Router {
    async fn picture(State(store): State<PictureStore>, headers: HeaderMap) -> Response {
        if headers.contains_key("x-auth-token") || headers.contains_key("authorization") {
            store.credentials_seen.fetch_add(1, Ordering::SeqCst);
        }
        let call = store.picture_calls.fetch_add(1, Ordering::SeqCst);
        if store.refuse_first && call == 0 {
            let mut headers = HeaderMap::new();
            headers.insert("x-retry-after", "0.4".parse().unwrap());
            return (StatusCode::TOO_MANY_REQUESTS, headers).into_response();
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-requests-quota", 10.into());
        headers.insert("x-rate-limit-requests-left", 0.into());
        headers.insert("x-rate-limit-time-reset-ms", 1500.into());
        (headers, &b"jpeg bytes"[..]).into_response()
    }
    axum::Router::new()
        .route("/pictures/a.jpg", get(picture))
        .route(
            "/api/v2/products/count.json",
            get(|| async { axum::Json(json!({"count": 4})) }),
        )
        .with_state(store)
}

/// The store's own pictures spend its quota: a picture answer saying the quota is spent holds
/// the next API request until the window resets. The picture request carries no credentials.
#[tokio::test]
async fn a_picture_from_the_stores_own_origin_spends_the_shared_budget() {
    tokio::time::timeout(LIMIT, async {
        let store = PictureStore::default();
        let origin = serve(picture_app(store.clone())).await;
        let client = client(&format!("{origin}/api/v2"), |_| {});
        let bytes = client
            .fetch_asset(&format!("{origin}/pictures/a.jpg"), 1024)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"jpeg bytes");
        let started = Instant::now();
        assert_eq!(client.clone().count_products().await.unwrap(), 4);
        assert!(
            started.elapsed() >= Duration::from_millis(1200),
            "the API request went {:?} after a picture answer said the quota was spent",
            started.elapsed()
        );
        assert_eq!(store.credentials_seen.load(Ordering::SeqCst), 0);
    })
    .await
    .unwrap();
}

/// A 429 on the store's own picture is waited out and the picture fetched, as for any request.
#[tokio::test]
async fn a_429_on_the_stores_own_picture_is_waited_out() {
    tokio::time::timeout(LIMIT, async {
        let store = PictureStore {
            refuse_first: true,
            ..PictureStore::default()
        };
        let origin = serve(picture_app(store.clone())).await;
        let client = client(&format!("{origin}/api/v2"), |_| {});
        let started = Instant::now();
        let bytes = client
            .fetch_asset(&format!("{origin}/pictures/a.jpg"), 1024)
            .await
            .unwrap();
        assert_eq!(&bytes[..], b"jpeg bytes");
        assert!(started.elapsed() >= Duration::from_millis(350));
        assert_eq!(store.picture_calls.load(Ordering::SeqCst), 2);
    })
    .await
    .unwrap();
}

/// A CDN (another origin) spends none of the store's quota: its headers do not hold the API.
#[tokio::test]
async fn a_picture_on_a_cdn_is_not_paced() {
    tokio::time::timeout(LIMIT, async {
        let cdn = PictureStore::default();
        let cdn_origin = serve(picture_app(cdn.clone())).await;
        let api_origin = serve(picture_app(PictureStore::default())).await;
        let client = client(&format!("{api_origin}/api/v2"), |_| {});
        client
            .fetch_asset(&format!("{cdn_origin}/pictures/a.jpg"), 1024)
            .await
            .unwrap();
        let started = Instant::now();
        assert_eq!(client.count_products().await.unwrap(), 4);
        assert!(started.elapsed() < Duration::from_millis(1000));
        assert_eq!(cdn.credentials_seen.load(Ordering::SeqCst), 0);
    })
    .await
    .unwrap();
}

// -- 3. a stray 404 and uploads ---------------------------------------------------------------

/// A real store's uploads behind a proxy that once answers the v3 endpoint with its own HTML
/// 404 page: v2 refuses multipart (415); v3's first answer is the proxy's page, later ones the
/// store's.
fn flaky_proxy_uploads(v3_calls: Arc<AtomicUsize>) -> axum::Router {
    async fn v2() -> Response {
        let refusal =
            json!([{"status": 415, "message": "The request's content type is not supported."}]);
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, axum::Json(refusal)).into_response()
    }
    async fn v3(State(calls): State<Arc<AtomicUsize>>) -> Response {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let page = "<html><body><h1>404 Not Found</h1>nginx</body></html>";
            return (StatusCode::NOT_FOUND, axum::response::Html(page)).into_response();
        }
        axum::Json(json!({"data": {
            "id": 42, "product_id": 7, "image_file": "p/123/photo__00042.jpg",
            "is_thumbnail": false, "sort_order": 3, "description": "front",
            "date_modified": "2026-11-30T06:00:00+00:00"}, "meta": {}}))
        .into_response()
    }
    axum::Router::new()
        .route("/api/v2/products/{product}/images.json", any(v2))
        .route("/api/v3/catalog/products/{product}/images", any(v3))
        .with_state(v3_calls)
}

/// One stray 404 makes uploads "unsupported" only for a while: within the time the client
/// believes it (no request is spent asking again), after it an upload asks the store again.
#[tokio::test]
async fn a_stray_404_does_not_disable_uploads_for_good() {
    tokio::time::timeout(LIMIT, async {
        let v3_calls = Arc::new(AtomicUsize::new(0));
        let origin = serve(flaky_proxy_uploads(v3_calls.clone())).await;
        let ttl = Duration::from_millis(400);
        let client = client(&format!("{origin}/api/v2"), |r| {
            r.unsupported_route_ttl = ttl;
        });
        let source = UploadSource::Bytes {
            file_name: "front.jpg".into(),
            bytes: vec![0xff, 0xd8, 0xff, 0xd9].into(),
        };
        let fields = ImageWrite::default();
        let upload = || client.upload(7, &source, &fields, None, None);
        let err = upload().await.unwrap_err();
        assert!(matches!(err, ApiError::UploadsUnsupported), "{err:?}");
        assert_eq!(v3_calls.load(Ordering::SeqCst), 1);
        // Believed for a while: no request spent.
        let err = upload().await.unwrap_err();
        assert!(matches!(err, ApiError::UploadsUnsupported), "{err:?}");
        assert_eq!(v3_calls.load(Ordering::SeqCst), 1);
        // Then asked again.
        tokio::time::sleep(ttl + Duration::from_millis(100)).await;
        let created = upload().await.unwrap();
        assert_eq!(created.image.id, 42);
        assert_eq!(v3_calls.load(Ordering::SeqCst), 2);
        assert_eq!(client.upload_route(7).await.unwrap(), UploadRoute::V3);
    })
    .await
    .unwrap();
}

// -- 4. unreadable records, typed --------------------------------------------------------------

/// A list holding a record with a field missing and an entry that is not a record at all: the
/// report says which field (or that the whole record) could not be read, with typed values
/// rather than the old `"missing"` and `"."` strings.
#[tokio::test]
async fn unreadable_records_say_field_and_value_with_types() {
    tokio::time::timeout(LIMIT, async {
        let app = axum::Router::new().route(
            "/api/v2/products/{product}/images.json",
            get(|| async {
                axum::Json(json!([
                    {"id": 1, "product_id": 7, "is_thumbnail": false, "sort_order": 0,
                     "description": null, "date_created": null},
                    "not a record",
                ]))
            }),
        );
        let origin = serve(app).await;
        let client = client(&format!("{origin}/api/v2"), |_| {});
        let listing = client.read_images(7).await.unwrap();
        assert!(listing.records.is_empty());
        let [no_file, not_a_record] = &listing.unreadable[..] else {
            panic!("{:?}", listing.unreadable);
        };
        assert_eq!(no_file.field.as_deref(), Some("image_file"));
        assert_eq!(no_file.value, FieldValue::Missing);
        assert!(
            no_file
                .to_string()
                .starts_with("image 1 of product 7: field 'image_file' is missing ("),
            "{no_file}"
        );
        assert_eq!(not_a_record.field, None);
        assert_eq!(
            not_a_record.value,
            FieldValue::Json("\"not a record\"".into())
        );
        assert_eq!(not_a_record.value.to_string(), "\"not a record\"");
        let message = not_a_record.to_string();
        assert!(
            message.starts_with("an image of product 7: the record \"not a record\" is unreadable"),
            "{message}"
        );
    })
    .await
    .unwrap();
}
