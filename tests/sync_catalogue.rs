//! Catalogues of 100,000 products (issue 13): the engine never lists every product's images on a
//! timer. A round with nothing changed costs two requests (products changed since the newest
//! date seen, and the product count); a change to k products costs ⌈k/250⌉ + k + 1; products
//! are read once by a paced, resumable sweep; the product the user opens goes first; a store
//! whose product list ignores `min_date_modified` is swept at most once per product per
//! `sweep_again_after`.
//!
//! Rules are tried on the in-memory model store (its request counters), and the two-request
//! round once more on the real server, counted by its own `/metrics`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::engine::{open, quick_config};
use imagedesk::api::NewProduct;
use imagedesk::sync::memory_store::{CallKind, Fault, MemoryStore};
use imagedesk::sync::{Engine, EngineConfig};

/// Every kind of request but the probes (a TCP connect on the real client, no HTTP request).
const COUNTED: [CallKind; 11] = [
    CallKind::ListProducts,
    CallKind::ListImages,
    CallKind::GetImage,
    CallKind::Create,
    CallKind::Update,
    CallKind::Delete,
    CallKind::DeleteAll,
    CallKind::CountImages,
    CallKind::CountProducts,
    CallKind::FetchAsset,
    CallKind::UploadRoute,
];

fn requests(store: &MemoryStore) -> u64 {
    COUNTED.iter().map(|kind| store.requests(*kind)).sum()
}

fn sweeping_config(dir: &Path) -> EngineConfig {
    let mut config = quick_config(dir);
    config.background_interval = Duration::from_millis(1);
    config
}

/// A store of `products` products, each of the first `with_images` with two images.
fn store_with(products: usize, with_images: usize) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    for p in 0..products {
        let product = store.add_product(&format!("Product {p}"), &format!("SKU-{p:05}"));
        if p < with_images {
            for view in ["front", "back"] {
                store
                    .other_add(
                        product.id,
                        &format!("http://pictures.test/{p}-{view}.jpg"),
                        view,
                        None,
                    )
                    .unwrap();
            }
        }
    }
    store
}

/// Runs one round (a refresh) to its end: the status's `last_sync` moves when a round ends well.
async fn round(engine: &Engine) {
    let before = engine.status().last_sync;
    engine.refresh();
    let mut status = engine.watch_status();
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if status.borrow_and_update().last_sync != before {
                return;
            }
            status.changed().await.unwrap();
        }
    })
    .await
    .expect("a round ended within 30 s");
}

/// Caught up, then past the second of the newest date (see `pull::SETTLE`), then one round
/// that settles what was read in that second: from here on nothing is read twice.
async fn steady(engine: &Engine) {
    let status = engine.caught_up(Duration::from_secs(60)).await;
    let unread = engine.products_unread().await.unwrap();
    assert_eq!(unread, 0, "every product read once: {status:?}");
    tokio::time::sleep(Duration::from_millis(1600)).await;
    round(engine).await;
}

#[tokio::test]
async fn a_round_with_nothing_changed_costs_two_requests() {
    let store = store_with(1000, 50);
    let dir = tempfile::tempdir().unwrap();
    let engine = open(sweeping_config(dir.path()), &store).await;
    steady(&engine).await;
    assert_eq!(
        store.requests(CallKind::ListImages),
        store.image_lists().len() as u64,
        "the log and the counter agree"
    );
    let lists_before = store.image_lists().len();
    for _ in 0..3 {
        let before = requests(&store);
        round(&engine).await;
        let spent = requests(&store) - before;
        assert!(
            spent <= 2,
            "a round with nothing changed sent {spent} requests"
        );
    }
    assert_eq!(
        store.image_lists().len(),
        lists_before,
        "no product's images were read again"
    );
    // And the sweep read each product once: 1000 products, a handful of settling reads.
    let lists = store.image_lists();
    assert!(
        lists.len() <= 1000 + 5,
        "{} image lists for 1000 products",
        lists.len()
    );
    let images: usize = engine
        .products()
        .await
        .unwrap()
        .iter()
        .map(|p| p.image_count as usize)
        .sum();
    assert_eq!(images, 100, "every image is in the replica");
    engine.close().await;
}

