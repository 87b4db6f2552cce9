//! Cases from a review of the sync engine, each against the in-memory model store: creates that
//! may have landed, old keys, unreadable records, one engine per replica, huge waits, a pull
//! that one product cannot stop, and the status's timing.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::engine::{open, product_ids, quick_config};
use imagedesk::sync::memory_store::{CallKind, Fault, MemoryStore};
use imagedesk::sync::{Connection, Engine, EngineConfig, Remote, Status, SyncError};

// -- helpers ----------------------------------------------------------------------------------------

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

/// How long the engine may take to settle or to see a change; all of it happens in milliseconds.
const SETTLE: Duration = Duration::from_secs(5);

/// An engine over `store` with the quick configuration, settled after its first pull.
async fn open_settled(dir: &Path, store: &Arc<MemoryStore>) -> Engine {
    let engine = open(quick_config(dir), store).await;
    engine.caught_up(SETTLE).await;
    engine
}

/// The quick configuration with probes every 50 ms, for the tests that watch the connection.
fn probing_config(dir: &Path) -> EngineConfig {
    let mut config = quick_config(dir);
    config.probe_interval = Duration::from_millis(50);
    config
}

/// Adds the one picture the create tests send.
async fn add_front(engine: &Engine, product: i64) {
    engine
        .add_url(product, "http://pictures.test/front.jpg", "front")
        .await
        .unwrap();
}

/// Waits for the engine to settle and asserts that nothing is left pending or failed.
async fn assert_settles_clean(engine: &Engine) {
    let status = engine.caught_up(SETTLE).await;
    assert_eq!((status.pending, status.failed), (0, 0), "{status:?}");
}

/// Retries the first (the only) entry of the outbox.
async fn retry_first(engine: &Engine) {
    let seq = engine.outbox().await.unwrap()[0].seq;
    engine.retry(seq).await.unwrap();
}

/// Polls `done` every `step` until it holds; fails with `what` after `SETTLE`.
async fn poll_until(what: &str, step: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(step).await;
    }
}

/// Waits until the status shows `connection`, or panics after `within`.
async fn wait_connection(engine: &Engine, within: Duration, connection: Connection) {
    wait_for(engine, within, |s| s.connection == connection).await;
}

// -- 1. a create that may have landed keeps its key and attempts --------------------------------------

#[tokio::test]
async fn a_create_refused_with_409_after_it_landed_is_not_made_twice_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open_settled(dir.path(), &store).await;
    // The store made the image, but the answer was a 409 (a key still being processed).
    store.inject(CallKind::Create, Fault::AppliedThenServerError(409));
    add_front(&engine, product).await;
    let status = wait_for(&engine, SETTLE, |s| s.failed == 1).await;
    assert_eq!(status.pending, 0);
    retry_first(&engine).await;
    assert_settles_clean(&engine).await;
    assert_eq!(store.images(product).len(), 1, "the create was made twice");
    assert_eq!(engine.images(product).await.unwrap().len(), 1);
    engine.close().await;
}

#[tokio::test]
async fn a_create_whose_answer_cannot_be_read_waits_and_is_not_made_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open_settled(dir.path(), &store).await;
    store.inject(CallKind::Create, Fault::AppliedThenUnreadable);
    add_front(&engine, product).await;
    assert_settles_clean(&engine).await;
    assert_eq!(store.images(product).len(), 1, "the create was made twice");
    assert_eq!(engine.images(product).await.unwrap().len(), 1);
    engine.close().await;
}

#[tokio::test]
async fn a_create_refused_outright_on_its_first_send_starts_over_on_retry() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open_settled(dir.path(), &store).await;
    store.inject(CallKind::Create, Fault::ServerError(400));
    add_front(&engine, product).await;
    wait_for(&engine, SETTLE, |s| s.failed == 1).await;
    retry_first(&engine).await;
    assert_settles_clean(&engine).await;
    assert_eq!(store.images(product).len(), 1);
    engine.close().await;
}

// -- 3. a create is not resent while the list has records it cannot read ------------------------------

