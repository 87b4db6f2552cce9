//! Two in-process nodes over one real PostgreSQL database (`tests/common/postgres.rs`), each
//! with its own data directory: what SPEC §3 promises of the records across nodes. Writes to
//! one product are serialised by its row lock (no tied sort_order, one thumbnail, exact
//! counts), an `Idempotency-Key` sent to both nodes at once makes one image, and a write on
//! one node is in the next list read on the other, whatever the other had cached.

mod common;

use std::path::Path;

use futures_util::future::join_all;
use imagedesk::api::Image;
use imagedesk::server::{Config, RecordsAt};
use serde_json::json;

use common::{TOKEN, TestStore};

/// Two nodes over one fresh database, reading `image_file` paths from one import directory.
async fn two_nodes() -> (TestStore, TestStore) {
    two_nodes_with(|_| {}).await
}

/// [`two_nodes`], both configured by `adjust`. They start together: the schema is created
/// once, under sqlx's advisory lock, while the other node waits.
async fn two_nodes_with(adjust: impl Fn(&mut Config) + Clone) -> (TestStore, TestStore) {
    let url = tokio::task::spawn_blocking(common::postgres::database)
        .await
        .unwrap();
    let records: RecordsAt = url.parse().unwrap();
    let import = tempfile::tempdir().unwrap();
    let shared = import.path().to_path_buf();
    let node = |records: RecordsAt| {
        let (adjust, shared) = (adjust.clone(), shared.clone());
        common::start_with(move |config| {
            config.records = records;
            config.import_dir = Some(shared);
            adjust(config);
        })
    };
    let (mut first, second) = tokio::join!(node(records.clone()), node(records));
    // `first.import` is where the tests write the files both nodes read.
    first.import = import;
    (first, second)
}

fn server(store: &TestStore) -> &common::StoreServer {
    &store.server
}

async fn post_image(
    node: &TestStore,
    product: i64,
    body: serde_json::Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = node
        .raw()
        .post(format!(
            "{}/products/{product}/images.json",
            server(node).api_url()
        ))
        .header("X-Auth-Token", TOKEN)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

async fn list(node: &TestStore, product: i64) -> Vec<Image> {
    let response = node
        .raw()
        .get(format!(
            "{}/products/{product}/images.json?limit=250",
            server(node).api_url()
        ))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn count(node: &TestStore, path: &str) -> u64 {
    let response = node
        .raw()
        .get(format!("{}/{path}", server(node).api_url()))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    body["count"].as_u64().unwrap()
}

fn import(dir: &Path, name: &str, seed: u64) -> String {
    std::fs::write(dir.join(name), common::small_jpeg(seed)).unwrap();
    name.to_owned()
}

/// 2 × 20 appends at once, alternating nodes: every one gets its own place after the others
/// (no two tie), none is lost, the product has one thumbnail, and both counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_through_two_nodes_never_tie() {
    let (a, b) = two_nodes().await;
    let product = a.product("Lamp").await;
    let other = b.product("Mug").await;
    let names: Vec<String> = (0..4)
        .map(|n| import(a.import.path(), &format!("p{n}.jpg"), n))
        .collect();
    let posts = (0..40).map(|n| {
        let node = if n % 2 == 0 { &a } else { &b };
        let body = json!({ "image_file": names[n % names.len()] });
        async move { post_image(node, product, body, None).await.status() }
    });
    let statuses = join_all(posts).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let images = list(&b, product).await;
    let mut places: Vec<i64> = images.iter().map(|i| i.sort_order).collect();
    places.sort_unstable();
    assert_eq!(places, (0..40).collect::<Vec<_>>());
    assert_eq!(images.iter().filter(|i| i.is_thumbnail).count(), 1);
    assert_eq!(list(&a, product).await.len(), 40);
    for node in [&a, &b] {
        assert_eq!(
            count(node, &format!("products/{product}/images/count.json")).await,
            40
        );
        assert_eq!(
            count(node, &format!("products/{other}/images/count.json")).await,
            0
        );
        assert_eq!(count(node, "products/images/count.json").await, 40);
    }
}

/// The same `Idempotency-Key` sent eight times at once, to both nodes: one image, and every
/// answer is that image (the later ones replayed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_posted_to_two_nodes_at_once_makes_one_image() {
    let (a, b) = two_nodes().await;
    let product = a.product("Lamp").await;
    // Bodies differ (a repeat gets the first answer whatever it sends), and so do their
    // pictures: no upload waits for another's picture lock, so the creates race.
    let names: Vec<String> = (0..8)
        .map(|n| import(a.import.path(), &format!("once-{n}.jpg"), 70 + n))
        .collect();
    let posts = names.iter().enumerate().map(|(n, name)| {
        let node = if n % 2 == 0 { &a } else { &b };
        let body = json!({ "image_file": name, "description": format!("try {n}") });
        async move {
            let response = post_image(node, product, body, Some("create-once-1")).await;
            let replayed = response.headers().contains_key("idempotent-replayed");
            assert_eq!(response.status(), 201);
            let image: Image = response.json().await.unwrap();
            (image.id, replayed)
        }
    });
    let answers = join_all(posts).await;
    let images = list(&b, product).await;
    assert_eq!(images.len(), 1, "{answers:?}");
    assert!(
        answers.iter().all(|(id, _)| *id == images[0].id),
        "{answers:?}"
    );
    assert_eq!(answers.iter().filter(|(_, replayed)| !replayed).count(), 1);
    assert_eq!(count(&a, "products/images/count.json").await, 1);
}

