//! What a client meets on a store that is not imagedesk's own: the `Idempotency-Key` echo that
//! tells the two apart, `serve --compat bc-v2` (a real BigCommerce v2 store's quirks), the v3
//! upload endpoint, and the seeded fault injector (`--faults`). Real servers over loopback HTTP.

mod common;

use axum::http::Method;
use common::*;
use imagedesk::server::Compat;
use imagedesk::server::faults::{Fault, Injector};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

fn http() -> reqwest::Client {
    // No pooled connections: each request on its own connection, so that a connection the
    // fault injector closed can never be reused or retried by the client.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn bc_v2() -> TestStore {
    start_with(|c| c.compat = Compat::BcV2).await
}

/// Sends `body` as JSON to `path` with the test token (over raw HTTP: the typed client would
/// retry a faulty answer, and cannot send what a real store refuses).
async fn send_json(
    store: &TestStore,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> reqwest::Response {
    http()
        .request(method, store.url(path))
        .header("X-Auth-Token", TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Creates a product over raw HTTP (the typed client would retry a faulty answer).
async fn product(store: &TestStore, name: &str) -> i64 {
    let response = send_json(
        store,
        reqwest::Method::POST,
        "/api/v2/products",
        serde_json::json!({ "name": name }),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// POST of an image from the import directory, with an optional key and extra JSON fields.
async fn post_import(
    store: &TestStore,
    product: i64,
    seed: u64,
    key: Option<&str>,
    extra: Value,
) -> reqwest::Result<reqwest::Response> {
    let name = store.import_jpeg(&format!("pic-{seed}.jpg"), seed);
    let mut body = serde_json::json!({ "image_file": name });
    if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
        body.extend(extra);
    }
    let mut request = http()
        .post(store.url(&format!("/api/v2/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await
}

fn jpeg_part(seed: u64) -> Part {
    Part::bytes(small_jpeg(seed))
        .file_name(format!("upload {seed}.jpg"))
        .mime_str("image/jpeg")
        .unwrap()
}

async fn post_v3(store: &TestStore, product: i64, form: Form) -> reqwest::Response {
    http()
        .post(store.url(&format!("/api/v3/catalog/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// GET of a path with credentials: status and body.
async fn get(store: &TestStore, path: &str) -> (u16, bytes::Bytes) {
    let response = http()
        .get(store.url(path))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.bytes().await.unwrap())
}

async fn image_ids(store: &TestStore, product: i64) -> Vec<i64> {
    let (status, body) = get(store, &format!("/api/v2/products/{product}/images")).await;
    if status == 204 {
        return Vec::new();
    }
    assert_eq!(status, 200);
    let list: Vec<Value> = serde_json::from_slice(&body).unwrap();
    list.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

// ---------------------------------------------------------------------------------------------
// Idempotency-Key echo (imagedesk's own store)

#[tokio::test]
async fn keys_are_echoed_and_replays_are_marked() {
    let store = start().await;
    let product = product(&store, "Echo").await;

    let first = post_import(&store, product, 1, Some("key-1"), Value::Null)
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "idempotency-key"), Some("key-1"));
    assert_eq!(header(&first, "idempotent-replayed"), None);
    let first_id = first.json::<Value>().await.unwrap()["id"].as_i64().unwrap();

    let again = post_import(&store, product, 2, Some("key-1"), Value::Null)
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(header(&again, "idempotency-key"), Some("key-1"));
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(
        again.json::<Value>().await.unwrap()["id"].as_i64(),
        Some(first_id)
    );

    // A refused create with a key still echoes it; a create without a key echoes nothing.
    let refused = post_import(
        &store,
        product,
        3,
        Some("key-2"),
        serde_json::json!({ "colour": "red" }),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(header(&refused, "idempotency-key"), Some("key-2"));
    let unkeyed = post_import(&store, product, 4, None, Value::Null)
        .await
        .unwrap();
    assert_eq!(unkeyed.status(), 201);
    assert_eq!(header(&unkeyed, "idempotency-key"), None);

    // The v3 upload honours and echoes keys too, and replays as v3.
    let form = || Form::new().part("image_file", jpeg_part(5));
    let upload = http()
        .post(store.url(&format!("/api/v3/catalog/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .header("Idempotency-Key", "key-3");
    let v3_first = upload
        .try_clone()
        .unwrap()
        .multipart(form())
        .send()
        .await
        .unwrap();
    assert_eq!(v3_first.status(), 200);
    assert_eq!(header(&v3_first, "idempotency-key"), Some("key-3"));
    let v3_id = v3_first.json::<Value>().await.unwrap()["data"]["id"].as_i64();
    let v3_again = upload.multipart(form()).send().await.unwrap();
    assert_eq!(v3_again.status(), 200);
    assert_eq!(header(&v3_again, "idempotent-replayed"), Some("true"));
    assert_eq!(
        v3_again.json::<Value>().await.unwrap()["data"]["id"].as_i64(),
        v3_id
    );
    assert_eq!(image_ids(&store, product).await.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// --compat bc-v2

#[tokio::test]
async fn bc_v2_lists_in_id_order_with_204_for_nothing_and_null_descriptions() {
    let store = bc_v2().await;
    let product = product(&store, "Lists").await;
    let images = format!("/api/v2/products/{product}/images");

    let (status, body) = get(&store, &images).await;
    assert_eq!((status, body.len()), (204, 0), "an empty list is 204");

    let mut ids = Vec::new();
    for (seed, fields) in [
        (1, Value::Null),
        // Goes first in sort order (shifting the first image to 1), but stays second by id.
        (2, serde_json::json!({ "sort_order": 0 })),
        (3, serde_json::json!({ "description": "side" })),
    ] {
        let response = post_import(&store, product, seed, None, fields)
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let (status, body) = get(&store, &images).await;
    assert_eq!(status, 200);
    let list: Vec<Value> = serde_json::from_slice(&body).unwrap();
    let listed: Vec<i64> = list.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(listed, ids, "id order, not sort_order");
    assert_eq!(list[0]["sort_order"], 1);
    assert_eq!(list[1]["sort_order"], 0);
    assert!(list[0]["description"].is_null());
    assert_eq!(list[2]["description"], "side");
    assert!(
        list[0]["zoom_url"].is_string(),
        "reads keep the URLs: {}",
        list[0]
    );

    let (status, body) = get(&store, &format!("{images}/{}", ids[0])).await;
    assert_eq!(status, 200);
    let one: Value = serde_json::from_slice(&body).unwrap();
    assert!(one["description"].is_null());

    // An empty list is 204 with no body, however it came to be empty.
    for (path, why) in [
        (
            format!("{images}?page=4&limit=1"),
            "a page past the end is 204",
        ),
        ("/api/v2/products?page=2".into(), "products too"),
        (
            "/api/v2/products?min_date_modified=2100-01-01".into(),
            "a filter that keeps nothing",
        ),
    ] {
        let (status, body) = get(&store, &path).await;
        assert_eq!((status, body.len()), (204, 0), "{why}");
    }
    let (status, _) = get(&store, "/api/v2/products").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bc_v2_write_answers_carry_only_the_seed_fields() {
    let store = bc_v2().await;
    let product = product(&store, "Writes").await;
    let seed_fields = [
        "date_created",
        "description",
        "id",
        "image_file",
        "is_thumbnail",
        "product_id",
        "sort_order",
    ];
    let created = post_import(&store, product, 1, None, Value::Null)
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(keys(&created), seed_fields, "{created}");
    assert!(created["description"].is_null());

    let id = created["id"].as_i64().unwrap();
    let updated = send_json(
        &store,
        reqwest::Method::PUT,
        &format!("/api/v2/products/{product}/images/{id}"),
        serde_json::json!({ "description": "front" }),
    )
    .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(keys(&updated), seed_fields, "{updated}");
    assert_eq!(updated["description"], "front");
}

#[tokio::test]
async fn bc_v2_ignores_idempotency_keys() {
    let store = bc_v2().await;
    let product = product(&store, "Keys").await;
    let mut ids = Vec::new();
    for seed in [1, 2] {
        let response = post_import(&store, product, seed, Some("same-key"), Value::Null)
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(header(&response, "idempotency-key"), None);
        assert_eq!(header(&response, "idempotent-replayed"), None);
        ids.push(
            response.json::<Value>().await.unwrap()["id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_ne!(ids[0], ids[1], "a repeated POST creates a second image");
    // Even a key imagedesk would refuse as malformed is simply ignored.
    let malformed = post_import(&store, product, 3, Some(""), Value::Null)
        .await
        .unwrap();
    assert_eq!(malformed.status(), 201);
    assert_eq!(image_ids(&store, product).await.len(), 3);
}

#[tokio::test]
async fn bc_v2_refuses_multipart_on_v2() {
    let store = bc_v2().await;
    let product = product(&store, "Multipart").await;
    let response = http()
        .post(store.url(&format!("/api/v2/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .multipart(Form::new().part("image_file", jpeg_part(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body[0]["status"], 415, "v2 error shape: {body}");
    assert!(image_ids(&store, product).await.is_empty());
}

#[tokio::test]
async fn bc_v2_quota_is_one_for_the_store_whatever_the_credentials() {
    // The server knows one token, so this cannot tell a store-wide quota from a per-token one
    // (rate_limit.rs's unit test does); it checks that both kinds of credentials draw on it.
    let store = start_with(|c| {
        c.compat = Compat::BcV2;
        c.rate_limit = Some(3);
    })
    .await;
    let url = store.url("/api/v2/products/count");
    let client = http();
    let by_token = || client.get(&url).header("X-Auth-Token", TOKEN);
    let by_basic = || client.get(&url).basic_auth("someone", Some(TOKEN));
    let mut left = Vec::new();
    for request in [by_token(), by_basic(), by_token()] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        left.push(header(&response, "x-rate-limit-requests-left").map(str::to_owned));
    }
    assert_eq!(
        left,
        [
            Some("2".to_owned()),
            Some("1".to_owned()),
            Some("0".to_owned())
        ]
    );
    let refused = by_basic().send().await.unwrap();
    assert_eq!(refused.status(), 429);
}

// ---------------------------------------------------------------------------------------------
// The v3 upload

#[tokio::test]
async fn v3_uploads_work_in_both_modes() {
    for compat in [Compat::Imagedesk, Compat::BcV2] {
        let store = start_with(|c| c.compat = compat).await;
        let product = product(&store, "Upload").await;
        let form = Form::new()
            .part("image_file", jpeg_part(7))
            .text("description", "from disk")
            .text("is_thumbnail", "true")
            .text("sort_order", "3");
        let response = post_v3(&store, product, form).await;
        assert_eq!(response.status(), 200, "{compat:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(keys(&body), ["data", "meta"]);
        assert_eq!(body["meta"], serde_json::json!({}));
        let data = &body["data"];
        assert_eq!(
            keys(data),
            [
                "date_modified",
                "description",
                "id",
                "image_file",
                "is_thumbnail",
                "product_id",
                "sort_order",
                "url_standard",
                "url_thumbnail",
                "url_tiny",
                "url_zoom",
            ]
        );
        assert_eq!(data["product_id"], product);
        assert_eq!(data["description"], "from disk");
        assert_eq!(data["sort_order"], 3);
        assert_eq!(data["is_thumbnail"], true);
        let image_file = data["image_file"].as_str().unwrap();
        assert!(image_file.contains("/upload-7__"), "{image_file}");
        let zoom = data["url_zoom"].as_str().unwrap();
        assert!(zoom.ends_with(&format!("/product_images/zoom/{image_file}")));
        let served = http().get(zoom).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert!(
            chrono::DateTime::parse_from_rfc3339(data["date_modified"].as_str().unwrap()).is_ok()
        );
        assert_eq!(
            image_ids(&store, product).await,
            [data["id"].as_i64().unwrap()],
            "{compat:?}: the upload is in the v2 list"
        );
    }
}

fn assert_v3_error(body: &Value, status: u16) {
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert_eq!(body["type"], "about:blank", "{body}");
    assert!(body["errors"].is_object(), "{body}");
}

#[tokio::test]
async fn v3_errors_have_the_v3_shape() {
    let store = bc_v2().await;
    let product = product(&store, "Errors").await;

    // The cheap probe: multipart without image_file is a 422 that creates nothing.
    let probe = post_v3(&store, product, Form::new().text("description", "probe")).await;
    assert_eq!(probe.status(), 422);
    let body: Value = probe.json().await.unwrap();
    assert_v3_error(&body, 422);
    assert!(body["errors"]["image_file"].is_string(), "{body}");
    assert!(image_ids(&store, product).await.is_empty());

    // Not an image.
    let garbage = Part::bytes(b"not a picture".to_vec()).file_name("x.jpg");
    let refused = post_v3(&store, product, Form::new().part("image_file", garbage)).await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(body["errors"]["image_file"].is_string(), "{body}");

    // A bad field value names the field.
    let form = Form::new()
        .part("image_file", jpeg_part(1))
        .text("sort_order", "-1");
    let refused = post_v3(&store, product, form).await;
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert!(body["errors"]["sort_order"].is_string(), "{body}");

    let unknown = post_v3(
        &store,
        999_999,
        Form::new().part("image_file", jpeg_part(1)),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    assert_v3_error(&unknown.json().await.unwrap(), 404);

    let unauthorized = http()
        .post(store.url(&format!("/api/v3/catalog/products/{product}/images")))
        .header("X-Auth-Token", "wrong")
        .multipart(Form::new().part("image_file", jpeg_part(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    assert!(unauthorized.headers().contains_key("www-authenticate"));
    assert_v3_error(&unauthorized.json().await.unwrap(), 401);

    let json = send_json(
        &store,
        reqwest::Method::POST,
        &format!("/api/v3/catalog/products/{product}/images"),
        serde_json::json!({ "image_file": "pic.jpg" }),
    )
    .await;
    assert_eq!(json.status(), 415);
    assert_v3_error(&json.json().await.unwrap(), 415);

    let too_big = http()
        .post(store.url(&format!("/api/v3/catalog/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .header("Content-Type", "multipart/form-data; boundary=b")
        .body(vec![b'x'; 10 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    assert_v3_error(&too_big.json().await.unwrap(), 413);

    assert!(image_ids(&store, product).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// --faults

/// What the client saw of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Answer(u16),
    /// No complete answer: the connection failed or closed.
    Broken,
}

async fn seen(request: reqwest::RequestBuilder) -> Seen {
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => Seen::Answer(status),
                Err(_) => Seen::Broken,
            }
        }
        Err(_) => Seen::Broken,
    }
}

fn expected(fault: Option<Fault>) -> Seen {
    match fault {
        None => Seen::Answer(200),
        Some(Fault::BadGateway | Fault::BadGatewayAfterCommit) => Seen::Answer(502),
        Some(Fault::ConnectionClosed | Fault::ConnectionClosedAfterCommit) => Seen::Broken,
    }
}

async fn faulty(seed: u64, percent: u8) -> TestStore {
    start_with(|c| {
        c.compat = Compat::BcV2;
        c.faults = Some(seed);
        c.fault_percent = percent;
    })
    .await
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    const SEED: u64 = 12;
    const PERCENT: u8 = 40;
    let predicted: Vec<Seen> = {
        let injector = Injector::new(SEED, PERCENT);
        (0..30)
            .map(|_| expected(injector.draw(&Method::GET)))
            .collect()
    };
    assert!(predicted.contains(&Seen::Broken) && predicted.contains(&Seen::Answer(502)));
    let mut runs = Vec::new();
    for _ in 0..2 {
        let store = faulty(SEED, PERCENT).await;
        let mut run = Vec::new();
        for _ in 0..30 {
            let request = http()
                .get(store.url("/api/v2/products/count"))
                .header("X-Auth-Token", TOKEN);
            run.push(seen(request).await);
        }
        // Paths outside the API are never touched.
        for _ in 0..10 {
            assert_eq!(
                seen(http().get(store.url("/healthz"))).await,
                Seen::Answer(200)
            );
        }
        runs.push(run);
    }
    assert_eq!(runs[0], predicted);
    assert_eq!(runs[1], predicted);
}

/// The first seed under which the requests of `methods` draw what `wanted` accepts.
fn seed_where(percent: u8, methods: &[Method], wanted: impl Fn(&[Option<Fault>]) -> bool) -> u64 {
    (0..10_000)
        .find(|&seed| {
            let injector = Injector::new(seed, percent);
            let draws: Vec<Option<Fault>> = methods.iter().map(|m| injector.draw(m)).collect();
            wanted(&draws)
        })
        .unwrap()
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_after_commit_still_lands() {
    for lost in [
        Fault::BadGatewayAfterCommit,
        Fault::ConnectionClosedAfterCommit,
    ] {
        // POST product (no fault), POST image (answer lost), GET list (no fault).
        let seed = seed_where(50, &[Method::POST, Method::POST, Method::GET], |d| {
            d == [None, Some(lost), None]
        });
        let store = faulty(seed, 50).await;
        let product = product(&store, "Lost").await;
        let answer = post_import(&store, product, 1, None, Value::Null).await;
        let seen_error = match answer {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.is_err() || status == 502
            }
            Err(_) => true,
        };
        assert!(seen_error, "{lost:?}: the client saw a success");
        assert_eq!(
            image_ids(&store, product).await.len(),
            1,
            "{lost:?}: the image was created"
        );
    }
}

#[tokio::test]
async fn a_closed_connection_is_an_error_to_reqwest() {
    let seed = seed_where(50, &[Method::GET], |d| d == [Some(Fault::ConnectionClosed)]);
    let store = faulty(seed, 50).await;
    let result = http()
        .get(store.url("/api/v2/products/count"))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await;
    // Not even a status line: hyper drops the connection before the head is flushed.
    let error = match result {
        Err(error) => error,
        Ok(response) => panic!("an answer came: {}", response.status()),
    };
    assert!(!error.is_timeout(), "{error:?}");
    assert!(error.is_request(), "{error:?}");
}
