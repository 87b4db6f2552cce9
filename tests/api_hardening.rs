//! Issue 14's findings on writes, each against the real server on loopback: special-purpose
//! IPv6 prefixes reaching private networks, replays that depended on the second body, a
//! sort_order shift past its maximum, and repeated JSON keys taken silently.

mod common;

use common::*;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const MAX_SORT_ORDER: i64 = 2_147_483_647;

fn images_url(store: &TestStore, product: i64) -> String {
    store.url(&format!("/api/v2/products/{product}/images"))
}

/// A POST of `body` (JSON) with credentials and an optional key: status and body.
async fn post_json(
    store: &TestStore,
    product: i64,
    key: Option<&str>,
    body: &str,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = store
        .raw()
        .post(images_url(store, product))
        .header("X-Auth-Token", TOKEN)
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    answer(request.send().await.unwrap()).await
}

async fn answer(response: reqwest::Response) -> (u16, Value, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body, headers)
}

async fn put_json(store: &TestStore, product: i64, image: i64, body: &str) -> (u16, Value) {
    let response = store
        .raw()
        .put(format!("{}/{image}", images_url(store, product)))
        .header("X-Auth-Token", TOKEN)
        .header("Content-Type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let (status, body, _) = answer(response).await;
    (status, body)
}

/// The product's images as (id, sort_order, date_modified), in list order.
async fn listing(store: &TestStore, product: i64) -> Vec<(i64, i64, String)> {
    store
        .images(product)
        .await
        .into_iter()
        .map(|i| (i.id, i.sort_order, i.date_modified.unwrap_or_default()))
        .collect()
}

fn reason(body: &Value) -> String {
    body[0]["details"]["invalid_reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Finding 6: special-purpose IPv6 prefixes were taken for public addresses.

#[tokio::test]
async fn urls_into_special_purpose_prefixes_are_refused_before_connecting() {
    let store = start().await;
    let product = store.product("SSRF").await;
    for host in [
        // Local-use NAT64 and the well-known prefix, both carrying 169.254.169.254.
        "[64:ff9b:1::a9fe:a9fe]",
        "[64:ff9b::a9fe:a9fe]",
        "[::ffff:a9fe:a9fe]",
        "[100::1]",
        "[2001:2::1]",
        "[2001:db8::1]",
        "[3fff::1]",
        "[5f00::1]",
        "[2002:a9fe:a9fe::1]",
        "[fd00::1]",
        "[fe80::1]",
        "192.88.99.1",
        "198.18.0.1",
        "100.64.0.1",
    ] {
        let started = std::time::Instant::now();
        let body = json!({ "image_file": format!("http://{host}/p.jpg") }).to_string();
        let (status, body, _) = post_json(&store, product, None, &body).await;
        assert_eq!(status, 400, "{host}: {body}");
        assert!(
            reason(&body).contains("is not a public address"),
            "{host}: refused by the guard, not by a failed connection: {body}"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{host}: refused at once"
        );
    }
    // A name is judged by the addresses it resolves to, and the refusal says which block.
    let body = json!({ "image_file": "http://localhost:9/p.jpg" }).to_string();
    let (status, body, _) = post_json(&store, product, None, &body).await;
    assert_eq!(status, 400, "{body}");
    assert!(reason(&body).contains("loopback"), "{body}");
    assert!(store.images(product).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Finding 7: a replay depended on the second body.

#[tokio::test]
async fn a_repeated_key_gets_the_first_answer_whatever_the_second_body_holds() {
    let store = start().await;
    let product = store.product("Replay").await;
    let name = store.import_jpeg("first.jpg", 1);
    let first_body = json!({ "image_file": name, "description": "first" }).to_string();
    let (status, first, _) = post_json(&store, product, Some("k-1"), &first_body).await;
    assert_eq!(status, 201, "{first}");
    let first_id = first["id"].as_i64().unwrap();

    for second in [
        "{",
        "[1, 2]",
        r#"{"colour": "red"}"#,
        r#"{"image_file": 7}"#,
        r#"{"image_file": "missing.jpg"}"#,
        r#"{"sort_order": -1, "image_file": "first.jpg"}"#,
        r#"{"description": "a", "description": "b"}"#,
        r#"{"product_id": 999999}"#,
        "",
    ] {
        let (status, body, headers) = post_json(&store, product, Some("k-1"), second).await;
        assert_eq!(status, 201, "second body {second:?}: {body}");
        assert_eq!(body["id"], first_id, "second body {second:?}");
        assert_eq!(headers["idempotent-replayed"], "true");
        assert_eq!(headers["idempotency-key"], "k-1");
    }

    // A body that is not JSON at all, and one over the size limit.
    let response = store
        .raw()
        .post(images_url(&store, product))
        .header("X-Auth-Token", TOKEN)
        .header("Idempotency-Key", "k-1")
        .header("Content-Type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, body, _) = answer(response).await;
    assert_eq!((status, body["id"].as_i64()), (201, Some(first_id)));
    let response = store
        .raw()
        .post(images_url(&store, product))
        .header("X-Auth-Token", TOKEN)
        .header("Idempotency-Key", "k-1")
        .header("Content-Type", "application/json")
        .header("Content-Length", (10 * 1024 * 1024).to_string())
        .body(vec![b' '; 10 * 1024 * 1024])
        .send()
        .await;
    if let Ok(response) = response {
        // The server may answer before the client finished sending; when the answer arrives,
        // it is the first one.
        let (status, body, _) = answer(response).await;
        assert_eq!((status, body["id"].as_i64()), (201, Some(first_id)));
    }

    // Credentials still come first, and a malformed key is still a 400.
    let response = store
        .raw()
        .post(images_url(&store, product))
        .header("Idempotency-Key", "k-1")
        .header("Content-Type", "application/json")
        .body(first_body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = store
        .raw()
        .post(images_url(&store, product))
        .header("X-Auth-Token", TOKEN)
        .header("Idempotency-Key", "tab\there")
        .header("Content-Type", "application/json")
        .body(first_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // The v3 upload: the same key replays there too, whatever its form holds.
    let upload = |form: Form| {
        store
            .raw()
            .post(store.url(&format!("/api/v3/catalog/products/{product}/images")))
            .header("X-Auth-Token", TOKEN)
            .header("Idempotency-Key", "k-3")
            .multipart(form)
            .send()
    };
    let part = Part::bytes(small_jpeg(3))
        .file_name("three.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let (status, v3_first, _) =
        answer(upload(Form::new().part("image_file", part)).await.unwrap()).await;
    assert_eq!(status, 200, "{v3_first}");
    for form in [
        Form::new().text("colour", "red"),
        Form::new().text("sort_order", "x"),
        Form::new(),
    ] {
        let (status, body, headers) = answer(upload(form).await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["id"], v3_first["data"]["id"]);
        assert_eq!(headers["idempotent-replayed"], "true");
    }
    assert_eq!(store.images(product).await.len(), 2, "two creates, no more");
}

// ---------------------------------------------------------------------------------------------
// Finding 8: a shift moved an image past the largest sort_order.

#[tokio::test]
async fn no_write_moves_a_sort_order_past_its_maximum() {
    let store = start().await;
    let product = store.product("Order").await;
    let top = store.import_jpeg("top.jpg", 1);
    let low = store.import_jpeg("low.jpg", 2);
    let body = json!({ "image_file": low, "sort_order": 0 }).to_string();
    let (status, other, _) = post_json(&store, product, None, &body).await;
    assert_eq!(status, 201, "{other}");
    let body = json!({ "image_file": top, "sort_order": MAX_SORT_ORDER }).to_string();
    let (status, at_max, _) = post_json(&store, product, None, &body).await;
    assert_eq!(status, 201, "{at_max}");
    let other_id = other["id"].as_i64().unwrap();
    let at_max_id = at_max["id"].as_i64().unwrap();
    let before = listing(&store, product).await;
    assert_eq!(
        before.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(),
        [(other_id, 0), (at_max_id, MAX_SORT_ORDER)]
    );

    // Each of these would shift the image at the maximum one further: refused, nothing moves.
    for k in [1, 2, MAX_SORT_ORDER - 1, MAX_SORT_ORDER] {
        let (status, body) = put_json(
            &store,
            product,
            other_id,
            &json!({ "sort_order": k }).to_string(),
        )
        .await;
        assert_eq!(status, 400, "PUT sort_order {k}: {body}");
        assert_eq!(body[0]["message"], "The field 'sort_order' is invalid.");
        assert!(reason(&body).contains(&at_max_id.to_string()), "{body}");
    }
    let extra = store.import_jpeg("extra.jpg", 3);
    for body in [
        json!({ "image_file": extra, "sort_order": 5 }),
        // "Last" would be past the maximum too.
        json!({ "image_file": extra }),
    ] {
        let (status, answer_body, _) = post_json(&store, product, None, &body.to_string()).await;
        assert_eq!(status, 400, "POST {body}: {answer_body}");
    }
    assert_eq!(listing(&store, product).await, before, "nothing changed");

    // Moving the image at the maximum itself is fine, and then the others can move again.
    let (status, body) = put_json(
        &store,
        product,
        at_max_id,
        &json!({ "sort_order": 7 }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put_json(
        &store,
        product,
        other_id,
        &json!({ "sort_order": 7 }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let after: Vec<(i64, i64)> = listing(&store, product)
        .await
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(after, [(other_id, 7), (at_max_id, 8)]);
    // Every stored value reads back as one a PUT accepts.
    for (id, sort_order) in after {
        let (status, body) = put_json(
            &store,
            product,
            id,
            &json!({ "sort_order": sort_order }).to_string(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Smaller: repeated JSON keys were taken last-wins.

#[tokio::test]
async fn repeated_json_keys_are_refused_naming_the_field() {
    let store = start().await;
    let product = store.product("Keys").await;
    let name = store.import_jpeg("k.jpg", 1);
    let (status, created, _) = post_json(
        &store,
        product,
        None,
        &json!({ "image_file": name, "description": "kept" }).to_string(),
    )
    .await;
    assert_eq!(status, 201);
    let image = created["id"].as_i64().unwrap();

    let (status, body) = put_json(
        &store,
        product,
        image,
        r#"{"description": "a", "description": "b"}"#,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body[0]["message"], "The field 'description' is invalid.");
    let body = format!(r#"{{"image_file": "{name}", "sort_order": 1, "sort_order": 2}}"#);
    let (status, answer_body, _) = post_json(&store, product, None, &body).await;
    assert_eq!(status, 400, "{answer_body}");
    assert_eq!(
        answer_body[0]["message"],
        "The field 'sort_order' is invalid."
    );
    let response = store
        .raw()
        .post(store.url("/api/v2/products"))
        .header("X-Auth-Token", TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"{"name": "a", "name": "b"}"#)
        .send()
        .await
        .unwrap();
    let (status, body, _) = answer(response).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body[0]["message"], "The field 'name' is invalid.");

    let images = store.images(product).await;
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].description, "kept");
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document describes every request shape (what scripts/fuzz.sh generates from).

#[tokio::test]
async fn the_document_describes_every_request_shape_and_answer() {
    let store = start().await;
    let doc: Value = store
        .raw()
        .get(store.url("/api/v2/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let create = &paths["/products/{product_id}/images"]["post"];
    let content = create["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/json"), "{create}");
    assert!(content.contains_key("multipart/form-data"), "{create}");
    let key = create["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("the key is described");
    assert_eq!(key["in"], "header");
    assert_eq!(key["schema"]["maxLength"], 200);

    let schemas = &doc["components"]["schemas"];
    let write = &schemas["ImageCreate"];
    assert_eq!(write["required"], json!(["image_file"]));
    assert_eq!(write["additionalProperties"], false);
    assert_eq!(write["properties"]["sort_order"]["maximum"], MAX_SORT_ORDER);
    assert_eq!(write["properties"]["sort_order"]["minimum"], 0);
    assert!(
        write["properties"]["zoom_url"].is_object(),
        "read-only fields are taken (and ignored)"
    );
    let upload = &paths["/catalog/products/{product_id}/images"]["post"];
    assert!(upload["requestBody"]["content"]["multipart/form-data"].is_object());

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(schemes["token"]["name"], "X-Auth-Token");

    // The guard's answers, on every operation.
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            if method == "servers" {
                continue;
            }
            for status in ["401", "406", "429"] {
                assert!(
                    operation["responses"][status].is_object(),
                    "{method} {path} does not describe {status}"
                );
            }
        }
    }
    let limit = paths["/products/{product_id}/images"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1), &json!(250))
    );
}
