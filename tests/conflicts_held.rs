//! Issue 15: an edit whose field the store changed too is held, not sent, until the person
//! chooses ("Keep mine" sends it, "Use the store's" drops it). The engine against the real
//! server on loopback, another client changing the store over HTTP, and the app's Pending
//! window driven headless by egui_kittest.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ui::{open_lamp, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::{Image, ImageWrite};
use imagedesk::sync::{
    ConflictField, Connection, Engine, EngineConfig, Event, HeldConflict, OutboxEntry,
};
use imagedesk::ui::{Backend, ImageDeskApp};

fn engine_config(dir: &std::path::Path) -> EngineConfig {
    let mut config = EngineConfig::in_dir(dir);
    config.pull_interval = Duration::from_secs(3600);
    config.backoff_base = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(400);
    config
}

/// A store with "Lamp" (three images "img-0" … "img-2", the first the thumbnail) and an engine
/// that has read it.
async fn lamp() -> (TestStore, i64, Engine, tempfile::TempDir) {
    let store = start().await;
    let product = store.product("Lamp").await;
    seed(&store, product, 3).await;
    let replica = tempfile::tempdir().unwrap();
    let engine = Engine::open(
        engine_config(replica.path()),
        client_for(&store.server.api_url()),
    )
    .await
    .unwrap();
    settle(&engine).await;
    (store, product, engine, replica)
}

/// Waits until nothing can be sent (held edits wait for the person) and the store answered.
async fn settle(engine: &Engine) -> imagedesk::sync::Status {
    let status = engine.caught_up(Duration::from_secs(60)).await;
    assert_eq!(
        status.pending, status.held,
        "only held edits may wait: {status:?}"
    );
    assert_eq!(status.connection, Connection::Online, "{status:?}");
    status
}

async fn store_images(store: &TestStore, product: i64) -> Vec<Image> {
    store.client.list_all_images(product).await.unwrap()
}

/// Another person's change, straight to the store.
async fn other_writes(store: &TestStore, product: i64, image: i64, write: ImageWrite) {
    store
        .client
        .update_image(product, image, &write)
        .await
        .unwrap();
}

fn description(text: &str) -> ImageWrite {
    ImageWrite {
        description: Some(text.into()),
        ..ImageWrite::default()
    }
}

/// PUTs the store answered on its API routes (from its /metrics).
async fn puts(store: &TestStore) -> u64 {
    requests_counted(
        &store.server.base_url(),
        &["method=\"PUT\"", "route=\"/api/v2"],
    )
    .await
}

async fn held_entries(engine: &Engine) -> Vec<OutboxEntry> {
    engine
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.held.is_some())
        .collect()
}

async fn next_conflict(events: &mut tokio::sync::broadcast::Receiver<Event>) -> i64 {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.recv().await {
                Ok(Event::Conflict(conflict)) => return conflict.seq,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(err) => panic!("event channel closed: {err}"),
            }
        }
    })
    .await
    .expect("no conflict was reported")
}

/// Pauses, describes image 0 locally as `mine`, lets the other client describe it `theirs`
/// on the store, resumes: returns the held edit's seq once the engine has settled.
async fn describe_on_both_sides(
    store: &TestStore,
    product: i64,
    engine: &Engine,
    mine: &str,
    theirs: &str,
) -> i64 {
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.describe(local[0].id, mine).await.unwrap();
    let first = store_images(store, product).await[0].id;
    other_writes(store, product, first, description(theirs)).await;
    engine.resume();
    let seq = next_conflict(&mut events).await;
    let status = settle(engine).await;
    assert_eq!(status.held, 1, "{status:?}");
    seq
}

