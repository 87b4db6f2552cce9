//! The sync engine against the in-memory model store (`imagedesk::sync::memory_store`): lost
//! answers, 5xx, 429, other clients and restarts, in milliseconds.
//!
//! tests/memory_store.rs checks that the model answers like the real server; tests/sync_engine.rs
//! keeps the end-to-end cases over HTTP.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use imagedesk::api::Image;
use imagedesk::sync::memory_store::{CallKind, Fault, KeyPolicy, MemoryStore};
use imagedesk::sync::{
    ConflictField, Connection, Engine, EngineConfig, Event, LocalImage, Remote, SyncState,
};

// -- helpers ----------------------------------------------------------------------------------------

/// Timers in milliseconds, so that a round of back-off costs nothing; no timed pulls (tests ask
/// for them with `refresh`).
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

async fn settle(engine: &Engine) {
    let status = engine.settled(Duration::from_secs(20)).await;
    assert_eq!(status.pending, 0, "queue did not drain: {status:?}");
    assert_eq!(status.connection, Connection::Online, "{status:?}");
}

/// A store with one product and `n` images made by another client, described `seed-{i}`.
fn seeded_store(n: usize) -> (Arc<MemoryStore>, i64) {
    let store = Arc::new(MemoryStore::new());
    let product = store.add_product("Mug", "MUG").id;
    for i in 0..n {
        store
            .other_add(
                product,
                &picture_url(&format!("seed-{i}")),
                &format!("seed-{i}"),
                None,
            )
            .unwrap();
    }
    (store, product)
}

fn picture_url(name: &str) -> String {
    format!("http://pictures.test/{name}.jpg")
}

/// The fields the replica copies from the store, in list order: what must match once the
/// queue is empty.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    server_id: Option<i64>,
    is_thumbnail: bool,
    description: String,
    image_file: String,
    date_created: String,
    date_modified: Option<String>,
    urls: [Option<String>; 4],
    size: (Option<u32>, Option<u32>, Option<u64>),
    pending_upload: bool,
    synced: bool,
}

fn store_rows(images: &[Image]) -> Vec<Row> {
    images
        .iter()
        .map(|i| Row {
            server_id: Some(i.id),
            is_thumbnail: i.is_thumbnail,
            description: i.description.clone(),
            image_file: i.image_file.clone(),
            date_created: i.date_created.clone(),
            date_modified: i.date_modified.clone(),
            urls: [
                i.zoom_url.clone(),
                i.standard_url.clone(),
                i.thumbnail_url.clone(),
                i.tiny_url.clone(),
            ],
            size: (i.width, i.height, i.file_size),
            pending_upload: false,
            synced: true,
        })
        .collect()
}

fn replica_rows(images: &[LocalImage]) -> Vec<Row> {
    images
        .iter()
        .map(|i| Row {
            server_id: i.server_id,
            is_thumbnail: i.is_thumbnail,
            description: i.description.clone(),
            image_file: i.image_file.clone(),
            date_created: i.date_created.clone(),
            date_modified: i.date_modified.clone(),
            urls: [
                i.zoom_url.clone(),
                i.standard_url.clone(),
                i.thumbnail_url.clone(),
                i.tiny_url.clone(),
            ],
            size: (i.width, i.height, i.file_size),
            pending_upload: i.local_file.is_some(),
            synced: i.sync == SyncState::Synced,
        })
        .collect()
}

/// Pulls until the replica equals the store field by field for every product (the store
/// answering and the queue empty), or fails with both sides.
async fn converge(engine: &Engine, store: &MemoryStore) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        engine.refresh();
        let status = engine.settled(Duration::from_secs(5)).await;
        let mut differences = Vec::new();
        for product in store.products() {
            let local = engine.images(product.id).await.map_err(|e| e.to_string())?;
            let (local, remote) = (replica_rows(&local), store_rows(&store.images(product.id)));
            if local != remote {
                differences.push(format!(
                    "product {}:\n  replica {local:?}\n  store   {remote:?}",
                    product.id
                ));
            }
        }
        if status.pending == 0 && differences.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the replica never matched the store ({status:?}):\n{}",
                differences.join("\n")
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    want: impl Fn(&Event) -> bool,
) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(event) if want(&event) => return event,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(err) => panic!("event channel closed: {err}"),
            }
        }
    })
    .await
    .expect("the expected event did not come")
}