#[tokio::test]
async fn a_create_that_may_have_landed_waits_while_the_list_has_unreadable_images() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let mut config = quick_config(dir.path());
    // Slow retries, so the test can hide the landed record before the engine looks again.
    config.backoff_base = Duration::from_millis(400);
    config.backoff_max = Duration::from_millis(400);
    let engine = open(config, &store).await;
    engine.caught_up(SETTLE).await;
    store.inject(CallKind::Create, Fault::AnswerLost);
    add_front(&engine, product).await;
    poll_until("the create never landed", Duration::from_millis(1), || {
        !store.images(product).is_empty()
    })
    .await;
    let landed = store.images(product)[0].id;
    store.set_unreadable_without_ids(Some(product), vec![landed]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(store.images(product).len(), 1, "the create was sent again");
    let status = engine.status();
    assert_eq!(status.pending, 1, "{status:?}");
    assert!(status.last_error.is_some(), "{status:?}");
    // Once the list can be read again, the create finds its image.
    store.set_unreadable_without_ids(Some(product), Vec::new());
    engine.retry_now();
    assert_settles_clean(&engine).await;
    assert_eq!(store.images(product).len(), 1);
    assert_eq!(engine.images(product).await.unwrap().len(), 1);
    engine.close().await;
}

// -- 7. a record whose id cannot be read deletes nothing ----------------------------------------------

#[tokio::test]
async fn an_image_record_without_a_readable_id_keeps_every_row_and_its_edits() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let a = store
        .other_add(product, "http://pictures.test/a.jpg", "a", None)
        .unwrap();
    store
        .other_add(product, "http://pictures.test/b.jpg", "b", None)
        .unwrap();
    let mut config = quick_config(dir.path());
    config.start_paused = true;
    let engine = open(config, &store).await;
    engine.caught_up(SETTLE).await;
    let rows = engine.images(product).await.unwrap();
    assert_eq!(rows.len(), 2);
    let row_a = rows
        .iter()
        .find(|r| r.description == "a")
        .map(|r| r.id)
        .unwrap();
    engine.describe(row_a, "a, edited").await.unwrap();
    store.set_unreadable_without_ids(Some(product), vec![a.id]);
    engine.refresh();
    poll_until("no pull saw the record", Duration::from_millis(5), || {
        !engine.unreadable().is_empty()
    })
    .await;
    assert_eq!(engine.images(product).await.unwrap().len(), 2);
    assert_eq!(engine.status().pending, 1, "the describe was dropped");
    engine.close().await;
}

#[tokio::test]
async fn a_product_record_without_a_readable_id_keeps_every_product() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let other = store.add_product("Cup", "CUP").id;
    let engine = open_settled(dir.path(), &store).await;
    assert_eq!(engine.products().await.unwrap().len(), 2);
    store.set_unreadable_without_ids(None, vec![other]);
    engine.refresh();
    poll_until("no pull saw the record", Duration::from_millis(5), || {
        !engine.unreadable().is_empty()
    })
    .await;
    engine.caught_up(SETTLE).await;
    let products = product_ids(&engine).await;
    assert!(
        products.contains(&product) && products.contains(&other),
        "{products:?}"
    );
    engine.close().await;
}

// -- 4. one sending engine per replica ---------------------------------------------------------------

#[tokio::test]
async fn a_second_engine_on_one_replica_is_refused_unless_offline_and_opens_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_product();
    let first = open(quick_config(dir.path()), &store).await;
    let remote: Arc<dyn Remote> = store.clone();
    match Engine::open_with(quick_config(dir.path()), remote.clone()).await {
        Err(err @ SyncError::ReplicaInUse { .. }) => {
            assert!(err.to_string().contains("--offline"), "{err}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a second engine opened on the same replica"),
    }
    let mut offline = quick_config(dir.path());
    offline.offline = true;
    let reader = Engine::open_with(offline, remote.clone()).await.unwrap();
    reader.close().await;
    first.close().await;
    let again = open(quick_config(dir.path()), &store).await;
    again.close().await;
}

// -- 5. huge waits ----------------------------------------------------------------------------------

#[tokio::test]
async fn a_huge_timeout_or_retry_after_neither_panics_nor_stops_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_product();
    let mut config = probing_config(dir.path());
    config.start_paused = true;
    let engine = open(config, &store).await;
    let status = engine.caught_up(Duration::MAX).await;
    assert_eq!(status.connection, Connection::Online, "{status:?}");
    store.inject(
        CallKind::ListProducts,
        Fault::RateLimited {
            retry_after: Some(Duration::MAX),
        },
    );
    engine.refresh();
    poll_until("no pull", Duration::from_millis(5), || {
        store.pending_faults() == 0
    })
    .await;
    // The worker waits (at most five minutes) but still probes: a store gone shows at once.
    store.set_reachable(false);
    wait_connection(&engine, Duration::from_secs(3), Connection::Offline).await;
    engine.close().await;
}

// -- 8, 9. the status follows the probes, also during a round --------------------------------------