#[tokio::test]
async fn a_description_changed_on_both_sides_is_held_and_keep_mine_sends_it_once() {
    let (store, product, engine, _replica) = lamp().await;
    let seq = describe_on_both_sides(&store, product, &engine, "mine", "theirs").await;

    // Held, not sent: the other person's words are still on the store.
    assert_eq!(store_images(&store, product).await[0].description, "theirs");
    let held = held_entries(&engine).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].seq, seq);
    assert_eq!(
        held[0]
            .held
            .as_ref()
            .map(|h| (h.field, h.mine.as_str(), h.theirs.as_str())),
        Some((ConflictField::Description, "mine", "theirs"))
    );
    let local = engine.images(product).await.unwrap();
    assert_eq!(
        local[0].description, "mine",
        "the replica shows yours meanwhile"
    );

    // Another round (a refresh) reports nothing new and still sends nothing.
    let before = puts(&store).await;
    engine.refresh();
    settle(&engine).await;
    assert_eq!(puts(&store).await, before);
    assert_eq!(held_entries(&engine).await.len(), 1);

    engine.keep_mine(seq).await.unwrap();
    let status = settle(&engine).await;
    assert_eq!((status.pending, status.held), (0, 0), "{status:?}");
    assert_eq!(store_images(&store, product).await[0].description, "mine");
    assert_eq!(puts(&store).await - before, 1, "sent exactly once");
    assert!(engine.outbox().await.unwrap().is_empty());

    // Only a held edit can be kept.
    assert!(matches!(
        engine.keep_mine(seq).await,
        Err(imagedesk::sync::SyncError::UnknownEdit(s)) if s == seq
    ));
    engine.close().await;
}

#[tokio::test]
async fn use_the_stores_drops_the_held_description_and_the_store_is_untouched() {
    let (store, product, engine, _replica) = lamp().await;
    let seq = describe_on_both_sides(&store, product, &engine, "mine", "theirs").await;
    let before = puts(&store).await;

    engine.use_theirs(seq).await.unwrap();
    assert!(engine.outbox().await.unwrap().is_empty());
    let local = engine.images(product).await.unwrap();
    assert_eq!(
        local[0].description, "theirs",
        "the replica shows theirs at once"
    );
    let status = settle(&engine).await;
    assert_eq!((status.pending, status.held), (0, 0), "{status:?}");
    assert_eq!(store_images(&store, product).await[0].description, "theirs");
    assert_eq!(puts(&store).await, before, "nothing was sent");
    engine.close().await;
}

#[tokio::test]
async fn a_pending_edit_is_neither_kept_nor_dropped_as_if_it_were_held() {
    let (store, product, engine, _replica) = lamp().await;
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.describe(local[1].id, "only mine").await.unwrap();
    let seq = engine.outbox().await.unwrap()[0].seq;
    assert!(matches!(
        engine.use_theirs(seq).await,
        Err(imagedesk::sync::SyncError::NotHeld(s)) if s == seq
    ));
    assert!(matches!(
        engine.keep_mine(seq).await,
        Err(imagedesk::sync::SyncError::NotHeld(_))
    ));
    assert_eq!(engine.outbox().await.unwrap().len(), 1, "still queued");
    engine.resume();
    settle(&engine).await;
    assert_eq!(
        store_images(&store, product).await[1].description,
        "only mine"
    );
    engine.close().await;
}

#[tokio::test]
async fn a_thumbnail_chosen_on_both_sides_is_held_and_keep_mine_sends_it() {
    let (store, product, engine, _replica) = lamp().await;
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.set_thumbnail(local[1].id).await.unwrap();
    let server = store_images(&store, product).await;
    other_writes(
        &store,
        product,
        server[2].id,
        ImageWrite {
            is_thumbnail: Some(true),
            ..ImageWrite::default()
        },
    )
    .await;
    engine.resume();
    let seq = next_conflict(&mut events).await;
    settle(&engine).await;

    let thumbnail = |images: &[Image]| {
        images
            .iter()
            .find(|i| i.is_thumbnail)
            .map(|i| i.description.clone())
    };
    assert_eq!(
        thumbnail(&store_images(&store, product).await).as_deref(),
        Some("img-2"),
        "the other person's choice stands while yours is held"
    );
    let held = held_entries(&engine).await;
    assert_eq!(
        held[0].held,
        Some(HeldConflict {
            field: ConflictField::Thumbnail,
            mine: local[1].id.to_string(),
            theirs: local[2].id.to_string(),
            theirs_modified: None,
        })
    );

    engine.keep_mine(seq).await.unwrap();
    settle(&engine).await;
    assert_eq!(
        thumbnail(&store_images(&store, product).await).as_deref(),
        Some("img-1")
    );
    assert!(engine.outbox().await.unwrap().is_empty());
    engine.close().await;
}