fn descriptions(images: &[Image]) -> Vec<String> {
    images.iter().map(|i| i.description.clone()).collect()
}

// -- targeted cases ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_created_once_with_keys_honoured() {
    let (store, product) = seeded_store(1);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    store.inject(CallKind::Create, Fault::AnswerLost);
    let id = engine
        .add_url(product, &picture_url("lost"), "lost answer")
        .await
        .unwrap();
    settle(&engine).await;

    assert_eq!(
        descriptions(&store.images(product)),
        ["seed-0", "lost answer"]
    );
    assert_eq!(store.requests(CallKind::Create), 2, "resent with its key");
    assert_eq!(
        store.creates_applied(),
        1,
        "the repeat was answered from the key"
    );
    let landed = store.images(product)[1].id;
    assert_eq!(
        engine.image(id).await.unwrap().unwrap().server_id,
        Some(landed)
    );
    converge(&engine, &store).await.unwrap();
    engine.close().await;
}

#[tokio::test]
async fn without_keys_a_create_whose_answer_was_lost_is_found_in_the_list_not_resent() {
    let (store, product) = seeded_store(1);
    store.set_key_policy(KeyPolicy::Ignore);
    let replica = tempfile::tempdir().unwrap();
    let mut config = quick_config(replica.path());
    config.send_idempotency_keys = false;
    let engine = open(config, &store).await;
    settle(&engine).await;
    store.inject(CallKind::Create, Fault::AnswerLost);
    let id = engine
        .add_url(product, &picture_url("lost"), "lost answer")
        .await
        .unwrap();
    settle(&engine).await;

    assert_eq!(
        descriptions(&store.images(product)),
        ["seed-0", "lost answer"]
    );
    assert_eq!(
        store.requests(CallKind::Create),
        1,
        "found in the list instead"
    );
    assert_eq!(store.creates_applied(), 1);
    let landed = store.images(product)[1].id;
    assert_eq!(
        engine.image(id).await.unwrap().unwrap().server_id,
        Some(landed)
    );
    converge(&engine, &store).await.unwrap();
    engine.close().await;
}

/// SPEC §2: "a client that has not seen the echo from a store must check the list before
/// sending a create again". The engine's default sends keys, and a real BigCommerce store
/// ignores them (and echoes nothing).
#[tokio::test]
async fn a_store_that_ignores_the_keys_the_engine_sends_still_gets_each_create_once() {
    let (store, product) = seeded_store(1);
    store.set_key_policy(KeyPolicy::Ignore);
    let replica = tempfile::tempdir().unwrap();
    let config = quick_config(replica.path());
    assert!(config.send_idempotency_keys, "the default");
    let engine = open(config, &store).await;
    settle(&engine).await;
    store.inject(CallKind::Create, Fault::AnswerLost);
    engine
        .add_url(product, &picture_url("lost"), "lost answer")
        .await
        .unwrap();
    settle(&engine).await;

    assert_eq!(
        store.creates_applied(),
        1,
        "ENGINE BUG (SPEC §2): with send_idempotency_keys = true (the default) the engine \
         resends a create whose answer was lost, trusting the key, without checking that the \
         store honours keys (it echoes `Idempotency-Key`; a real BigCommerce store does not). \
         Against such a store the image is created twice: {:?}",
        descriptions(&store.images(product))
    );
    engine.close().await;
}

