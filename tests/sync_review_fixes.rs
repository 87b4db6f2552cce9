//! Cases from a review of the sync engine, each against the in-memory model store: creates that
//! may have landed, old keys, unreadable records, one engine per replica, huge waits, a pull
//! that one product cannot stop, and the status's timing.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imagedesk::sync::memory_store::{CallKind, Fault, MemoryStore};
use imagedesk::sync::{Connection, Engine, EngineConfig, Remote, Status};

// -- helpers ----------------------------------------------------------------------------------------

/// Timers in milliseconds; no timed pulls (tests ask for them with `refresh`).
fn quick_config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::in_dir(dir);
    config.pull_interval = Duration::from_secs(3600);
    config.backoff_base = Duration::from_millis(2);
    config.backoff_max = Duration::from_millis(20);
    config.unkeyed_landing_window = Duration::from_millis(20);
    config
}

async fn open(config: EngineConfig, store: &Arc<MemoryStore>) -> Engine {
    let remote: Arc<dyn Remote> = store.clone();
    Engine::open_with(config, remote).await.unwrap()
}

fn store_with_product() -> (Arc<MemoryStore>, i64) {
    let store = Arc::new(MemoryStore::new());
    let product = store.add_product("Mug", "MUG").id;
    (store, product)
}

/// Waits until `check` holds for the status, or panics after `within`.
async fn wait_for(engine: &Engine, within: Duration, check: impl Fn(&Status) -> bool) -> Status {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = engine.status();
        if check(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "status never got there: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// -- 1. a create that may have landed keeps its key and attempts --------------------------------------

#[tokio::test]
async fn a_create_refused_with_409_after_it_landed_is_not_made_twice_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open(quick_config(dir.path()), &store).await;
    engine.settled(Duration::from_secs(5)).await;
    // The store made the image, but the answer was a 409 (a key still being processed).
    store.inject(CallKind::Create, Fault::AppliedThenServerError(409));
    engine
        .add_url(product, "http://pictures.test/front.jpg", "front")
        .await
        .unwrap();
    let status = wait_for(&engine, Duration::from_secs(5), |s| s.failed == 1).await;
    assert_eq!(status.pending, 0);
    let seq = engine.outbox().await.unwrap()[0].seq;
    engine.retry(seq).await.unwrap();
    let status = engine.settled(Duration::from_secs(5)).await;
    assert_eq!((status.pending, status.failed), (0, 0), "{status:?}");
    assert_eq!(store.images(product).len(), 1, "the create was made twice");
    assert_eq!(engine.images(product).await.unwrap().len(), 1);
    engine.close().await;
}

#[tokio::test]
async fn a_create_whose_answer_cannot_be_read_waits_and_is_not_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open(quick_config(dir.path()), &store).await;
    engine.settled(Duration::from_secs(5)).await;
    store.inject(CallKind::Create, Fault::AppliedThenUnreadable);
    engine
        .add_url(product, "http://pictures.test/front.jpg", "front")
        .await
        .unwrap();
    let status = engine.settled(Duration::from_secs(5)).await;
    assert_eq!((status.pending, status.failed), (0, 0), "{status:?}");
    assert_eq!(store.images(product).len(), 1, "the create was made twice");
    assert_eq!(engine.images(product).await.unwrap().len(), 1);
    engine.close().await;
}

#[tokio::test]
async fn a_create_refused_outright_on_its_first_send_starts_over_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open(quick_config(dir.path()), &store).await;
    engine.settled(Duration::from_secs(5)).await;
    store.inject(CallKind::Create, Fault::ServerError(400));
    engine
        .add_url(product, "http://pictures.test/front.jpg", "front")
        .await
        .unwrap();
    wait_for(&engine, Duration::from_secs(5), |s| s.failed == 1).await;
    let seq = engine.outbox().await.unwrap()[0].seq;
    engine.retry(seq).await.unwrap();
    let status = engine.settled(Duration::from_secs(5)).await;
    assert_eq!((status.pending, status.failed), (0, 0), "{status:?}");
    assert_eq!(store.images(product).len(), 1);
    engine.close().await;
}