#[tokio::test]
async fn use_the_stores_thumbnail_shows_it_in_the_replica_at_once() {
    let (store, product, engine, _replica) = lamp().await;
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.set_thumbnail(local[1].id).await.unwrap();
    let server = store_images(&store, product).await;
    let thumb = ImageWrite {
        is_thumbnail: Some(true),
        ..ImageWrite::default()
    };
    other_writes(&store, product, server[2].id, thumb).await;
    engine.resume();
    let seq = next_conflict(&mut events).await;
    settle(&engine).await;

    engine.use_theirs(seq).await.unwrap();
    let local = engine.images(product).await.unwrap();
    let thumbs: Vec<bool> = local.iter().map(|i| i.is_thumbnail).collect();
    assert_eq!(thumbs, [false, false, true]);
    settle(&engine).await;
    let server = store_images(&store, product).await;
    let thumbs: Vec<bool> = server.iter().map(|i| i.is_thumbnail).collect();
    assert_eq!(thumbs, [false, false, true], "the store's choice stands");
    engine.close().await;
}

#[tokio::test]
async fn other_edits_of_the_product_are_sent_while_one_is_held() {
    let (store, product, engine, _replica) = lamp().await;
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.describe(local[0].id, "mine").await.unwrap();
    engine.describe(local[1].id, "second, mine").await.unwrap();
    // A move queued after the held edit goes too.
    engine
        .move_images(product, &[local[2].id], 0)
        .await
        .unwrap();
    let first = store_images(&store, product).await[0].id;
    other_writes(&store, product, first, description("theirs")).await;
    engine.resume();
    next_conflict(&mut events).await;
    let status = settle(&engine).await;
    assert_eq!((status.pending, status.held), (1, 1), "{status:?}");

    let server = store_images(&store, product).await;
    let descriptions: Vec<&str> = server.iter().map(|i| i.description.as_str()).collect();
    assert_eq!(descriptions, ["img-2", "theirs", "second, mine"]);
    engine.close().await;
}

#[tokio::test]
async fn a_newer_local_value_of_a_held_field_stays_held_and_a_later_store_change_updates_theirs() {
    let (store, product, engine, _replica) = lamp().await;
    let seq = describe_on_both_sides(&store, product, &engine, "mine", "theirs").await;
    let local = engine.images(product).await.unwrap();

    engine.describe(local[0].id, "mine, again").await.unwrap();
    settle(&engine).await;
    let held = held_entries(&engine).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].seq, seq, "folded into the held edit");
    let sides = held[0].held.clone().unwrap();
    assert_eq!(
        (sides.mine.as_str(), sides.theirs.as_str()),
        ("mine, again", "theirs")
    );
    assert_eq!(store_images(&store, product).await[0].description, "theirs");

    // The other person changes it again: the held edit now shows their newer words.
    let mut events = engine.subscribe();
    let first = store_images(&store, product).await[0].id;
    other_writes(&store, product, first, description("theirs, again")).await;
    engine.refresh();
    assert_eq!(next_conflict(&mut events).await, seq);
    settle(&engine).await;
    let sides = held_entries(&engine).await[0].held.clone().unwrap();
    assert_eq!(sides.theirs, "theirs, again");
    assert_eq!(
        store_images(&store, product).await[0].description,
        "theirs, again"
    );
    engine.close().await;
}

// -- the app ----------------------------------------------------------------------------------

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    engine: Arc<Engine>,
    product: i64,
    _data: tempfile::TempDir,
}