#[tokio::test]
async fn a_502_before_the_write_is_retried_and_applied_once() {
    let (store, product) = seeded_store(2);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let first = engine.images(product).await.unwrap()[0].id;

    store.inject(CallKind::Update, Fault::ServerError(502));
    engine.describe(first, "after a 502").await.unwrap();
    settle(&engine).await;
    assert_eq!(store.requests(CallKind::Update), 2);
    assert_eq!(store.applied(CallKind::Update), 1);
    assert_eq!(store.images(product)[0].description, "after a 502");

    store.inject(CallKind::Create, Fault::ServerError(502));
    engine
        .add_url(product, &picture_url("new"), "created after a 502")
        .await
        .unwrap();
    settle(&engine).await;
    assert_eq!(store.requests(CallKind::Create), 2);
    assert_eq!(store.creates_applied(), 1);
    converge(&engine, &store).await.unwrap();
    engine.close().await;
}

/// Waits, without waking the engine, until the store has seen `count` PUTs.
async fn wait_for_updates(store: &MemoryStore, count: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.requests(CallKind::Update) < count {
        assert!(Instant::now() < deadline, "the store saw no PUT #{count}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_applied_once() {
    let (store, product) = seeded_store(1);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let first = engine.images(product).await.unwrap()[0].id;
    let asked = Duration::from_millis(300);

    store.inject(
        CallKind::Update,
        Fault::RateLimited {
            retry_after: Some(asked),
        },
    );
    engine.describe(first, "after waiting").await.unwrap();
    wait_for_updates(&store, 1).await;
    let refused_at = Instant::now();
    wait_for_updates(&store, 2).await;
    let waited = refused_at.elapsed();
    assert!(
        waited >= asked - Duration::from_millis(20),
        "resent {waited:?} after the 429, before the {asked:?} the store asked for"
    );
    settle(&engine).await;
    assert_eq!(store.requests(CallKind::Update), 2);
    assert_eq!(store.applied(CallKind::Update), 1);
    assert_eq!(store.images(product)[0].description, "after waiting");
    engine.close().await;
}

/// The user goes on editing while the store has asked the engine to wait (or a caller asks for
/// `settled`, or `refresh`): every one of them wakes the worker.
#[tokio::test]
async fn a_429_retry_after_is_still_waited_out_when_the_user_edits_meanwhile() {
    let (store, product) = seeded_store(2);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let local = engine.images(product).await.unwrap();
    let asked = Duration::from_millis(300);

    store.inject(
        CallKind::Update,
        Fault::RateLimited {
            retry_after: Some(asked),
        },
    );
    engine.describe(local[0].id, "first edit").await.unwrap();
    wait_for_updates(&store, 1).await;
    let refused_at = Instant::now();
    engine.describe(local[1].id, "second edit").await.unwrap();
    wait_for_updates(&store, 2).await;
    let waited = refused_at.elapsed();
    assert!(
        waited >= asked - Duration::from_millis(20),
        "ENGINE BUG: the store answered 429 with X-Retry-After {asked:?}, yet the next request \
         went out {waited:?} later, because a new edit woke the worker: worker::run's back-off \
         select ends on `wake.notified()` (also signalled by Engine::settled, refresh and \
         resume) whatever the store asked for"
    );
    settle(&engine).await;
    engine.close().await;
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_then_applies_once() {
    let (store, product) = seeded_store(1);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let first = engine.images(product).await.unwrap()[0].id;

    for _ in 0..2 {
        store.inject(CallKind::Update, Fault::RateLimited { retry_after: None });
    }
    engine.describe(first, "after backing off").await.unwrap();
    settle(&engine).await;
    assert_eq!(store.requests(CallKind::Update), 3);
    assert_eq!(store.applied(CallKind::Update), 1);
    assert_eq!(store.images(product)[0].description, "after backing off");
    engine.close().await;
}

#[tokio::test]
async fn someone_elses_changes_to_fields_without_pending_edits_are_pulled() {
    let (store, product) = seeded_store(3);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let ids: Vec<i64> = store.images(product).iter().map(|i| i.id).collect();

    store
        .other_describe(product, ids[0], "their words")
        .unwrap();
    store.other_set_thumbnail(product, ids[2]).unwrap();
    store
        .other_reorder(product, &[ids[2], ids[0], ids[1]])
        .unwrap();
    store.other_delete(product, ids[1]).unwrap();
    store
        .other_add(product, &picture_url("theirs"), "their picture", Some(0))
        .unwrap();
    converge(&engine, &store).await.unwrap();
    let local: Vec<String> = engine
        .images(product)
        .await
        .unwrap()
        .iter()
        .map(|i| i.description.clone())
        .collect();
    assert_eq!(local, ["their picture", "seed-2", "their words"]);
    engine.close().await;
}

#[tokio::test]
async fn a_field_changed_on_both_sides_keeps_the_local_value_and_reports_both() {
    let (store, product) = seeded_store(2);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.describe(local[0].id, "local words").await.unwrap();
    let first = local[0].server_id.unwrap();
    store.other_describe(product, first, "store words").unwrap();

    engine.refresh();
    let event = next_event(&mut events, |e| matches!(e, Event::Conflict(_))).await;
    let Event::Conflict(conflict) = event else {
        unreachable!()
    };
    assert_eq!(conflict.image, local[0].id);
    assert_eq!(conflict.field, ConflictField::Description);
    assert_eq!(
        (conflict.local.as_str(), conflict.server.as_str()),
        ("local words", "store words")
    );

    engine.resume();
    settle(&engine).await;
    assert_eq!(store.images(product)[0].description, "local words");
    converge(&engine, &store).await.unwrap();
    engine.close().await;
}

#[tokio::test]
async fn an_engine_closed_while_its_create_was_landing_sends_it_once_after_reopening() {
    for keys in [true, false] {
        let (store, product) = seeded_store(1);
        let replica = tempfile::tempdir().unwrap();
        let mut config = quick_config(replica.path());
        config.send_idempotency_keys = keys;
        if !keys {
            store.set_key_policy(KeyPolicy::Ignore);
        }
        let engine = open(config.clone(), &store).await;
        settle(&engine).await;
        store.inject(CallKind::Create, Fault::SlowAnswer(Duration::from_secs(60)));
        engine
            .add_url(product, &picture_url("landing"), "landing")
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.images(product).len() < 2 {
            assert!(
                Instant::now() < deadline,
                "the create never reached the store"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The store has it; the engine is closed before it hears back.
        engine.close().await;

        let engine = open(config, &store).await;
        settle(&engine).await;
        assert_eq!(store.creates_applied(), 1, "keys {keys}");
        assert_eq!(descriptions(&store.images(product)), ["seed-0", "landing"]);
        converge(&engine, &store).await.unwrap();
        engine.close().await;
    }
}

#[tokio::test]
async fn answers_without_urls_never_leave_the_replica_without_them() {
    let (store, product) = seeded_store(2);
    store.set_write_answers_carry_urls(false);
    let replica = tempfile::tempdir().unwrap();
    let engine = open(quick_config(replica.path()), &store).await;
    settle(&engine).await;
    let first = engine.images(product).await.unwrap()[0].id;
    engine.describe(first, "described").await.unwrap();
    engine
        .add_url(product, &picture_url("added"), "added")
        .await
        .unwrap();
    settle(&engine).await;
    engine.refresh();
    settle(&engine).await;
    let local = engine.images(product).await.unwrap();
    let without: Vec<&str> = local
        .iter()
        .filter(|i| i.thumbnail_url.is_none())
        .map(|i| i.description.as_str())
        .collect();
    assert!(
        without.is_empty(),
        "ENGINE BUG (SPEC §2: answers to POST and PUT may carry no *_url fields: keep the URLs \
         already known, or read the record again, never blank them): after a PUT and a POST \
         whose answers had no URLs, and a pull, the replica has none for {without:?}. \
         worker::confirm copies the answer's missing URLs over the known ones, and \
         merge::merge_images rewrites a row only when date_modified, sort_order, is_thumbnail, \
         description or image_file differ, so the pull never restores them"
    );
    converge(&engine, &store).await.unwrap();
    engine.close().await;
}
