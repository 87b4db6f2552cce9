//! Several `serve` nodes over one store (SPEC §3 "Past one machine"): concurrent writers split
//! across the nodes, one `Idempotency-Key` sent to every node at once, appends racing at the
//! image limit, and `kill -9` of a node in the middle of an upload.
//!
//! Every test runs against the store the harness is configured for (`tests/common/nodes.rs`):
//! by default one SQLite node behind the round-robin proxy; with
//! `IMAGEDESK_TEST_NODES=2 IMAGEDESK_TEST_STORE=postgres-s3`, two nodes over PostgreSQL and a
//! bucket. The invariants asserted are the same for both.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::nodes::{ProcessNodes, SharedStore, Topology};
use common::*;
use futures_util::StreamExt as _;
use serde_json::{Value, json};

/// The whole test, start to verdict: far above what it needs on a loaded two-core machine.
const LIMIT: Duration = Duration::from_secs(300);
const WRITERS: usize = 8;

/// xorshift64: the same script of operations on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// A raw client of one node (or of the proxy): every status is the test's to judge.
#[derive(Clone)]
struct Node {
    base: String,
    http: reqwest::Client,
}

impl Node {
    fn new(base: String) -> Node {
        Node {
            base,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v2{path}", self.base)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let response = request.header("X-Auth-Token", TOKEN).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, value, headers)
    }

    /// POST an image from the shared import directory, with a key when given.
    async fn append(&self, product: i64, file: &str, key: Option<&str>) -> (u16, Value, bool) {
        let mut request = self
            .http
            .post(self.url(&format!("/products/{product}/images")))
            .json(&json!({ "image_file": file }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let (status, body, headers) = self.send(request).await;
        let replayed = headers
            .get("Idempotent-Replayed")
            .is_some_and(|v| v == "true");
        (status, body, replayed)
    }

    async fn put(&self, product: i64, image: i64, body: Value) -> u16 {
        let request = self
            .http
            .put(self.url(&format!("/products/{product}/images/{image}")))
            .json(&body);
        self.send(request).await.0
    }

    async fn delete(&self, product: i64, image: i64) -> u16 {
        let request = self
            .http
            .delete(self.url(&format!("/products/{product}/images/{image}")));
        self.send(request).await.0
    }

    /// Every image of `product` as this node lists it: (id, sort_order, is_thumbnail) in
    /// list order, and the records themselves.
    async fn images(&self, product: i64) -> Vec<Value> {
        let mut all = Vec::new();
        for page in 1.. {
            let request = self
                .http
                .get(self.url(&format!("/products/{product}/images?limit=250&page={page}")));
            let (status, body, _) = self.send(request).await;
            assert!(status == 200 || status == 204, "list: {status} {body}");
            let records = body.as_array().cloned().unwrap_or_default();
            let done = records.len() < 250;
            all.extend(records);
            if done {
                break;
            }
        }
        all
    }

    async fn count(&self, product: i64) -> i64 {
        let request = self
            .http
            .get(self.url(&format!("/products/{product}/images/count")));
        let (status, body, _) = self.send(request).await;
        assert_eq!(status, 200, "{body}");
        body["count"].as_i64().unwrap()
    }
}

fn id(image: &Value) -> i64 {
    image["id"].as_i64().unwrap()
}

/// The nodes of a proxied test store, each addressed directly, and the proxy.
fn nodes_of(store: &TestStore) -> (Vec<Node>, Node) {
    let nodes = store
        .server
        .nodes()
        .expect("the multi-node tests run behind the proxy")
        .node_urls()
        .into_iter()
        .map(Node::new)
        .collect();
    (nodes, Node::new(store.server.base_url()))
}

/// The invariants of one product after any writes (SPEC §1 "Ordering and the thumbnail"), as
/// every node lists it: the same list on each; exactly one thumbnail; no two images share a
/// `sort_order` (appends go after the maximum and a move shifts the others up, so a serial
/// order of the writes never makes a tie, and concurrent writes that interleaved would); the
/// count endpoint agrees. Returns the ids.
async fn assert_consistent(nodes: &[Node], product: i64) -> BTreeSet<i64> {
    let listed = without_urls(nodes[0].images(product).await);
    for other in &nodes[1..] {
        assert_eq!(
            without_urls(other.images(product).await),
            listed,
            "{} lists what {} lists",
            other.base,
            nodes[0].base
        );
    }
    if !listed.is_empty() {
        let thumbnails = listed.iter().filter(|i| i["is_thumbnail"] == true).count();
        assert_eq!(thumbnails, 1, "one thumbnail: {listed:#?}");
    }
    let mut orders = BTreeMap::new();
    for image in &listed {
        let order = image["sort_order"].as_i64().unwrap();
        if let Some(before) = orders.insert(order, id(image)) {
            panic!(
                "images {before} and {} both have sort_order {order}",
                id(image)
            );
        }
    }
    for node in nodes {
        assert_eq!(
            node.count(product).await,
            listed.len() as i64,
            "{}",
            node.base
        );
    }
    listed.iter().map(id).collect()
}

/// The records without their `*_url` fields, which name the node that was asked.
fn without_urls(mut images: Vec<Value>) -> Vec<Value> {
    for image in &mut images {
        if let Some(fields) = image.as_object_mut() {
            fields.retain(|name, _| !name.ends_with("_url"));
        }
    }
    images
}

/// What one writer saw: images it created (once per key) and images it deleted.
#[derive(Default)]
struct Outcome {
    created: BTreeSet<i64>,
    deleted: BTreeSet<i64>,
    refused_past_limit: usize,
}

/// One writer's script on `node`: appends (each with its own key, some re-sent to `other`),
/// moves, thumbnail flips and deletes of images it reads from its node.
async fn writer(w: usize, node: Node, other: Node, product: i64, ops: usize) -> Outcome {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((w as u64 + 1) * 0x1000_0001));
    let mut outcome = Outcome::default();
    for op in 0..ops {
        let images = node.images(product).await;
        let pick = (!images.is_empty()).then(|| id(&images[rng.below(images.len())]));
        match (rng.below(10), pick) {
            (0..=3, _) | (_, None) => {
                let key = format!("writer-{w}-{op}");
                let (status, body, _) = node.append(product, "w.jpg", Some(&key)).await;
                assert_eq!(status, 201, "append {key}: {body}");
                let created = id(&body);
                outcome.created.insert(created);
                if rng.below(2) == 0 {
                    // The same create again, through another node: the first answer again.
                    let (status, again, replayed) =
                        other.append(product, "w.jpg", Some(&key)).await;
                    assert_eq!((status, id(&again)), (201, created), "replay of {key}");
                    assert!(replayed, "a replay says so");
                }
            }
            (4..=5, Some(image)) => {
                let k = rng.below(images.len() + 1) as i64;
                let status = node.put(product, image, json!({ "sort_order": k })).await;
                assert!(status == 200 || status == 404, "move: {status}");
            }
            (6..=7, Some(image)) => {
                let flag = rng.below(3) != 0;
                let status = node
                    .put(product, image, json!({ "is_thumbnail": flag }))
                    .await;
                assert!(status == 200 || status == 404, "thumbnail: {status}");
            }
            (_, Some(image)) => match node.delete(product, image).await {
                204 => {
                    outcome.deleted.insert(image);
                }
                404 => {}
                status => panic!("delete: {status}"),
            },
        }
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_split_across_the_nodes_leave_one_consistent_product() {
    tokio::time::timeout(LIMIT, async {
        let store = start_as(Topology::proxied_from_env(), |_| {}).await;
        store.import_jpeg("w.jpg", 7);
        let (nodes, proxy) = nodes_of(&store);
        let product = store.product("Eight writers").await;
        let mut initial = BTreeSet::new();
        for _ in 0..6 {
            initial.insert(id(&proxy.append(product, "w.jpg", None).await.1));
        }

        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let node = nodes[w % nodes.len()].clone();
                let other = nodes[(w + 1) % nodes.len()].clone();
                tokio::spawn(writer(w, node, other, product, 12))
            })
            .collect();
        let mut created = BTreeSet::new();
        let mut deleted = BTreeSet::new();
        for task in tasks {
            let outcome = task.await.unwrap();
            created.extend(outcome.created);
            for image in outcome.deleted {
                assert!(deleted.insert(image), "image {image} was deleted twice");
            }
        }

        let ids = assert_consistent(&nodes, product).await;
        let expected: BTreeSet<i64> = initial.union(&created).copied().collect();
        let expected: BTreeSet<i64> = expected.difference(&deleted).copied().collect();
        assert_eq!(
            ids, expected,
            "the images are the created ones less the deleted ones"
        );
        assert_eq!(
            ids.len(),
            initial.len() + created.len() - deleted.len(),
            "count = creates − deletes"
        );
        assert!(
            !created.is_empty() && !deleted.is_empty(),
            "the script wrote both ways"
        );
        if let Some(cluster) = store.server.nodes() {
            let answered = cluster.proxy.answered();
            assert_eq!(
                answered.len(),
                nodes.len(),
                "the proxy used every node: {answered:?}"
            );
        }
    })
    .await
    .expect("the test finished within its limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_idempotency_key_sent_to_every_node_at_once_makes_one_image() {
    tokio::time::timeout(LIMIT, async {
        let store = start_as(Topology::proxied_from_env(), |_| {}).await;
        store.import_jpeg("k.jpg", 3);
        let (nodes, _) = nodes_of(&store);
        let product = store.product("One key").await;
        for round in 0..3 {
            let key = format!("same-key-{round}");
            let sends: Vec<_> = (0..WRITERS)
                .map(|i| {
                    let node = nodes[i % nodes.len()].clone();
                    let key = key.clone();
                    tokio::spawn(async move { node.append(product, "k.jpg", Some(&key)).await })
                })
                .collect();
            let mut ids = HashSet::new();
            let mut fresh = 0;
            for send in sends {
                let (status, body, replayed) = send.await.unwrap();
                // SPEC §3: a repeat of a key still being processed elsewhere waits for the
                // first answer or gets 409 — never a second image.
                match status {
                    201 => {
                        ids.insert(id(&body));
                        if !replayed {
                            fresh += 1;
                        }
                    }
                    409 => {}
                    other => panic!("{key}: {other} {body}"),
                }
            }
            assert_eq!(
                ids.len(),
                1,
                "{key}: every 201 names the same image: {ids:?}"
            );
            assert_eq!(
                fresh, 1,
                "{key}: one answer is the first, the others replays"
            );
        }
        let ids = assert_consistent(&nodes, product).await;
        assert_eq!(ids.len(), 3, "one image per key");
    })
    .await
    .expect("the test finished within its limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appends_racing_at_the_image_limit_stop_exactly_at_it() {
    // The same check as SPEC's 1000 (a 409 past `max_images_per_product`), lowered so that the
    // race happens near the limit without a thousand uploads first.
    const MAX: usize = 12;
    const BEFORE: usize = 4;
    tokio::time::timeout(LIMIT, async {
        let store = start_as(Topology::proxied_from_env(), |c| {
            c.max_images_per_product = MAX as i64;
        })
        .await;
        store.import_jpeg("l.jpg", 5);
        let (nodes, proxy) = nodes_of(&store);
        let product = store.product("Near the limit").await;
        for _ in 0..BEFORE {
            assert_eq!(proxy.append(product, "l.jpg", None).await.0, 201);
        }
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let node = nodes[w % nodes.len()].clone();
                tokio::spawn(async move {
                    let mut outcome = Outcome::default();
                    for _ in 0..2 {
                        match node.append(product, "l.jpg", None).await {
                            (201, body, _) => {
                                outcome.created.insert(id(&body));
                            }
                            (409, _, _) => outcome.refused_past_limit += 1,
                            (status, body, _) => panic!("{status} {body}"),
                        }
                    }
                    outcome
                })
            })
            .collect();
        let (mut created, mut refused) = (0, 0);
        for task in tasks {
            let outcome = task.await.unwrap();
            created += outcome.created.len();
            refused += outcome.refused_past_limit;
        }
        assert_eq!(created, MAX - BEFORE, "appends up to the limit land");
        assert_eq!(refused, 2 * WRITERS - (MAX - BEFORE), "the rest get 409");
        let ids = assert_consistent(&nodes, product).await;
        assert_eq!(ids.len(), MAX);
    })
    .await
    .expect("the test finished within its limit");
}

/// A multipart v2 upload body: the picture in `image_file`, and a description.
fn multipart(picture: &[u8], description: &str) -> (String, Vec<u8>) {
    let boundary = "imagedesk-multi-node-boundary";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image_file\"; \
             filename=\"slow.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(picture);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n\
             {description}\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Every file a record names answers 200: the original and its four copies.
async fn assert_every_file_is_there(node: &Node, images: &[Value]) {
    for image in images {
        let file = image["image_file"].as_str().unwrap();
        let mut urls = vec![format!("{}/product_images/{file}", node.base)];
        for variant in ["zoom_url", "standard_url", "thumbnail_url", "tiny_url"] {
            urls.push(image[variant].as_str().unwrap().to_owned());
        }
        for url in urls {
            let response = node.http.get(&url).send().await.unwrap();
            assert_eq!(response.status(), 200, "{url} (image {})", id(image));
            assert!(!response.bytes().await.unwrap().is_empty(), "{url}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_upload_leaves_the_store_whole_and_the_upload_lands_once() {
    tokio::time::timeout(LIMIT, async {
        let topology = Topology::proxied_from_env();
        let data = tempfile::tempdir().unwrap();
        let import = tempfile::tempdir().unwrap();
        let shared = SharedStore::create(topology.store).await;
        let mut cluster =
            ProcessNodes::start(shared, topology.node_count(), data.path(), import.path()).await;
        let proxy = Node::new(cluster.proxy.base_url());
        let client = client_for(&format!("{}/api/v2", proxy.base));
        let product = client
            .create_product(&imagedesk::api::NewProduct {
                name: "Killed mid-upload".into(),
                sku: String::new(),
            })
            .await
            .unwrap()
            .id;
        std::fs::write(import.path().join("before.jpg"), small_jpeg(1)).unwrap();
        for _ in 0..3 {
            assert_eq!(proxy.append(product, "before.jpg", None).await.0, 201);
        }

        // A large picture sent slowly, straight to node 0, which is killed half-way through.
        let picture = imagedesk::imaging::synthetic::jpeg(
            &imagedesk::imaging::synthetic::photo(2000, 1500, 9),
            95,
            false,
            None,
        );
        let (content_type, body) = multipart(&picture, "sent twice");
        let chunks: Vec<bytes::Bytes> = body
            .chunks(16 * 1024)
            .map(bytes::Bytes::copy_from_slice)
            .collect();
        let total = chunks.len();
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        let slow = futures_util::stream::iter(chunks).then(move |chunk| {
            let counter = counter.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                counter.fetch_add(1, Ordering::SeqCst);
                Ok::<_, std::io::Error>(chunk)
            }
        });
        let victim = Node::new(cluster.nodes[0].url.clone());
        let key = "killed-upload";
        let upload = tokio::spawn({
            let victim = victim.clone();
            let content_type = content_type.clone();
            let length = body.len();
            async move {
                victim
                    .http
                    .post(victim.url(&format!("/products/{product}/images")))
                    .header("X-Auth-Token", TOKEN)
                    .header("Idempotency-Key", key)
                    .header("Content-Type", content_type)
                    .header("Content-Length", length)
                    .body(reqwest::Body::wrap_stream(slow))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }
        });
        while sent.load(Ordering::SeqCst) < total / 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cluster.kill(0).await;
        assert!(
            sent.load(Ordering::SeqCst) < total,
            "the node was killed before the whole body was sent"
        );
        match upload.await.unwrap() {
            Ok(status) => assert_ne!(status, 201, "a killed node answered a create"),
            Err(err) => assert!(!err.is_timeout(), "{err:?}"),
        }

        let resend = |node: Node| {
            let (content_type, body) = (content_type.clone(), body.clone());
            async move {
                let (status, value, headers) = node
                    .send(
                        node.http
                            .post(node.url(&format!("/products/{product}/images")))
                            .header("Idempotency-Key", key)
                            .header("Content-Type", content_type)
                            .body(body),
                    )
                    .await;
                assert_eq!(status, 201, "{value}");
                (id(&value), headers.contains_key("Idempotent-Replayed"))
            }
        };
        let live: Vec<Node> = cluster.nodes[1..]
            .iter()
            .map(|n| Node::new(n.url.clone()))
            .collect();
        let landed = if live.is_empty() {
            // One node: the store is back when the node is.
            cluster.restart(0).await;
            resend(proxy.clone()).await
        } else {
            // The others serve while node 0 is down: reads, and the upload sent again.
            assert_eq!(assert_consistent(&live, product).await.len(), 3);
            let landed = resend(proxy.clone()).await;
            cluster.restart(0).await;
            landed
        };
        assert!(
            !landed.1,
            "the killed upload never committed, so this is the first answer"
        );
        // Sent once more, through every node: the same image.
        for node in std::iter::once(Node::new(cluster.nodes[0].url.clone())).chain(live) {
            assert_eq!(resend(node).await, (landed.0, true));
        }

        let nodes: Vec<Node> = cluster.node_urls().into_iter().map(Node::new).collect();
        let ids = assert_consistent(&nodes, product).await;
        assert_eq!(ids.len(), 4, "three before, and the upload exactly once");
        let described: Vec<i64> = nodes[0]
            .images(product)
            .await
            .iter()
            .filter(|i| i["description"] == "sent twice")
            .map(id)
            .collect();
        assert_eq!(described, vec![landed.0]);
        for node in &nodes {
            let images = node.images(product).await;
            assert_every_file_is_there(node, &images).await;
        }
        cluster.shutdown().await;
    })
    .await
    .expect("the test finished within its limit");
}

/// A bare node for the proxy's own tests: answers its name, the `Host` it was sent and the
/// length of the body it read, and refuses any body over 1 KiB with 413 before reading it (as
/// `serve` refuses 9 MiB).
async fn named_node(name: &'static str) -> String {
    use axum::extract::Request;
    use axum::http::{StatusCode, header};
    let app = axum::Router::new().fallback(move |request: Request| async move {
        let headers = request.headers();
        let length: u64 = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0);
        if length > 1024 {
            return (StatusCode::PAYLOAD_TOO_LARGE, "too large".to_owned());
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let body = axum::body::to_bytes(request.into_body(), 1024)
            .await
            .unwrap();
        (StatusCode::OK, format!("{name} {host} {}", body.len()))
    });
    common::stub::serve_on_loopback(app).await
}

#[tokio::test]
async fn the_proxy_sends_each_request_of_one_connection_to_the_next_node_with_its_host() {
    let nodes = vec![named_node("a").await, named_node("b").await];
    let mut proxy = common::nodes::Proxy::start(([127, 0, 0, 1], 0).into(), nodes).await;
    // One client, one kept-alive connection to the proxy.
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for _ in 0..4 {
        let text = http
            .get(format!("{}/anything", proxy.base_url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        seen.push(text);
    }
    let host = proxy.addr().to_string();
    assert_eq!(
        seen,
        ["a", "b", "a", "b"].map(|n| format!("{n} {host} 0")),
        "alternating per request, Host kept"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_answer_given_before_a_large_body_is_read_reaches_the_client() {
    // Without waiting for `100 Continue` the proxy got a broken pipe from the node here and
    // answered 502 (api_images' 9 MiB refusal failed behind it).
    let mut proxy =
        common::nodes::Proxy::start(([127, 0, 0, 1], 0).into(), vec![named_node("a").await]).await;
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let response = http
            .post(format!("{}/upload", proxy.base_url()))
            .body(vec![b'x'; 9 * 1024 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413);
    }
    let small = http
        .post(format!("{}/upload", proxy.base_url()))
        .body("small")
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    assert_eq!(
        small.text().await.unwrap(),
        format!("a {} 5", proxy.addr()),
        "a body the node reads goes through"
    );
    proxy.shutdown().await;
}