impl Rig {
    fn new() -> (Rig, Harness<'static, ImageDeskApp>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let config = engine_config(&data.path().join("replica"));
        let (store, product, engine) = runtime.block_on(async {
            let store = start().await;
            let product = store.product("Lamp").await;
            seed(&store, product, 3).await;
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, product, engine)
        });
        let engine = Arc::new(engine);
        let backend =
            Backend::new(engine.clone(), runtime.handle().clone()).with_data_dir(data.path());
        let app = ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50));
        let harness = Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .with_step_dt(1.0 / 60.0)
            .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
        let rig = Rig {
            runtime,
            store,
            engine,
            product,
            _data: data,
        };
        (rig, harness)
    }

    fn descriptions(&self) -> Vec<String> {
        self.runtime
            .block_on(store_images(&self.store, self.product))
            .into_iter()
            .map(|i| i.description)
            .collect()
    }

    /// Image 0 described "mine" here and "theirs" by another person on the store; steps until
    /// the Pending window lists the held edit with both texts side by side.
    fn hold_a_description(&self, harness: &mut Harness<'static, ImageDeskApp>) {
        open_lamp(harness);
        self.engine.pause();
        let local = self
            .runtime
            .block_on(self.engine.images(self.product))
            .unwrap();
        self.runtime
            .block_on(self.engine.describe(local[0].id, "mine"))
            .unwrap();
        let first = self
            .runtime
            .block_on(store_images(&self.store, self.product))[0]
            .id;
        self.runtime.block_on(other_writes(
            &self.store,
            self.product,
            first,
            description("theirs"),
        ));
        self.engine.resume();
        step_until(harness, "the bar counts the held edit", |h| {
            h.query_by_label_contains("1 pending").is_some()
                && h.query_by_label_contains("Keep mine").is_some()
        });
        harness.get_by_label_contains("1 pending").click();
        step_until(harness, "the Pending window shows both sides", |h| {
            h.query_by_label("Pending changes").is_some()
                && h.query_by_label_contains("Held: the store changed it too")
                    .is_some()
        });
        // Both texts, in the message and in the window.
        assert_eq!(
            harness.query_all_by_label("\u{201c}mine\u{201d}").count(),
            2
        );
        assert_eq!(
            harness.query_all_by_label("\u{201c}theirs\u{201d}").count(),
            2
        );
        assert_eq!(harness.query_all_by_label("Yours").count(), 2);
        assert_eq!(harness.query_all_by_label("The store's").count(), 2);
        harness.get_by_label_contains("1 held for your choice");
        assert_eq!(self.descriptions()[0], "theirs", "held, not sent");
        // "Later" puts the message off: the window alone offers the choice now.
        harness.get_by_label("Later").click();
        step_until(harness, "the message is put off", |h| {
            h.query_all_by_label("Yours").count() == 1
        });
        harness.get_by_label("\u{201c}theirs\u{201d}");
    }
}

#[test]
fn the_pending_window_shows_both_texts_and_use_the_stores_keeps_theirs() {
    let (rig, mut harness) = Rig::new();
    rig.hold_a_description(&mut harness);
    harness.get_by_label("Use the store's").click();
    step_until(
        &mut harness,
        "nothing waits and the tile shows theirs",
        |h| {
            h.query_by_label("Image 1: theirs (thumbnail)").is_some()
                && h.query_by_label_contains("Keep mine").is_none()
                && h.query_by_label("0 pending").is_some()
        },
    );
    assert!(
        rig.runtime
            .block_on(rig.engine.outbox())
            .unwrap()
            .is_empty()
    );
    assert_eq!(rig.descriptions()[0], "theirs");
}

#[test]
fn keep_mine_in_the_pending_window_sends_yours() {
    let (rig, mut harness) = Rig::new();
    rig.hold_a_description(&mut harness);
    harness.get_by_label("Keep mine").click();
    step_until_store(&mut harness, "yours", || rig.descriptions()[0] == "mine");
    step_until(&mut harness, "nothing waits", |h| {
        h.query_by_label("0 pending").is_some() && h.query_by_label_contains("Keep mine").is_none()
    });
}

// -- the command line -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sync_names_a_held_edit_in_plain_words_and_exits_1_without_sending_it() {
    use common::cli::{Cli, code, product_with_images, text};
    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, "CUP", 1).await;
    let cli = Cli::new();
    let out = cli.on(&api, &["sync", "--timeout", "30"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let (p, img) = (product.to_string(), ids[0].to_string());
    let out = cli
        .on(&api, &["describe", &p, &img, "mine", "--offline"])
        .await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    other_writes(&store, product, ids[0], description("theirs")).await;

    let out = cli.on(&api, &["sync", "--timeout", "30"]).await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("the store changed it too"), "{said}");
    assert!(
        said.contains("yours: \"mine\", the store's: \"theirs\""),
        "{said}"
    );
    assert!(said.contains("Pending window"), "{said}");
    assert_eq!(store_images(&store, product).await[0].description, "theirs");
}
