//! New images sent side by side (issue 16: folder imports upload in parallel within the
//! store's budget), against the real server on loopback: each create lands exactly once, each
//! product's images land in the order they were queued, an edit queued between creates waits
//! for them, and an engine killed mid-push sends none twice.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use imagedesk::api::Image;
use imagedesk::sync::{Connection, Engine, EngineConfig, ImageId};

fn engine_config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::in_dir(dir);
    config.pull_interval = Duration::from_secs(3600);
    config.backoff_base = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(400);
    config
}

async fn open(dir: &Path, api: &str) -> Engine {
    Engine::open(engine_config(dir), client_for(api))
        .await
        .unwrap()
}

async fn settle(engine: &Engine) {
    let status = engine.caught_up(Duration::from_secs(120)).await;
    assert_eq!(status.pending, 0, "queue did not drain: {status:?}");
    assert_eq!(status.connection, Connection::Online, "{status:?}");
}

/// POSTs the server answered on the API routes (from its /metrics).
async fn posts(base_url: &str) -> u64 {
    requests_counted(base_url, &["method=\"POST\"", "route=\"/api/v2"]).await
}

fn descriptions(images: &[Image]) -> Vec<String> {
    images.iter().map(|i| i.description.clone()).collect()
}

fn jpeg_file(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, small_jpeg(seed)).unwrap();
    path
}

/// Queues `{prefix}-{i}` for `i` in `range` on `product`, returning their handles.
async fn queue(
    engine: &Engine,
    files: &Path,
    product: i64,
    prefix: &str,
    range: std::ops::Range<u64>,
) -> Vec<ImageId> {
    let mut ids = Vec::new();
    for i in range {
        let name = format!("{prefix}-{i}");
        let path = jpeg_file(files, &format!("{name}.jpg"), product as u64 * 100 + i);
        ids.push(engine.add_file(product, &path, &name).await.unwrap());
    }
    ids
}

fn names(prefix: &str, range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_of_two_products_land_once_each_in_queue_order_around_a_reorder() {
    let store = start().await;
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let first = store.product("First").await;
    let second = store.product("Second").await;
    let base = store.server.base_url();
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    engine.pause();
    // Interleaved: five of each, then a reorder of the first product (its fifth image first),
    // then five more of each.
    let mut first_ids = Vec::new();
    for i in 0..5 {
        first_ids.extend(queue(&engine, files.path(), first, "a", i..i + 1).await);
        queue(&engine, files.path(), second, "b", i..i + 1).await;
    }
    let mut desired = vec![first_ids[4]];
    desired.extend(&first_ids[..4]);
    engine.reorder(first, &desired).await.unwrap();
    queue(&engine, files.path(), first, "a", 5..10).await;
    queue(&engine, files.path(), second, "b", 5..10).await;

    let before = posts(&base).await;
    engine.resume();
    settle(&engine).await;
    assert_eq!(posts(&base).await - before, 20, "one POST per new image");

    let mut want_first = vec!["a-4".to_owned()];
    want_first.extend(names("a", 0..4));
    want_first.extend(names("a", 5..10));
    assert_eq!(descriptions(&store.images(first).await), want_first);
    assert_eq!(descriptions(&store.images(second).await), names("b", 0..10));
    // The replica shows what the store holds.
    let local: Vec<String> = engine
        .images(first)
        .await
        .unwrap()
        .iter()
        .map(|i| i.description.clone())
        .collect();
    assert_eq!(local, want_first);
    engine.close().await;
}

fn run_sync(replica: &Path, api: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(["sync", "--api", api, "--replica-dir"])
        .arg(replica)
        .env("IMAGEDESK_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

// The store runs in this process while the test blocks on the child: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_killed_while_creates_are_in_flight_sends_none_twice() {
    let store = start().await;
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let products = [
        store.product("One").await,
        store.product("Two").await,
        store.product("Three").await,
        store.product("Four").await,
    ];
    let api = store.server.api_url();
    let base = store.server.base_url();
    let engine = open(replica.path(), &api).await;
    settle(&engine).await;
    engine.pause();
    for (k, product) in products.iter().enumerate() {
        queue(&engine, files.path(), *product, &format!("p{k}"), 0..10).await;
    }
    engine.close().await;

    for round in 1..=3u64 {
        let sent = posts(&base).await;
        let mut child = run_sync(replica.path(), &api);
        // Killed as the store answers creates, with others in flight beside them.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while posts(&base).await < sent + 5 * round {
            assert!(std::time::Instant::now() < deadline, "no uploads went out");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL, wherever it is
        child.wait().unwrap();
    }
    let output = run_sync(replica.path(), &api).wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (k, product) in products.iter().enumerate() {
        assert_eq!(
            descriptions(&store.images(*product).await),
            names(&format!("p{k}"), 0..10),
            "each image of product {k} once, in queue order"
        );
    }
}