/// A node's cached list is not served after another node's write: the next read on the
/// caching node shows the write (SPEC §3, "seen by the next read on every other node").
#[tokio::test]
async fn a_write_on_one_node_is_in_the_next_list_on_the_other() {
    let (a, b) = two_nodes().await;
    let product = a.product("Lamp").await;
    let first = import(a.import.path(), "first.jpg", 1);
    let second = import(a.import.path(), "second.jpg", 2);
    assert_eq!(
        post_image(&a, product, json!({ "image_file": first }), None)
            .await
            .status(),
        201
    );
    // B reads twice: the second answer may come from its cache.
    let before = list(&b, product).await;
    assert_eq!(list(&b, product).await.len(), 1);
    assert_eq!(
        post_image(&a, product, json!({ "image_file": second }), None)
            .await
            .status(),
        201
    );
    let after = list(&b, product).await;
    assert_eq!(after.len(), 2, "node B served its cached page");
    // A move on B, read on A (cached there too) and on B.
    assert_eq!(list(&a, product).await.len(), 2);
    let moved = after[1].id;
    let response = b
        .raw()
        .put(format!(
            "{}/products/{product}/images/{moved}.json",
            b.server.api_url()
        ))
        .header("X-Auth-Token", TOKEN)
        .json(&json!({ "sort_order": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for node in [&a, &b] {
        let ids: Vec<i64> = list(node, product).await.iter().map(|i| i.id).collect();
        assert_eq!(ids, [moved, before[0].id]);
    }
}

/// `--seed-synthetic` fills a PostgreSQL store as it fills SQLite's: the counts, which the
/// bulk load writes once instead of through the triggers, are exact, and the products made
/// afterwards get new ids after the seeded ones.
#[tokio::test]
async fn a_synthetic_seed_fills_a_postgres_store() {
    let url = tokio::task::spawn_blocking(common::postgres::database)
        .await
        .unwrap();
    let records: RecordsAt = url.parse().unwrap();
    let spec = "30:400".parse().unwrap();
    let store = common::start_with(move |config| {
        config.records = records;
        config.seed_synthetic = Some(spec);
    })
    .await;
    assert_eq!(count(&store, "products/count.json").await, 30);
    assert_eq!(count(&store, "products/images/count.json").await, 400);
    let mut per_product = 0;
    for product in 1..=30 {
        let listed = list(&store, product).await.len() as u64;
        assert_eq!(
            count(&store, &format!("products/{product}/images/count.json")).await,
            listed
        );
        per_product += listed;
    }
    assert_eq!(per_product, 400);
    let added = store.product("After the seed").await;
    assert_eq!(added, 31);
    let name = import(store.import.path(), "new.jpg", 3);
    let response = post_image(&store, 2, json!({ "image_file": name }), None).await;
    assert_eq!(response.status(), 201);
    assert_eq!(count(&store, "products/images/count.json").await, 401);
}

/// The image limit is checked inside the product's locked transaction: 12 appends at once to a
/// product that may hold 5, through two nodes, leave exactly 5 images; the others get 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_image_limit_holds_across_nodes() {
    let (a, b) = two_nodes_with(|config| config.max_images_per_product = 5).await;
    let product = a.product("Lamp").await;
    let name = import(a.import.path(), "limit.jpg", 5);
    let posts = (0..12).map(|n| {
        let node = if n % 2 == 0 { &a } else { &b };
        let body = json!({ "image_file": name });
        async move {
            post_image(node, product, body, None)
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = join_all(posts).await;
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [201, 201, 201, 201, 201, 409, 409, 409, 409, 409, 409, 409]
    );
    assert_eq!(list(&b, product).await.len(), 5);
    assert_eq!(
        count(&a, &format!("products/{product}/images/count.json")).await,
        5
    );
}

/// PostgreSQL stores no NUL character in text: a write that sends one is refused (400, nothing
/// stored), not failed (500); a search for one finds nothing.
#[tokio::test]
async fn text_with_a_nul_character_is_refused_not_failed() {
    let (a, _b) = two_nodes().await;
    let product = a.product("Lamp").await;
    let name = import(a.import.path(), "nul.jpg", 9);
    let response = post_image(
        &a,
        product,
        json!({ "image_file": name, "description": "a\u{0}b" }),
        None,
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(list(&a, product).await.is_empty());
    let response = a
        .raw()
        .get(format!("{}/products.json?name=a%00b", a.server.api_url()))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "[]");
}

/// Concurrent moves through both nodes keep the shift rule whole: ten images each moved to
/// the front at once (every move shifts all the others) end with ten distinct places, one
/// image (the last move's) at 0, and still one thumbnail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_moves_through_two_nodes_keep_places_distinct() {
    let (a, b) = two_nodes().await;
    let product = a.product("Lamp").await;
    let name = import(a.import.path(), "move.jpg", 4);
    for _ in 0..10 {
        let response = post_image(&a, product, json!({ "image_file": name }), None).await;
        assert_eq!(response.status(), 201);
    }
    let ids: Vec<i64> = list(&a, product).await.iter().map(|i| i.id).collect();
    let moves = ids.iter().enumerate().map(|(n, id)| {
        let node = if n % 2 == 0 { &a } else { &b };
        async move {
            node.raw()
                .put(format!(
                    "{}/products/{product}/images/{id}.json",
                    node.server.api_url()
                ))
                .header("X-Auth-Token", TOKEN)
                .json(&json!({ "sort_order": 0, "description": format!("moved {n}") }))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let statuses = join_all(moves).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let images = list(&b, product).await;
    let mut places: Vec<i64> = images.iter().map(|i| i.sort_order).collect();
    places.dedup();
    assert_eq!(places.len(), 10, "{images:?}");
    assert_eq!(images.iter().filter(|i| i.is_thumbnail).count(), 1);
    assert_eq!(images[0].sort_order, 0);
    assert!(images[1..].iter().all(|i| i.sort_order > 0));
}

async fn put_image(node: &TestStore, product: i64, image: i64, body: serde_json::Value) -> u16 {
    node.raw()
        .put(format!(
            "{}/products/{product}/images/{image}.json",
            server(node).api_url()
        ))
        .header("X-Auth-Token", TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Two products swap their pictures again and again, through both nodes at once. Each swap
/// adds a reference to one shared picture and releases the other, in opposite orders on the two
/// products: without one order for every transaction's picture rows, PostgreSQL found a
/// deadlock and one of the two PUTs failed with a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn products_swapping_pictures_at_once_never_deadlock() {
    let (a, b) = two_nodes().await;
    let (first, second) = (a.product("Left").await, b.product("Right").await);
    let pictures = [
        import(a.import.path(), "one.jpg", 1),
        import(a.import.path(), "two.jpg", 2),
    ];
    let left = post_image(&a, first, json!({ "image_file": pictures[0] }), None).await;
    let right = post_image(&b, second, json!({ "image_file": pictures[1] }), None).await;
    let left: Image = left.json().await.unwrap();
    let right: Image = right.json().await.unwrap();
    for round in 0..12 {
        let (to_left, to_right) = (&pictures[(round + 1) % 2], &pictures[round % 2]);
        let (l, r) = tokio::join!(
            put_image(&a, first, left.id, json!({ "image_file": to_left })),
            put_image(&b, second, right.id, json!({ "image_file": to_right })),
        );
        assert_eq!((l, r), (200, 200), "round {round}");
    }
    assert_eq!(list(&a, first).await.len(), 1);
    assert_eq!(list(&b, second).await.len(), 1);
}

/// Two nodes started together with `--seed-demo` on one database seed it once: every demo
/// product once, with its pictures once (both nodes made them all before the seed took a lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_started_together_seed_the_demo_once() {
    let (a, b) = two_nodes_with(|config| config.seed_demo = true).await;
    let response = a
        .raw()
        .get(format!("{}/products.json?limit=250", server(&a).api_url()))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    let products: Vec<serde_json::Value> = response.json().await.unwrap();
    let mut skus: Vec<&str> = products
        .iter()
        .map(|p| p["sku"].as_str().unwrap())
        .collect();
    let all = skus.len();
    skus.sort_unstable();
    skus.dedup();
    assert!(all > 0, "nothing seeded");
    assert_eq!(
        skus.len(),
        all,
        "a demo product was seeded twice: {products:?}"
    );
    let images = count(&b, "products/images/count.json").await;
    let paths: Vec<String> = products
        .iter()
        .map(|p| format!("products/{}/images/count.json", p["id"]))
        .collect();
    let per_product: u64 = join_all(paths.iter().map(|path| count(&b, path)))
        .await
        .into_iter()
        .sum();
    assert_eq!(images, per_product);
}