#[tokio::test]
async fn after_k_products_change_the_next_round_reads_only_them() {
    let store = store_with(600, 600);
    let dir = tempfile::tempdir().unwrap();
    let engine = open(sweeping_config(dir.path()), &store).await;
    steady(&engine).await;
    let products = store.products();
    let changed: Vec<i64> = products.iter().step_by(50).map(|p| p.id).collect();
    let k = changed.len() as u64;
    for &product_id in &changed {
        let first = store.images(product_id)[0].id;
        store
            .other_describe(product_id, first, "changed by someone else")
            .unwrap();
    }
    let before = requests(&store);
    let lists_before = store.image_lists().len();
    round(&engine).await;
    let spent = requests(&store) - before;
    assert!(
        spent <= k.div_ceil(250) + k + 1,
        "{spent} requests after {k} products changed"
    );
    let mut read: Vec<i64> = store.image_lists()[lists_before..].to_vec();
    read.sort_unstable();
    assert_eq!(read, changed, "exactly the changed products were read");
    for &product_id in &changed {
        let images = engine.images(product_id).await.unwrap();
        assert!(
            images
                .iter()
                .any(|i| i.description == "changed by someone else"),
            "product {product_id} shows the change"
        );
    }
    engine.close().await;
}

#[tokio::test]
async fn a_change_whose_read_failed_is_read_by_the_next_round() {
    let store = store_with(20, 20);
    let dir = tempfile::tempdir().unwrap();
    let engine = open(sweeping_config(dir.path()), &store).await;
    steady(&engine).await;
    let product = store.products()[4].id;
    let first = store.images(product)[0].id;
    store.other_describe(product, first, "changed").unwrap();
    // The round lists the change, then its read is refused: the round fails after the
    // product list (and its newer dates) were merged.
    store.inject(
        CallKind::ListImages,
        Fault::RateLimited { retry_after: None },
    );
    round(&engine).await;
    let images = engine.images(product).await.unwrap();
    assert!(
        images.iter().any(|i| i.description == "changed"),
        "the change was never read: {images:?}"
    );
    engine.close().await;
}

