//! The sync engine over the real HTTP client against `serve --compat bc-v2 --faults SEED`: a
//! store that behaves like a real BigCommerce v2 store (ids in id order, 204 on empty lists,
//! null descriptions, no `*_url` in write answers, `Idempotency-Key` ignored, local files only
//! through v3) and whose front answers some requests with 502, closes connections, and loses
//! answers after the write committed. A session of edits must end with each image on the store
//! exactly once and the store equal to what the engine shows (SPEC §2).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use imagedesk::api::{Client, Image};
use imagedesk::server::Config;
use imagedesk::sync::{Connection, Engine, EngineConfig, ImageId};

/// The whole test, start to verdict: far above what it needs on a loaded two-core machine.
const LIMIT: Duration = Duration::from_secs(240);
/// Fault seeds: each gives another sequence of 502s, closed connections and lost answers.
const SEEDS: [u64; 4] = [20_261_130, 7, 42, 1_000_003];

/// A BigCommerce-like v2 store that also downloads from loopback (the test's picture host).
fn bc_v2_with_loopback_urls(config: &mut Config) {
    bc_v2(config);
    config.allow_private_urls = true;
}

/// The same store over the same data, with or without faults.
async fn serve(stopped: &StoppedStore, fault_seed: Option<u64>) -> common::StoreServer {
    stopped
        .serve_with(|c| {
            bc_v2_with_loopback_urls(c);
            if let Some(seed) = fault_seed {
                faults(c, seed, 20);
            }
        })
        .await
}

/// A product's images as a store without faults lists them, in display order.
async fn listed(client: &Client, product: i64) -> Vec<Image> {
    let mut images = client.read_images(product).await.unwrap().records;
    images.sort_by_key(|i| (i.sort_order, i.id));
    images
}

fn jpeg_file(dir: &Path, name: &str, seed: u64) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, small_jpeg(seed)).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_against_a_faulty_bc_v2_store_lands_each_edit_once() {
    tokio::time::timeout(LIMIT, async {
        let mut faults = 0;
        for seed in SEEDS {
            faults += session(seed).await;
        }
        assert!(faults > 0, "the store injected no faults");
    })
    .await
    .unwrap();
}

/// Requests the server answered with a fault's 502 (closed connections are not counted).
async fn bad_gateways(base_url: &str) -> u64 {
    requests_counted(base_url, &["status=\"502\""]).await
}

/// One session against the store faulted by `seed`; returns the 502s it met.
async fn session(seed: u64) -> u64 {
    // Filled without faults: two products, one with two images made by another client.
    let store = start_with(bc_v2_with_loopback_urls).await;
    let mug = store.product("Mug").await;
    let cup = store.product("Cup").await;
    for seed in 1..=2u64 {
        let name = store.import_jpeg(&format!("seed-{seed}.jpg"), seed);
        let write = imagedesk::api::ImageWrite {
            image_file: Some(name),
            description: Some(format!("seed-{seed}")),
            ..Default::default()
        };
        store.client.create(mug, &write, None).await.unwrap();
    }
    let stopped = store.stop().await;
    let server = serve(&stopped, Some(seed)).await;

    let replica = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::in_dir(replica.path());
    config.pull_interval = Duration::from_secs(3600);
    config.backoff_base = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    // The store commits before it loses an answer; nothing is still landing after this.
    config.unkeyed_landing_window = Duration::from_millis(300);
    let engine = Engine::open(config, client_for(&server.api_url()))
        .await
        .unwrap();
    settle(&engine).await;
    let seeds = engine_ids(&engine, mug).await;
    assert_eq!(seeds.len(), 2);

    // Creates: from URLs on a loopback picture host, and local files (v3 on this store).
    let mut added: BTreeMap<String, ImageId> = BTreeMap::new();
    for i in 0..4u64 {
        let name = format!("url-{i}");
        let url = serve_file(&format!("{name}.jpg"), small_jpeg(100 + i)).await;
        let product = if i % 2 == 0 { mug } else { cup };
        added.insert(
            name.clone(),
            engine.add_url(product, &url, &name).await.unwrap(),
        );
    }
    for i in 0..4u64 {
        let name = format!("file-{i}");
        let path = jpeg_file(files.path(), &format!("{name}.jpg"), 200 + i);
        let product = if i % 2 == 0 { cup } else { mug };
        added.insert(
            name.clone(),
            engine.add_file(product, &path, &name).await.unwrap(),
        );
    }
    // Edits of images the store has and of ones it may not have yet.
    engine.describe(seeds[0], "seed-1 described").await.unwrap();
    engine
        .describe(added["url-0"], "url-0 described")
        .await
        .unwrap();
    engine.set_thumbnail(added["file-1"]).await.unwrap();
    engine.set_thumbnail(added["file-0"]).await.unwrap();
    settle(&engine).await;
    let mug_now = engine_ids(&engine, mug).await;
    engine
        .move_images(mug, &[mug_now[mug_now.len() - 1]], 0)
        .await
        .unwrap();
    engine.move_images(mug, &[mug_now[2]], 3).await.unwrap();
    engine.delete(&[seeds[1], added["url-1"]]).await.unwrap();
    engine
        .describe(added["file-2"], "file-2 described")
        .await
        .unwrap();
    settle(&engine).await;
    engine.refresh();
    settle(&engine).await;

    // The verdict, read from the same data served without faults.
    let shown: BTreeMap<i64, Vec<(Option<i64>, String, bool)>> = {
        let mut shown = BTreeMap::new();
        for product in [mug, cup] {
            let images = engine.images(product).await.unwrap();
            shown.insert(
                product,
                images
                    .iter()
                    .map(|i| (i.server_id, i.description.clone(), i.is_thumbnail))
                    .collect(),
            );
        }
        shown
    };
    engine.close().await;
    let faults = bad_gateways(&server.base_url()).await;
    server.shutdown().await.unwrap();
    let server = serve(&stopped, None).await;
    let client = client_for(&server.api_url());
    let mut descriptions = Vec::new();
    for product in [mug, cup] {
        let images = listed(&client, product).await;
        let on_store: Vec<(Option<i64>, String, bool)> = images
            .iter()
            .map(|i| (Some(i.id), i.description.clone(), i.is_thumbnail))
            .collect();
        assert_eq!(
            on_store, shown[&product],
            "seed {seed}, product {product}: the store's order, descriptions and thumbnail are the engine's"
        );
        descriptions.extend(images.iter().map(|i| i.description.clone()));
    }
    descriptions.sort();
    let mut want: Vec<String> = [
        "seed-1 described",
        "url-0 described",
        "url-2",
        "url-3",
        "file-0",
        "file-1",
        "file-2 described",
        "file-3",
    ]
    .map(String::from)
    .to_vec();
    want.sort();
    assert_eq!(
        descriptions, want,
        "seed {seed}: each image exactly once, every edit applied"
    );
    let thumbnail_of_cup = shown[&cup].iter().find(|i| i.2).map(|i| i.1.clone());
    assert_eq!(thumbnail_of_cup.as_deref(), Some("file-0"));
    server.shutdown().await.unwrap();
    faults
}

async fn settle(engine: &Engine) {
    let status = engine.caught_up(Duration::from_secs(90)).await;
    assert_eq!(status.pending, 0, "queue did not drain: {status:?}");
    assert_eq!(status.failed, 0, "an edit was refused: {status:?}");
    assert_eq!(status.connection, Connection::Online, "{status:?}");
}
