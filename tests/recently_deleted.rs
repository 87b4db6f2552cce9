//! "Recently deleted" over the real server on loopback: a deleted picture's copy is kept (made
//! before the delete goes out, also when it was queued offline), a restore puts it back once at
//! its old place with its description (also across a restart), entries past 30 days go with
//! their files, and the window lists an entry whose Restore brings it back into the grid.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::ui::{open_lamp, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::Image;
use imagedesk::sync::{Connection, Engine, EngineConfig, KeptCopy, RECENTLY_DELETED_DAYS};
use imagedesk::ui::{Backend, ImageDeskApp};

fn engine_config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::in_dir(dir);
    config.pull_interval = Duration::from_secs(3600);
    config.backoff_base = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(400);
    config
}

async fn open(config: EngineConfig, store: &TestStore) -> Engine {
    Engine::open(config, client_for(&store.server.api_url()))
        .await
        .unwrap()
}

async fn settle(engine: &Engine) {
    let status = engine.caught_up(Duration::from_secs(60)).await;
    assert_eq!(status.pending, 0, "queue did not drain: {status:?}");
    assert_eq!(status.connection, Connection::Online, "{status:?}");
}

fn descriptions(images: &[Image]) -> Vec<String> {
    images.iter().map(|i| i.description.clone()).collect()
}

/// A store with "Lamp" and four images "img-0" … "img-3", and an engine caught up with it.
async fn lamp_with_four(replica: &Path) -> (TestStore, i64, Engine) {
    let store = start().await;
    let product = store.product("Lamp").await;
    seed(&store, product, 4).await;
    let engine = open(engine_config(replica), &store).await;
    settle(&engine).await;
    (store, product, engine)
}

/// Deletes the image at `index` of the product through the engine; returns the store's
/// record of it, read before.
async fn delete_at(store: &TestStore, engine: &Engine, product: i64, index: usize) -> Image {
    let record = store.images(product).await[index].clone();
    let local = engine.images(product).await.unwrap()[index].id;
    engine.delete(&[local]).await.unwrap();
    record
}

fn kept_files(replica: &Path) -> usize {
    std::fs::read_dir(replica.join("deleted")).map_or(0, |d| d.flatten().count())
}

async fn assert_copy_is(engine: &Engine, original: &Image) {
    let entries = engine.recently_deleted().await.unwrap();
    let bytes = engine
        .deleted_picture(entries[0].id)
        .await
        .unwrap()
        .expect("a copy was kept");
    let probe = imagedesk::imaging::probe(&bytes).expect("the copy decodes as a picture");
    assert_eq!(
        (Some(probe.width), Some(probe.height)),
        (original.width, original.height),
        "the full picture, not a smaller variant"
    );
}

#[tokio::test]
async fn a_deleted_picture_is_kept_and_restored_once_at_its_place_with_its_description() {
    let replica = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    let original = delete_at(&store, &engine, product, 2).await;
    settle(&engine).await;
    assert_eq!(
        descriptions(&store.images(product).await),
        ["img-0", "img-1", "img-3"]
    );

    let entries = engine.recently_deleted().await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry.description, "img-2");
    assert_eq!(entry.position, 2);
    assert_eq!(entry.product_id, product);
    assert_eq!(entry.product_name.as_deref(), Some("Lamp"));
    assert_eq!(entry.copy, KeptCopy::Original);
    assert_copy_is(&engine, &original).await;

    engine.restore(entry.id).await.unwrap();
    assert!(engine.recently_deleted().await.unwrap().is_empty());
    settle(&engine).await;
    let after = store.images(product).await;
    assert_eq!(descriptions(&after), ["img-0", "img-1", "img-2", "img-3"]);
    assert_eq!(
        (after[2].width, after[2].height),
        (original.width, original.height)
    );
    assert_eq!(
        kept_files(replica.path()),
        0,
        "the kept copy went with its entry"
    );
    // A second restore of the same entry is refused, not a second image.
    assert!(engine.restore(entry.id).await.is_err());
    settle(&engine).await;
    assert_eq!(store.images(product).await.len(), 4);
}

#[tokio::test]
async fn a_restore_queued_before_a_restart_lands_exactly_once() {
    let replica = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    delete_at(&store, &engine, product, 2).await;
    settle(&engine).await;
    engine.close().await;

    // Queued by an engine that never sends, then sent by the next one.
    let mut paused = engine_config(replica.path());
    paused.start_paused = true;
    let engine = open(paused, &store).await;
    let entry = engine.recently_deleted().await.unwrap()[0].clone();
    engine.restore(entry.id).await.unwrap();
    engine.close().await;
    assert_eq!(store.images(product).await.len(), 3, "nothing was sent yet");

    let engine = open(engine_config(replica.path()), &store).await;
    assert!(engine.recently_deleted().await.unwrap().is_empty());
    settle(&engine).await;
    assert_eq!(
        descriptions(&store.images(product).await),
        ["img-0", "img-1", "img-2", "img-3"]
    );
}