#[tokio::test]
async fn the_shown_product_is_read_before_background_work() {
    let store = store_with(400, 400);
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick_config(dir.path());
    // A slow sweep, so that it is still going when the user opens a product.
    config.background_interval = Duration::from_millis(40);
    let engine = open(config, &store).await;
    let last = store.products().last().unwrap().id;
    // Wait for the sweep to be under way.
    tokio::time::timeout(Duration::from_secs(20), async {
        while store.image_lists().len() < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let asked_before = store.image_lists().len();
    engine.show_product(Some(last));
    tokio::time::timeout(Duration::from_secs(20), async {
        while !store.image_lists().contains(&last) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the shown product was read");
    let lists = store.image_lists();
    let position = lists.iter().position(|p| *p == last).unwrap();
    assert!(
        position <= asked_before + 1,
        "the shown product was read after {} background reads",
        position - asked_before
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while engine.images(last).await.unwrap().len() != 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("its images are in the replica");
    engine.close().await;
}

#[tokio::test]
async fn an_edit_goes_out_before_more_background_work() {
    let store = store_with(400, 400);
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick_config(dir.path());
    config.background_interval = Duration::from_millis(40);
    let engine = open(config, &store).await;
    let first = store.products()[0].id;
    engine.show_product(Some(first));
    let image = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(image) = engine.images(first).await.unwrap().first() {
                return image.id;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    // The sweep is under way when the edit is made.
    tokio::time::timeout(Duration::from_secs(20), async {
        while store.image_lists().len() < 5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    let asked_before = store.image_lists().len();
    engine.describe(image, "sent first").await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        while store.images(first)[0].description != "sent first" {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the edit reached the store");
    let background = store.image_lists()[asked_before..]
        .iter()
        .filter(|p| **p != first)
        .count();
    assert!(
        background <= 1,
        "{background} background reads went before the edit"
    );
    engine.close().await;
}

#[tokio::test]
async fn the_sweep_goes_on_after_a_restart_where_it_stopped() {
    let store = store_with(300, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut config = quick_config(dir.path());
    config.background_interval = Duration::from_millis(5);
    let engine = open(config.clone(), &store).await;
    tokio::time::timeout(Duration::from_secs(20), async {
        while store.image_lists().len() < 50 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    engine.close().await;
    let engine = open(config, &store).await;
    engine.caught_up(Duration::from_secs(60)).await;
    assert_eq!(engine.products_unread().await.unwrap(), 0);
    let mut lists = store.image_lists();
    let total = lists.len();
    lists.sort_unstable();
    lists.dedup();
    assert_eq!(lists.len(), 300, "every product was read");
    assert!(
        total <= 300 + 2,
        "{total} reads for 300 products: the second engine read again what the first had read"
    );
    engine.close().await;
}

#[tokio::test]
async fn a_store_that_ignores_min_date_modified_is_swept_at_most_once_per_interval() {
    let store = store_with(40, 40);
    store.set_product_dates(false, true);
    let dir = tempfile::tempdir().unwrap();
    let mut config = sweeping_config(dir.path());
    config.sweep_again_after = Duration::from_millis(600);
    let engine = open(config, &store).await;
    engine.caught_up(Duration::from_secs(30)).await;
    assert_eq!(engine.products_unread().await.unwrap(), 0);
    // A round learns that the filter is ignored (the whole list comes back).
    round(&engine).await;
    let started = std::time::Instant::now();
    let lists_before = store.image_lists().len();
    let product_lists_before = store.requests(CallKind::ListProducts);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let reads = (store.image_lists().len() - lists_before) as f64;
    // At most one read per product per 600 ms (one more per product for the window's edges).
    let allowed = 40.0 * (elapsed / 0.6 + 1.0);
    assert!(
        reads <= allowed,
        "{reads} reads of 40 products in {elapsed:.1} s"
    );
    assert!(reads >= 40.0, "the sweep read the products again: {reads}");
    // And a change is found by that sweep, without any round.
    let product = store.products()[7].id;
    let first = store.images(product)[0].id;
    store
        .other_describe(product, first, "seen by the sweep")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let images = engine.images(product).await.unwrap();
            if images.iter().any(|i| i.description == "seen by the sweep") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the sweep found the change");
    assert!(
        store.requests(CallKind::ListProducts) <= product_lists_before + 4,
        "the product list is read once per interval"
    );
    engine.close().await;
}

#[tokio::test]
async fn products_deleted_and_added_elsewhere_are_noticed_by_the_count_and_the_dates() {
    let store = store_with(30, 30);
    let dir = tempfile::tempdir().unwrap();
    let engine = open(sweeping_config(dir.path()), &store).await;
    steady(&engine).await;
    let doomed = store.products()[3].id;
    store.other_delete_product(doomed);
    let added = store.add_product("Added elsewhere", "SKU-NEW");
    round(&engine).await;
    let ids: Vec<i64> = engine
        .products()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert!(!ids.contains(&doomed), "the deleted product is gone");
    assert!(ids.contains(&added.id), "the new product is listed");
    engine.close().await;
}

/// The proof on the real server: 1,000 products, requests counted by its `/metrics`.
#[tokio::test]
async fn on_the_real_server_a_steady_round_costs_at_most_two_requests() {
    let store = common::start().await;
    for p in 0..1000 {
        store
            .client
            .create_product(&NewProduct {
                name: format!("Product {p}"),
                sku: format!("SKU-{p:05}"),
            })
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::in_dir(dir.path());
    config.pull_interval = Duration::from_secs(3600);
    config.background_interval = Duration::from_millis(1);
    let engine = Engine::open(config, common::client_for(&store.server.api_url()))
        .await
        .unwrap();
    steady(&engine).await;
    let http = reqwest::Client::new();
    let api_requests = || async {
        let text = http
            .get(store.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        api_request_total(&text)
    };
    let first = api_requests().await;
    assert!(first >= 1000, "the sweep read every product: {first}");
    for _ in 0..3 {
        let before = api_requests().await;
        round(&engine).await;
        let spent = api_requests().await - before;
        assert!(spent <= 2, "a steady round sent {spent} requests");
    }
    engine.close().await;
}

/// Requests to `/api/v2` counted in the Prometheus text of `/metrics`.
fn api_request_total(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("imagedesk_http_requests_total{"))
        .filter(|line| line.contains("route=\"/api/v2"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|n| n as u64)
        .sum()
}