#[tokio::test]
async fn the_store_shows_online_as_soon_as_a_probe_answers_even_before_the_round_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_product();
    let mut config = probing_config(dir.path());
    config.backoff_base = Duration::from_secs(30);
    config.backoff_max = Duration::from_secs(30);
    let engine = open(config, &store).await;
    engine.caught_up(SETTLE).await;
    store.set_reachable(false);
    wait_connection(&engine, Duration::from_secs(3), Connection::Offline).await;
    // The round that follows the store's return is slow; the status need not wait for it.
    store.inject(
        CallKind::ListProducts,
        Fault::SlowAnswer(Duration::from_secs(5)),
    );
    store.set_reachable(true);
    wait_connection(&engine, Duration::from_secs(2), Connection::Online).await;
    engine.close().await;
}

#[tokio::test]
async fn a_store_that_stops_answering_during_a_long_round_shows_offline_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_product();
    let config = probing_config(dir.path());
    let engine = open(config, &store).await;
    engine.caught_up(SETTLE).await;
    let lists = store.requests(CallKind::ListProducts);
    store.inject(
        CallKind::ListProducts,
        Fault::SlowAnswer(Duration::from_secs(10)),
    );
    engine.refresh();
    poll_until("no pull", Duration::from_millis(5), || {
        store.requests(CallKind::ListProducts) != lists
    })
    .await;
    store.set_reachable(false);
    wait_connection(&engine, Duration::from_secs(2), Connection::Offline).await;
    engine.close().await;
}

// -- 6. one product's list that cannot be read does not stop the pull ---------------------------------

#[tokio::test]
async fn a_product_whose_images_cannot_be_listed_is_reported_and_the_pull_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let first = store.add_product("Mug", "MUG").id;
    let second = store.add_product("Cup", "CUP").id;
    store
        .other_add(second, "http://pictures.test/cup.jpg", "cup", None)
        .unwrap();
    // The first product's list (the first one the pull asks for) is refused.
    store.inject(CallKind::ListImages, Fault::ServerError(403));
    let engine = open(quick_config(dir.path()), &store).await;
    let status = engine.caught_up(SETTLE).await;
    assert!(status.last_sync.is_some(), "{status:?}");
    assert_eq!(engine.images(second).await.unwrap().len(), 1);
    let reported = engine.unreadable();
    assert!(
        reported.iter().any(|r| r.product_id == Some(first)),
        "{reported:?}"
    );
    // Once it reads again, the report goes.
    engine.refresh();
    poll_until("the report stayed", Duration::from_millis(5), || {
        engine.unreadable().is_empty()
    })
    .await;
    engine.close().await;
}

// -- 10. failed tiles set off few pulls --------------------------------------------------------------

#[tokio::test]
async fn failed_tiles_pull_their_product_at_most_once_a_while_and_never_offline() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    store
        .other_add(product, "http://pictures.test/a.jpg", "a", None)
        .unwrap();
    let config = probing_config(dir.path());
    let engine = open(config, &store).await;
    engine.caught_up(SETTLE).await;
    let image = engine.images(product).await.unwrap()[0].id;
    let lists = store.requests(CallKind::ListImages);
    for _ in 0..5 {
        store.inject(CallKind::FetchAsset, Fault::Unreachable);
        assert!(engine.tile(image).await.is_err());
    }
    assert_eq!(store.requests(CallKind::ListImages), lists + 1);
    store.set_reachable(false);
    wait_connection(&engine, Duration::from_secs(3), Connection::Offline).await;
    let lists = store.requests(CallKind::ListImages);
    assert!(engine.tile(image).await.is_err());
    assert_eq!(store.requests(CallKind::ListImages), lists);
    engine.close().await;
}

// -- 11. a create that landed is not failed by what the engine learns about keys ----------------------

#[tokio::test]
async fn a_create_that_landed_is_confirmed_even_when_the_echo_fact_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, product) = store_with_product();
    let engine = open_settled(dir.path(), &store).await;
    // Any write of a store fact now fails, as a full disk or a damaged table would.
    let url = format!("sqlite://{}", dir.path().join("replica.sqlite").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    for event in ["INSERT", "UPDATE"] {
        sqlx::query(&format!(
            "CREATE TRIGGER no_facts_{event} BEFORE {event} ON store_facts
             BEGIN SELECT RAISE(ABORT, 'store facts cannot be written'); END"
        ))
        .execute(&db)
        .await
        .unwrap();
    }
    db.close().await;
    add_front(&engine, product).await;
    assert_settles_clean(&engine).await;
    assert_eq!(store.images(product).len(), 1);
    assert!(engine.images(product).await.unwrap()[0].server_id.is_some());
    engine.close().await;
}
