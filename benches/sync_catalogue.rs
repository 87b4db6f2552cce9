//! Keeping a 100,000-product / 1,000,000-image store in sync, against the real server on
//! loopback (`serve --seed-synthetic`), beside the design it replaced in the same run: the full
//! sweep (every product page, then every product's images list, every minute).
//!
//! Run: `cargo bench --bench sync_catalogue` (prints a Markdown table).
//! `IMAGEDESK_SYNC_BENCH=20000:200000` picks a smaller store; the seeded store is kept in
//! `target/bench-stores/` and reused by later runs.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{TOKEN, client, requests_counted};
use imagedesk::api::{Client, ImageWrite};
use imagedesk::server::{Config, Server, SyntheticSeed};
use imagedesk::sync::{Engine, EngineConfig};

/// Steady rounds measured (medians).
const ROUNDS: usize = 7;
/// Products changed by "someone else" before the change round.
const CHANGED: usize = 100;
/// Products opened one after another (medians).
const OPENED: usize = 15;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn size() -> (u32, u64) {
    let spec = std::env::var("IMAGEDESK_SYNC_BENCH").unwrap_or_else(|_| "100000:1000000".into());
    let (p, i) = spec.split_once(':').expect("PRODUCTS:IMAGES");
    (p.parse().expect("products"), i.parse().expect("images"))
}

/// The old engine's pull, with the API client: every product, then every product's images.
async fn full_sweep(client: &Client) -> usize {
    let products = client.read_products().await.expect("products").records;
    for product in &products {
        client.read_images(product.id).await.expect("images");
    }
    products.len()
}

/// One round of the engine, to its end (its status's `last_sync` moves).
async fn round(engine: &Engine) {
    let before = engine.status().last_sync;
    engine.refresh();
    let mut status = engine.watch_status();
    tokio::time::timeout(Duration::from_secs(600), async {
        while status.borrow_and_update().last_sync == before {
            status.changed().await.expect("engine alive");
        }
    })
    .await
    .expect("a round ended");
}

#[tokio::main]
async fn main() {
    let (products, images) = size();
    let dir = PathBuf::from("target/bench-stores").join(format!("{products}-{images}"));
    let seeded = dir.join("store").exists();
    let mut config = Config::local(dir.join("store"), TOKEN);
    config.cache_lists = false;
    if !seeded {
        eprintln!(
            "seeding {products} products and {images} images into {}",
            dir.display()
        );
        config.seed_synthetic = Some(SyntheticSeed { products, images });
    }
    let started = Instant::now();
    let server = Server::bind(config).await.expect("server").spawn();
    if !seeded {
        eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    }
    let base = server.base_url();
    let api = server.api_url();
    let client = client(&api);

    // The design it replaces: one full sweep (what every round of the old engine sent).
    let before = requests_counted(&base, None).await;
    let started = Instant::now();
    let listed = full_sweep(&client).await;
    let sweep_time = started.elapsed().as_secs_f64();
    let sweep_requests = requests_counted(&base, None).await - before;
    eprintln!("full sweep: {sweep_requests} requests, {sweep_time:.1} s for {listed} products");

    // The engine: first sync (the product list, then the sweep that reads each product once).
    let replica = tempfile::tempdir().expect("replica");
    let mut engine_config = EngineConfig::in_dir(replica.path());
    engine_config.pull_interval = Duration::from_secs(3600);
    engine_config.background_interval = Duration::ZERO;
    let engine = Engine::open(engine_config, client.clone())
        .await
        .expect("engine");
    let before = requests_counted(&base, None).await;
    let started = Instant::now();
    engine.caught_up(Duration::from_secs(3600)).await;
    let first_time = started.elapsed().as_secs_f64();
    let first_requests = requests_counted(&base, None).await - before;
    assert_eq!(engine.products_unread().await.expect("unread"), 0);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    round(&engine).await;

    // Steady rounds: nothing changed.
    let mut steady_requests = Vec::new();
    let mut steady_ms = Vec::new();
    for _ in 0..ROUNDS {
        let before = requests_counted(&base, None).await;
        let started = Instant::now();
        round(&engine).await;
        steady_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        steady_requests.push((requests_counted(&base, None).await - before) as f64);
    }

    // Someone else changes one image of CHANGED products.
    let ids: Vec<i64> = client
        .read_products()
        .await
        .expect("products")
        .records
        .iter()
        .map(|p| p.id)
        .collect();
    let step = (ids.len() / CHANGED).max(1);
    let mut changed: usize = 0;
    for &product in ids.iter().step_by(step).take(CHANGED) {
        let Some(image) = client
            .read_images(product)
            .await
            .expect("images")
            .records
            .first()
            .cloned()
        else {
            continue;
        };
        let write = ImageWrite {
            description: Some("changed by someone else".into()),
            ..ImageWrite::default()
        };
        client
            .update_image(product, image.id, &write)
            .await
            .expect("update");
        changed += 1;
    }
    let before = requests_counted(&base, None).await;
    let started = Instant::now();
    round(&engine).await;
    let change_ms = started.elapsed().as_secs_f64() * 1000.0;
    let change_requests = requests_counted(&base, None).await - before;

    // Opening products: from show_product to its images in the replica, on a fresh engine
    // whose sweep has not reached them (the product list only).
    let replica2 = tempfile::tempdir().expect("replica");
    let mut cold_config = EngineConfig::in_dir(replica2.path());
    cold_config.pull_interval = Duration::from_secs(3600);
    cold_config.background_interval = Duration::from_millis(50);
    let cold = Engine::open(cold_config, client.clone())
        .await
        .expect("engine");
    cold.settled(Duration::from_secs(600)).await;
    let mut open_ms = Vec::new();
    let mut events = cold.subscribe();
    for &product in ids.iter().rev().step_by(997).take(OPENED) {
        let expected = client
            .read_images(product)
            .await
            .expect("images")
            .records
            .len();
        if expected == 0 {
            continue;
        }
        while events.try_recv().is_ok() {}
        let started = Instant::now();
        cold.show_product(Some(product));
        loop {
            if cold.images(product).await.expect("images").len() == expected {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(5), events.recv()).await;
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "product never read"
            );
        }
        open_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    cold.close().await;
    engine.close().await;

    let steady = median(steady_requests);
    println!(
        "| figure ({products} products, {images} images) | engine | full sweep (replaced design), same run | ratio | target |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| requests per round, nothing changed (median of {ROUNDS}) | {steady:.0} | {sweep_requests} | {:.5}× | ≤ 2 requests |",
        steady / sweep_requests as f64
    );
    println!(
        "| time per round, nothing changed (median of {ROUNDS}) | {:.1} ms | {:.1} s | {:.5}× | – |",
        median(steady_ms.clone()),
        sweep_time,
        median(steady_ms) / 1000.0 / sweep_time
    );
    println!(
        "| requests for the round after {changed} products changed elsewhere | {change_requests} ({change_ms:.0} ms) | {sweep_requests} | {:.4}× | ≤ ⌈k/250⌉ + k + 1 = {} |",
        change_requests as f64 / sweep_requests as f64,
        changed.div_ceil(250) + changed + 1
    );
    println!(
        "| first sync of a new replica (product list + one read of each product) | {first_requests} requests, {first_time:.1} s | {sweep_requests} requests, {sweep_time:.1} s | {:.2}× time | once per replica |",
        first_time / sweep_time
    );
    println!(
        "| opening a product not read yet: show_product → its images in the replica (median of {}) | {:.1} ms | – | – | tiles ≤ 1 s cold |",
        open_ms.len(),
        median(open_ms)
    );
}
