//! The client against stores that behave like a real BigCommerce store (SPEC §2): small stub
//! servers on loopback that answer exactly what a real store answers (nulls, 204s, a broken
//! record, multipart refused on v2, 429s without a wait, answers cut off), and imagedesk's own
//! server with a rate limit. Every test is bounded by a time-out.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use imagedesk::api::{
    ApiError, Client, ImageWrite, RecordKind, RetryPolicy, UploadRoute, UploadSource,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use common::stub::{serve_on_loopback, stub_client};
use common::{TOKEN, small_jpeg, start_with};

/// Every test finishes well within this, or fails.
const LIMIT: Duration = Duration::from_secs(90);

fn client(api_url: &str, adjust: impl FnOnce(&mut RetryPolicy)) -> Client {
    stub_client(api_url, TOKEN, 2, adjust)
}

/// Serves `app` on a loopback port; returns its `…/api/v2` root.
async fn serve(app: axum::Router) -> String {
    format!("{}/api/v2", serve_on_loopback(app).await)
}

/// What a stub store saw: one line per request (`METHOD path`, plus ` key=…` when it carried an
/// `Idempotency-Key`, plus ` file` when a multipart body held an `image_file` part).
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn record(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) {
        let mut line = format!("{method} {}", uri.path());
        if let Some(key) = headers.get("idempotency-key") {
            line.push_str(&format!(" key={}", key.to_str().unwrap()));
        }
        if contains(body, b"name=\"image_file\"") {
            line.push_str(" file");
        }
        self.0.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn image(id: i64, product_id: i64, sort_order: Value) -> Value {
    // What a real v2 store sends: no `*_url` fields, no `date_modified`, a null description,
    // and fields imagedesk does not know.
    json!({
        "id": id,
        "product_id": product_id,
        "image_file": format!("f/{:03}/photo__{id:05}.jpg", id % 1000),
        "is_thumbnail": id == 1,
        "sort_order": sort_order,
        "description": null,
        "date_created": "Mon, 30 Nov 2026 06:00:00 +0000",
        "image_url": "https://cdn.example/whatever.jpg",
    })
}

#[tokio::test]
async fn a_real_store_list_is_read_leniently_and_paged_by_the_records_sent() {
    tokio::time::timeout(LIMIT, async {
        // Product 7 has 253 images listed in id order: a full first page of 250 (one of them
        // broken) and a second page of 3; page 3 is past the end: 204. Product 8 has none.
        #[derive(serde::Deserialize)]
        struct Paging {
            page: Option<u32>,
            limit: Option<u32>,
        }
        async fn images(Path(product): Path<String>, Query(q): Query<Paging>) -> Response {
            let product: i64 = product.trim_end_matches(".json").parse().unwrap();
            let (page, limit) = (q.page.unwrap_or(1) as i64, q.limit.unwrap_or(50) as i64);
            let all: Vec<Value> = (1..=253)
                .map(|id| {
                    let sort = if id == 100 {
                        json!("first")
                    } else {
                        json!(1000 - id)
                    };
                    image(id, product, sort)
                })
                .collect();
            let page: Vec<Value> = all
                .into_iter()
                .skip(((page - 1) * limit) as usize)
                .take(limit as usize)
                .collect();
            if product == 8 || page.is_empty() {
                return StatusCode::NO_CONTENT.into_response();
            }
            axum::Json(page).into_response()
        }
        let app = axum::Router::new()
            .route("/api/v2/products/{product}/images.json", get(images))
            .route(
                "/api/v2/products.json",
                get(|| async { StatusCode::NO_CONTENT }),
            );
        let client = client(&serve(app).await, |_| {});

        let listing = client.read_images(7).await.unwrap();
        assert_eq!(listing.records.len(), 252, "both pages were read");
        assert_eq!(listing.unreadable.len(), 1);
        let bad = &listing.unreadable[0];
        assert_eq!(
            (bad.kind, bad.product_id, bad.id),
            (RecordKind::Image, Some(7), Some(100))
        );
        assert_eq!(bad.field.as_deref(), Some("sort_order"));
        assert_eq!(bad.value.to_string(), "\"first\"");
        // In the contract's order, not the store's id order.
        let order: Vec<(i64, i64)> = listing
            .records
            .iter()
            .map(|i| (i.sort_order, i.id))
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(listing.records[0].id, 253);
        assert!(listing.records.iter().all(|i| i.description.is_empty()));
        assert!(listing.records.iter().all(|i| i.zoom_url.is_none()));

        assert!(client.read_images(8).await.unwrap().records.is_empty());
        let products = client.read_products().await.unwrap();
        assert!(products.records.is_empty() && products.unreadable.is_empty());
    })
    .await
    .unwrap();
}

/// A local file to upload, as the upload tests send it.
fn front_jpeg(seed: u64) -> UploadSource {
    UploadSource::Bytes {
        file_name: "front.jpg".into(),
        bytes: small_jpeg(seed).into(),
    }
}

/// Uploads `source` with no other fields and no progress report.
async fn upload_without_fields(
    client: &Client,
    product: i64,
    source: &UploadSource,
    key: Option<&str>,
) -> Result<imagedesk::api::Created, ApiError> {
    client
        .upload(product, source, &ImageWrite::default(), key, None)
        .await
}

/// [`real_store_uploads`] served on loopback, what it saw, and a client for it.
async fn uploads_stub(v3: bool) -> (Seen, Client) {
    let seen = Seen::default();
    let client = client(&serve(real_store_uploads(seen.clone(), v3)).await, |_| {});
    (seen, client)
}

/// A stub of a real store's uploads: v2 refuses multipart (415), v3 takes it (422 without a
/// file, 200 with one). With `v3 = false` the store has no v3 endpoint (a plain 404).
fn real_store_uploads(seen: Seen, v3: bool) -> axum::Router {
    async fn v2(
        State(seen): State<Seen>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        seen.record(&method, &uri, &headers, &body);
        let multipart = headers
            .get("content-type")
            .is_some_and(|t| t.to_str().unwrap().starts_with("multipart/"));
        // Product 5 sits behind a proxy that checks fields before content types: a body
        // without a file gets imagedesk's 400, a real upload the store's 415.
        if multipart
            && uri.path().contains("/products/5/")
            && !contains(&body, b"name=\"image_file\"")
        {
            let refusal = json!([{"status": 400, "message": "The field 'image_file' is invalid."}]);
            return (StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
        }
        if multipart {
            let refusal =
                json!([{"status": 415, "message": "The request's content type is not supported."}]);
            return (StatusCode::UNSUPPORTED_MEDIA_TYPE, axum::Json(refusal)).into_response();
        }
        // A JSON create from a URL; no `*_url` fields and no key echo, as a real store.
        (StatusCode::CREATED, axum::Json(image(41, 7, json!(0)))).into_response()
    }
    async fn v3_images(
        State(seen): State<Seen>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        seen.record(&method, &uri, &headers, &body);
        if uri.path().contains("/products/404/") {
            let refusal = json!({"status": 404, "title": "The product was not found.", "type": "about:blank", "errors": {}});
            return (StatusCode::NOT_FOUND, axum::Json(refusal)).into_response();
        }
        if !contains(&body, b"name=\"image_file\"") {
            let refusal = json!({"status": 422, "title": "The image is invalid.", "type": "about:blank", "errors": {"image_file": "is required"}});
            return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(refusal)).into_response();
        }
        let data = json!({"data": {
            "id": 42, "product_id": 7, "image_file": "p/123/photo__00042.jpg",
            "is_thumbnail": false, "sort_order": 3, "description": "front",
            "url_zoom": "https://cdn.example/z.jpg", "url_standard": "https://cdn.example/s.jpg",
            "url_thumbnail": "https://cdn.example/t.jpg", "url_tiny": "https://cdn.example/i.jpg",
            "date_modified": "2026-11-30T06:00:00+00:00"}, "meta": {}});
        axum::Json(data).into_response()
    }
    let mut app = axum::Router::new().route("/api/v2/products/{product}/images.json", any(v2));
    if v3 {
        app = app.route("/api/v3/catalog/products/{product}/images", any(v3_images));
    }
    app.with_state(seen)
}

#[tokio::test]
async fn local_files_go_through_v3_where_v2_refuses_multipart() {
    tokio::time::timeout(LIMIT, async {
        let (seen, client) = uploads_stub(true).await;

        assert_eq!(client.upload_route(7).await.unwrap(), UploadRoute::V3);
        // Found out by two requests that carry no file and no key, so they create nothing.
        assert_eq!(
            seen.lines(),
            [
                "POST /api/v2/products/7/images.json",
                "POST /api/v3/catalog/products/7/images"
            ]
        );
        // A clone shares the answer: no more probes.
        let clone = client.clone();
        assert_eq!(clone.upload_route(9).await.unwrap(), UploadRoute::V3);
        assert_eq!(seen.lines().len(), 2);

        let source = front_jpeg(1);
        let fields = ImageWrite {
            description: Some("front".into()),
            ..ImageWrite::default()
        };
        let created = clone
            .upload(7, &source, &fields, Some("key-1"), None)
            .await
            .unwrap();
        assert_eq!(
            seen.lines()[2],
            "POST /api/v3/catalog/products/7/images key=key-1 file"
        );
        assert_eq!((created.image.id, created.image.sort_order), (42, 3));
        assert_eq!(
            created.image.thumbnail_url.as_deref(),
            Some("https://cdn.example/t.jpg")
        );
        assert!(!created.key_echoed, "the stub echoes no key");

        // A v3 "product not found" is the product's absence, not a store without v3.
        let fresh = client_for_stub(&client);
        let err = fresh.upload_route(404).await.unwrap_err();
        assert_eq!(err.status(), Some(404), "{err}");
        assert!(
            err.to_string().contains("The product was not found."),
            "{err}"
        );
    })
    .await
    .unwrap();
}

fn client_for_stub(other: &Client) -> Client {
    client(other.base_url().as_str(), |_| {})
}

#[tokio::test]
async fn a_v2_upload_refused_with_415_is_sent_to_v3() {
    tokio::time::timeout(LIMIT, async {
        // The route probe on product 5 says v2 takes multipart, but the upload itself is
        // refused with 415: nothing was created, so the client sends it to v3 and keeps v3.
        let (seen, client) = uploads_stub(true).await;
        assert_eq!(
            client.upload_route(5).await.unwrap(),
            UploadRoute::V2Multipart
        );
        let source = front_jpeg(2);
        let created = upload_without_fields(&client, 5, &source, Some("k5"))
            .await
            .unwrap();
        assert_eq!(created.image.id, 42);
        assert_eq!(
            seen.lines(),
            [
                "POST /api/v2/products/5/images.json",
                "POST /api/v2/products/5/images.json key=k5 file",
                "POST /api/v3/catalog/products/5/images key=k5 file",
            ]
        );
        assert_eq!(client.upload_route(5).await.unwrap(), UploadRoute::V3);
        upload_without_fields(&client, 5, &source, None)
            .await
            .unwrap();
        assert_eq!(
            seen.lines()[3],
            "POST /api/v3/catalog/products/5/images file",
            "once v2 refused, uploads go straight to v3"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_upload_finds_the_route_itself_without_a_probe() {
    tokio::time::timeout(LIMIT, async {
        // No route asked first: the upload tries v2, is refused with 415 (nothing created),
        // and goes to v3; the route is then known. No probe request is spent.
        let source = front_jpeg(4);
        let (seen, first) = uploads_stub(true).await;
        let created = upload_without_fields(&first, 7, &source, Some("k7"))
            .await
            .unwrap();
        assert_eq!(created.image.id, 42);
        assert_eq!(
            seen.lines(),
            [
                "POST /api/v2/products/7/images.json key=k7 file",
                "POST /api/v3/catalog/products/7/images key=k7 file",
            ]
        );
        assert_eq!(first.upload_route(7).await.unwrap(), UploadRoute::V3);
        assert_eq!(
            seen.lines().len(),
            2,
            "the route was learnt from the upload"
        );

        // A store without v3: the plain refusal, learnt for next time.
        let (seen, client) = uploads_stub(false).await;
        let err = upload_without_fields(&client, 7, &source, None)
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::UploadsUnsupported), "{err:?}");
        assert_eq!(
            client.upload_route(7).await.unwrap(),
            UploadRoute::Unsupported
        );
        // (The stub records only the routes it has; its v3 is a plain 404.)
        assert_eq!(
            seen.lines(),
            ["POST /api/v2/products/7/images.json file"],
            "no probe, before or after"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_store_that_takes_no_files_says_so_plainly() {
    tokio::time::timeout(LIMIT, async {
        let (seen, client) = uploads_stub(false).await;
        assert_eq!(
            client.upload_route(7).await.unwrap(),
            UploadRoute::Unsupported
        );
        let source = front_jpeg(3);
        let err = upload_without_fields(&client, 7, &source, Some("k"))
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::UploadsUnsupported), "{err:?}");
        assert!(!err.is_transient());
        assert!(
            err.to_string()
                .contains("does not take uploaded files (only picture URLs)"),
            "{err}"
        );
        assert!(
            seen.lines().iter().all(|l| !l.contains("file")),
            "no file was sent: {:?}",
            seen.lines()
        );
        // Adding by URL still works, and the store echoed no key.
        let write = ImageWrite {
            image_file: Some("https://cdn.example/x.jpg".into()),
            ..ImageWrite::default()
        };
        let created = client.create(7, &write, Some("k")).await.unwrap();
        assert_eq!(created.image.description, "");
        assert!(!created.key_echoed);
    })
    .await
    .unwrap();
}

/// A loopback server that answers every request with a 200 whose body is cut off (the
/// connection closes after a few of the promised bytes). Returns its API root and the number
/// of requests it saw.
async fn cut_off_store() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !contains(&head, b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                              content-length: 400\r\n\r\n[{\"id\": 1, \"pro";
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/api/v2"), requests)
}

#[tokio::test]
async fn an_answer_cut_off_mid_body_is_retried_for_get_but_never_for_post() {
    tokio::time::timeout(LIMIT, async {
        let (base, requests) = cut_off_store().await;
        let client = client(&base, |r| r.max_retries = 2);

        let err = client.read_images(7).await.unwrap_err();
        assert!(matches!(err, ApiError::Network(_)), "{err:?}");
        assert!(err.is_transient());
        assert_eq!(
            requests.load(Ordering::SeqCst),
            3,
            "one try and two retries"
        );

        let write = ImageWrite {
            image_file: Some("https://cdn.example/x.jpg".into()),
            ..ImageWrite::default()
        };
        let err = client.create(7, &write, Some("k")).await.unwrap_err();
        assert!(matches!(err, ApiError::Network(_)), "{err:?}");
        assert_eq!(
            requests.load(Ordering::SeqCst),
            4,
            "the POST may have reached the store: sent once"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_post_is_resent_when_the_connection_was_never_made() {
    tokio::time::timeout(LIMIT, async {
        // A port with nothing listening: the first tries are refused before anything is sent;
        // the store comes up on that port while the client backs off.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let seen = Seen::default();
        let app = real_store_uploads(seen.clone(), true);
        let client = client(&format!("http://127.0.0.1:{port}/api/v2"), |r| {
            r.max_retries = 6;
            r.base_delay = Duration::from_millis(100);
        });
        let write = ImageWrite {
            image_file: Some("https://cdn.example/x.jpg".into()),
            ..ImageWrite::default()
        };
        let create = tokio::spawn(async move { client.create(7, &write, None).await });
        tokio::time::sleep(Duration::from_millis(150)).await;
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let created = create.await.unwrap().unwrap();
        assert_eq!(created.image.id, 41);
        assert_eq!(seen.lines(), ["POST /api/v2/products/7/images.json"]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_post_is_resent_after_a_429_but_never_after_a_502() {
    tokio::time::timeout(LIMIT, async {
        // Product 1: the first POST is refused with 429 (the store did nothing), the second
        // creates. Product 2: every POST gets a 502 from a proxy, which may have come after
        // the store committed: the client sends it once and leaves the decision to the engine.
        #[derive(Clone, Default)]
        struct Stub {
            posts: Arc<Mutex<Vec<String>>>,
        }
        async fn create(State(stub): State<Stub>, Path(product): Path<i64>) -> Response {
            let mut posts = stub.posts.lock().unwrap();
            posts.push(format!("POST {product}"));
            let earlier = posts
                .iter()
                .filter(|p| **p == format!("POST {product}"))
                .count();
            match (product, earlier) {
                (1, 1) => (StatusCode::TOO_MANY_REQUESTS, [("x-retry-after", "0")]).into_response(),
                (1, _) => (StatusCode::CREATED, axum::Json(image(11, 1, json!(0)))).into_response(),
                _ => (StatusCode::BAD_GATEWAY, "Bad gateway").into_response(),
            }
        }
        let stub = Stub::default();
        let app = axum::Router::new()
            .route(
                "/api/v2/products/{product}/images.json",
                axum::routing::post(create),
            )
            .with_state(stub.clone());
        let client = client(&serve(app).await, |_| {});
        let write = ImageWrite {
            image_file: Some("https://cdn.example/x.jpg".into()),
            ..ImageWrite::default()
        };
        let created = client.create(1, &write, None).await.unwrap();
        assert_eq!(created.image.id, 11);
        let err = client.create(2, &write, None).await.unwrap_err();
        assert_eq!(err.status(), Some(502), "{err}");
        assert!(err.is_transient());
        assert_eq!(
            *stub.posts.lock().unwrap(),
            ["POST 1", "POST 1", "POST 2"],
            "the 429 was resent, the 502 was not"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_429_without_a_wait_backs_off_and_holds_every_clone() {
    tokio::time::timeout(LIMIT, async {
        // The first request is refused with a bare 429 (no X-Retry-After, no quota headers);
        // the rest are answered. A clone that sends while the first is backing off is held
        // back too: it reaches the store no sooner than the shortest back-off after the 429.
        #[derive(Clone)]
        struct Stub {
            calls: Arc<AtomicUsize>,
            refused_at: Arc<Mutex<Option<Instant>>>,
            arrivals: Arc<Mutex<Vec<Instant>>>,
        }
        async fn count(State(stub): State<Stub>) -> Response {
            let now = Instant::now();
            if stub.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                *stub.refused_at.lock().unwrap() = Some(now);
                return StatusCode::TOO_MANY_REQUESTS.into_response();
            }
            stub.arrivals.lock().unwrap().push(now);
            axum::Json(json!({"count": 5})).into_response()
        }
        let stub = Stub {
            calls: Arc::new(AtomicUsize::new(0)),
            refused_at: Arc::new(Mutex::new(None)),
            arrivals: Arc::new(Mutex::new(Vec::new())),
        };
        let app = axum::Router::new()
            .route("/api/v2/products/images/count.json", get(count))
            .with_state(stub.clone());
        let base_delay = Duration::from_millis(500);
        let client = client(&serve(app).await, |r| r.base_delay = base_delay);
        let first = client.clone();
        let refused = tokio::spawn(async move { first.count_store_images().await });
        // Wait until the 429 went out (and give the client a moment to read it), then send
        // from another clone.
        while stub.refused_at.lock().unwrap().is_none() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(client.count_store_images().await.unwrap(), 5);
        assert_eq!(
            refused.await.unwrap().unwrap(),
            5,
            "the refused request was resent"
        );
        let refused_at = stub.refused_at.lock().unwrap().unwrap();
        let arrivals = stub.arrivals.lock().unwrap().clone();
        assert_eq!(arrivals.len(), 2);
        // The shortest first back-off is half of twice the base delay: a lower bound only.
        for arrival in arrivals {
            assert!(
                arrival.duration_since(refused_at) >= base_delay - Duration::from_millis(20),
                "a request reached the store {:?} after the 429",
                arrival.duration_since(refused_at)
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_probe_spends_no_request_and_fails_on_a_closed_port() {
    tokio::time::timeout(LIMIT, async {
        let store = start_with(|c| c.rate_limit = Some(5)).await;
        let client = common::client_for(&store.server.api_url());
        client.probe().await.unwrap();
        client.probe().await.unwrap();
        // The probes spent nothing: the first real request finds the whole quota left.
        let answer = reqwest::Client::new()
            .get(format!("{}/products/count", store.server.api_url()))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.headers()["x-rate-limit-requests-left"], "4");

        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A host name is resolved first.
        let named = store.server.api_url().replace("127.0.0.1", "localhost");
        common::client_for(&named).probe().await.unwrap();
        let closed = common::client_for(&format!("http://127.0.0.1:{port}/api/v2"));
        let err = closed.probe().await.unwrap_err();
        assert!(matches!(err, ApiError::Network(_)), "{err:?}");
    })
    .await
    .unwrap();
}

/// How many answers the server refused with 429, from its `/metrics`.
async fn refusals(base_url: &str) -> u64 {
    common::requests_counted(base_url, &["status=\"429\""]).await
}

/// Sends `per_clone` requests from each of two clones of `client` at once; returns how many
/// were refused with 429 in the end.
async fn burst(client: &Client, per_clone: usize) -> usize {
    let run = |c: Client| async move {
        let mut refused = 0;
        for _ in 0..per_clone {
            if let Err(e) = c.count_store_images().await {
                assert_eq!(e.status(), Some(429), "{e}");
                refused += 1;
            }
        }
        refused
    };
    let (a, b) = tokio::join!(run(client.clone()), run(client.clone()));
    a + b
}

#[tokio::test]
async fn clones_share_one_budget_and_pace_themselves_instead_of_running_into_429s() {
    tokio::time::timeout(LIMIT, async {
        // Quota 8 per 30 s; two clones send 6 requests each. Without pacing, 4 are refused
        // (and this impatient client gives up on them). With pacing, the clones slow down as
        // the quota runs low and wait for the window to reset: none is refused.
        const QUOTA: u32 = 8;
        let unpaced_store = start_with(|c| c.rate_limit = Some(QUOTA)).await;
        let unpaced = client(&unpaced_store.server.api_url(), |r| {
            r.pacing = false;
            r.max_rate_limit_wait = Duration::from_millis(10);
        });
        assert_eq!(burst(&unpaced, 6).await, 4);
        assert_eq!(refusals(&unpaced_store.server.base_url()).await, 4);

        let paced_store = start_with(|c| c.rate_limit = Some(QUOTA)).await;
        let paced = client(&paced_store.server.api_url(), |r| {
            r.max_pacing_gap = Duration::from_millis(200);
        });
        assert_eq!(burst(&paced, 6).await, 0);
        assert_eq!(
            refusals(&paced_store.server.base_url()).await,
            0,
            "the pacer waited for the window instead of being refused"
        );
    })
    .await
    .unwrap();
}

// -- against `serve --compat bc-v2` and the default store ------------------------------------

async fn bc_v2() -> common::TestStore {
    start_with(common::bc_v2).await
}

/// Creates an image of `product` from a file written to the store's import directory.
async fn import(
    store: &common::TestStore,
    product: i64,
    seed: u64,
    write: ImageWrite,
    key: Option<&str>,
) -> imagedesk::api::Created {
    let name = store.import_jpeg(&format!("pic-{seed}.jpg"), seed);
    let write = ImageWrite {
        image_file: Some(name),
        ..write
    };
    store.client.create(product, &write, key).await.unwrap()
}

#[tokio::test]
async fn a_bc_v2_store_is_read_with_its_nulls_and_204s() {
    tokio::time::timeout(LIMIT, async {
        let store = bc_v2().await;
        let client = &store.client;
        let empty = store.product("Empty").await;
        let product = store.product("Mugs").await;

        // An empty list is a 204 with no body: an empty listing, not an error.
        let listing = client.read_images(empty).await.unwrap();
        assert!(listing.records.is_empty() && listing.unreadable.is_empty());

        let first = import(&store, product, 1, ImageWrite::default(), None).await;
        // The answer to a write carries no URLs on a real store: read as absent, not blank.
        assert_eq!(first.image.zoom_url, None);
        assert_eq!(first.image.description, "");
        let second = import(
            &store,
            product,
            2,
            ImageWrite {
                sort_order: Some(0),
                description: Some("front".into()),
                ..ImageWrite::default()
            },
            None,
        )
        .await;

        // The store lists in id order; the client reads the contract's (sort_order, id) order,
        // the null description as empty, and the list's URLs.
        let listing = client.read_images(product).await.unwrap();
        assert!(listing.unreadable.is_empty(), "{:?}", listing.unreadable);
        let ids: Vec<i64> = listing.records.iter().map(|i| i.id).collect();
        assert_eq!(ids, [second.image.id, first.image.id]);
        assert_eq!(listing.records[1].description, "");
        assert_eq!(listing.records[0].description, "front");
        assert!(listing.records.iter().all(|i| i.zoom_url.is_some()));

        let one = client.get_image(product, first.image.id).await.unwrap();
        assert_eq!(one.description, "");
        let updated = client
            .update_image(
                product,
                first.image.id,
                &ImageWrite {
                    description: Some("side".into()),
                    ..ImageWrite::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(updated.description, "side");
        assert_eq!(updated.thumbnail_url, None, "a write answer has no URLs");

        let products = client.read_products().await.unwrap();
        assert_eq!(products.records.len(), 2);
        assert!(products.unreadable.is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn uploads_go_through_v3_on_bc_v2_and_v2_on_imagedesk() {
    tokio::time::timeout(LIMIT, async {
        for (store, route) in [
            (bc_v2().await, UploadRoute::V3),
            (start_with(|_| {}).await, UploadRoute::V2Multipart),
        ] {
            let client = &store.client;
            let product = store.product("Uploads").await;
            assert_eq!(client.upload_route(product).await.unwrap(), route);
            assert_eq!(
                client.count_images(product).await.unwrap(),
                0,
                "finding the route created nothing"
            );
            let source = front_jpeg(7);
            let fields = ImageWrite {
                description: Some("front".into()),
                ..ImageWrite::default()
            };
            let created = client
                .upload(product, &source, &fields, Some("up-1"), None)
                .await
                .unwrap();
            assert_eq!(created.image.product_id, product);
            assert_eq!(created.image.description, "front");
            let listed = client.read_images(product).await.unwrap().records;
            assert_eq!(
                listed.iter().map(|i| i.id).collect::<Vec<_>>(),
                [created.image.id]
            );
            let v3_uploads = common::requests_counted(
                &store.server.base_url(),
                &["method=\"POST\"", "/api/v3/", "status=\"200\""],
            )
            .await;
            match route {
                UploadRoute::V3 => assert_eq!(v3_uploads, 1, "{route:?}"),
                _ => assert_eq!(v3_uploads, 0, "{route:?}"),
            }
            // A fresh client that uploads without asking the route lands exactly one image.
            let fresh = common::client_for(&store.server.api_url());
            let again = fresh
                .upload(product, &source, &fields, Some("up-2"), None)
                .await
                .unwrap();
            assert_eq!(fresh.upload_route(product).await.unwrap(), route);
            let listed = client.read_images(product).await.unwrap().records;
            assert_eq!(
                listed.iter().map(|i| i.id).collect::<Vec<_>>(),
                [created.image.id, again.image.id]
            );
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn only_imagedesk_echoes_the_idempotency_key() {
    tokio::time::timeout(LIMIT, async {
        let real = bc_v2().await;
        let product = real.product("Echo").await;
        let created = import(&real, product, 1, ImageWrite::default(), Some("k-1")).await;
        assert!(!created.key_echoed, "a real store ignores the key");

        let own = start_with(|_| {}).await;
        let product = own.product("Echo").await;
        let created = import(&own, product, 1, ImageWrite::default(), Some("k-1")).await;
        assert!(created.key_echoed);
        // No key sent, nothing to echo.
        let created = import(&own, product, 2, ImageWrite::default(), None).await;
        assert!(!created.key_echoed);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn reads_and_edits_get_through_a_faulty_store() {
    tokio::time::timeout(LIMIT, async {
        // Filled without faults, then served again over the same data with 30 % of requests
        // answered 502 or cut off (`--faults`): every GET, PUT and DELETE still gets through
        // the client's retries.
        let store = bc_v2().await;
        let product = store.product("Faults").await;
        for seed in 1..=3 {
            import(&store, product, seed, ImageWrite::default(), None).await;
        }
        let expected = store.client.list_all_images(product).await.unwrap();
        let stopped = store.stop().await;
        let server = stopped
            .serve_with(|c| {
                common::bc_v2(c);
                common::faults(c, 7, 30);
            })
            .await;
        let client = client(&server.api_url(), |r| {
            r.max_retries = 8;
            r.base_delay = Duration::from_millis(5);
        });
        for _ in 0..10 {
            let listing = client.read_images(product).await.unwrap();
            assert_eq!(listing.records, expected);
        }
        let target = expected[1].id;
        for round in 0..5 {
            let write = ImageWrite {
                description: Some(format!("round {round}")),
                ..ImageWrite::default()
            };
            client.update_image(product, target, &write).await.unwrap();
        }
        assert_eq!(
            client.get_image(product, target).await.unwrap().description,
            "round 4"
        );
        assert!(
            common::requests_counted(&server.base_url(), &["status=\"502\""]).await > 0,
            "the store did inject faults"
        );
        // A DELETE whose answer was lost after it committed is resent and finds the image gone
        // (404); the engine counts that as done, and so does this test.
        match client.delete_image(product, target).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("{e}"),
        }
        assert!(
            client
                .get_image(product, target)
                .await
                .unwrap_err()
                .is_not_found()
        );
    })
    .await
    .unwrap();
}