#[tokio::test]
async fn entries_older_than_thirty_days_are_purged_with_their_files() {
    let replica = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    delete_at(&store, &engine, product, 3).await;
    delete_at(&store, &engine, product, 0).await;
    settle(&engine).await;
    let entries = engine.recently_deleted().await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(kept_files(replica.path()), 2);
    engine.close().await;

    // One entry deleted 31 days ago, the other 29: only the first is past its time.
    let day_ms: i64 = 24 * 3600 * 1000;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        replica.path().join("replica.sqlite").display()
    ))
    .await
    .unwrap();
    let keep_days = RECENTLY_DELETED_DAYS as i64;
    for (entry, days) in [(&entries[0], keep_days + 1), (&entries[1], keep_days - 1)] {
        sqlx::query("UPDATE recently_deleted SET deleted_at_ms = ? WHERE id = ?")
            .bind(now_ms - days * day_ms)
            .bind(entry.id.0)
            .execute(&db)
            .await
            .unwrap();
    }
    db.close().await;

    let engine = open(engine_config(replica.path()), &store).await;
    let left = engine.recently_deleted().await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].id, entries[1].id);
    assert_eq!(left[0].days_left(std::time::SystemTime::now()), 0);
    assert_eq!(
        kept_files(replica.path()),
        1,
        "the purged entry's file went"
    );
    assert!(engine.deleted_picture(left[0].id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_delete_queued_offline_keeps_the_full_picture_once_the_store_is_back() {
    let replica = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    let original = store.images(product).await[1].clone();
    let stopped = store.stop().await;
    let local = engine.images(product).await.unwrap()[1].id;
    engine.delete(&[local]).await.unwrap();
    let entries = engine.recently_deleted().await.unwrap();
    assert_eq!(
        entries[0].copy,
        KeptCopy::Pending,
        "the store cannot be asked yet"
    );
    assert_eq!(entries[0].position, 1);

    let store = stopped.start().await;
    settle(&engine).await;
    assert_eq!(
        descriptions(&store.images(product).await),
        ["img-0", "img-2", "img-3"]
    );
    let entries = engine.recently_deleted().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].copy, KeptCopy::Original);
    assert_copy_is(&engine, &original).await;
}

#[tokio::test]
async fn a_deleted_upload_that_never_reached_the_store_keeps_its_own_file() {
    let replica = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    engine.pause();
    let path = files.path().join("new.jpg");
    std::fs::write(&path, small_jpeg(9)).unwrap();
    let added = engine.add_file(product, &path, "never sent").await.unwrap();
    engine.delete(&[added]).await.unwrap();
    let entries = engine.recently_deleted().await.unwrap();
    assert_eq!(entries[0].copy, KeptCopy::Upload);
    assert_eq!(entries[0].position, 4);
    let bytes = engine
        .deleted_picture(entries[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bytes.as_ref(), small_jpeg(9).as_slice());
    engine.resume();
    settle(&engine).await;
    assert_eq!(store.images(product).await.len(), 4, "nothing was sent");
}

#[tokio::test]
async fn a_picture_the_store_cannot_give_keeps_the_largest_cached_variant_and_says_so() {
    let replica = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    let local = engine.images(product).await.unwrap()[2].id;
    let tile = engine
        .tile(local)
        .await
        .unwrap()
        .expect("the tile is cached");
    // The store loses its picture files (its records stay): the full picture cannot be had.
    remove_pictures(store.data.path());
    engine.delete(&[local]).await.unwrap();
    settle(&engine).await;
    assert_eq!(store.images(product).await.len(), 3);
    let entries = engine.recently_deleted().await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].copy, KeptCopy::Smaller);
    let kept = engine
        .deleted_picture(entries[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept, tile, "the cached tile, the largest variant there is");
}

/// Removes every picture file under a store's data directory (not its database).
fn remove_pictures(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_pictures(&path);
        } else if !path.to_string_lossy().contains("sqlite") {
            std::fs::remove_file(&path).unwrap();
        }
    }
}

#[tokio::test]
async fn a_discarded_delete_takes_its_entry_with_it() {
    let replica = tempfile::tempdir().unwrap();
    let (store, product, engine) = lamp_with_four(replica.path()).await;
    engine.pause();
    delete_at(&store, &engine, product, 1).await;
    assert_eq!(engine.recently_deleted().await.unwrap().len(), 1);
    let seq = engine.outbox().await.unwrap()[0].seq;
    engine.discard(seq).await.unwrap();
    assert!(
        engine.recently_deleted().await.unwrap().is_empty(),
        "the picture is back, so it is not recently deleted"
    );
    engine.resume();
    settle(&engine).await;
    assert_eq!(store.images(product).await.len(), 4);
}

// -- the window ---------------------------------------------------------------------------------

#[test]
fn the_window_lists_a_deleted_picture_and_restore_brings_it_back() {
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
        let engine = open(config, &store).await;
        (store, product, engine)
    });
    let engine = Arc::new(engine);
    let backend = Backend::new(engine.clone(), runtime.handle().clone()).with_data_dir(data.path());
    let app = ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50));
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
    open_lamp(&mut harness);
    let server_descriptions = || {
        descriptions(
            &runtime
                .block_on(store.client.list_all_images(product))
                .unwrap(),
        )
    };

    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    harness.get_by_label("Delete selected").click();
    step_until_store(&mut harness, "the delete", || {
        server_descriptions() == ["img-0", "img-2"]
    });

    harness.get_by_label("Recently deleted…").click();
    step_until(&mut harness, "the window lists the picture", |h| {
        h.query_by_label("img-1").is_some() && h.query_by_label("Restore").is_some()
    });
    assert!(harness.query_by_label("Image 2: img-1").is_none());
    harness.get_by_label("Restore").click();
    step_until_store(&mut harness, "the restored picture", || {
        server_descriptions() == ["img-0", "img-1", "img-2"]
    });
    step_until(&mut harness, "the grid shows it again", |h| {
        h.query_by_label("Image 2: img-1").is_some()
    });
    step_until(&mut harness, "the notice says so", |h| {
        h.query_by_label_contains("Restored \"img-1\" to Lamp, at place 2")
            .is_some()
    });
    assert!(
        runtime
            .block_on(engine.recently_deleted())
            .unwrap()
            .is_empty()
    );
}
