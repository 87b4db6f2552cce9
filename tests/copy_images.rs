//! "Copy to other products" through the engine over the real server on loopback: pictures land
//! at the end of every target with their descriptions and pixel sizes, one create each; a copy
//! queued while the store is down lands once when it is back; a copy whose pictures the store
//! cannot give (it is down) queues nothing and says so; the images of several products are read
//! from the store before a bulk edit rather than given half.

mod common;

use std::path::Path;
use std::time::Duration;

use common::ui::seed;
use common::*;
use imagedesk::api::Image;
use imagedesk::sync::{Connection, CopyError, Engine, EngineConfig, SyncError};

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

/// Image creates the store answered (its /metrics).
async fn creates(store: &TestStore) -> u64 {
    requests_counted(
        &store.server.base_url(),
        &["method=\"POST\"", "route=\"/api/v2", "status=\"201\""],
    )
    .await
}

fn descriptions(images: &[Image]) -> Vec<String> {
    images.iter().map(|i| i.description.clone()).collect()
}

fn sizes(images: &[Image]) -> Vec<(Option<u32>, Option<u32>)> {
    images.iter().map(|i| (i.width, i.height)).collect()
}

#[tokio::test]
async fn two_pictures_copied_to_two_products_land_at_their_ends_with_descriptions_and_sizes() {
    let replica = tempfile::tempdir().unwrap();
    let store = start().await;
    let a = store.product("Lamp").await;
    let b = store.product("Desk").await;
    let c = store.product("Chair").await;
    seed(&store, a, 3).await;
    seed(&store, b, 1).await;
    let engine = open(engine_config(replica.path()), &store).await;
    settle(&engine).await;
    let sources = store.images(a).await;
    let picked = engine_ids(&engine, a).await;
    let before = creates(&store).await;

    let progress = std::sync::Mutex::new(Vec::new());
    let report = engine
        .copy_images(&[picked[0], picked[2]], &[b, c], |done, total| {
            progress.lock().unwrap().push((done, total));
        })
        .await
        .unwrap();
    assert_eq!(report.created.len(), 4);
    assert_eq!((report.pictures, report.products), (2, 2));
    let steps = progress.into_inner().unwrap();
    assert_eq!(steps.last(), Some(&(6, 6)), "two downloads and four adds");
    settle(&engine).await;

    assert_eq!(
        creates(&store).await - before,
        4,
        "exactly one create per copy"
    );
    let in_b = store.images(b).await;
    assert_eq!(descriptions(&in_b), ["img-0", "img-0", "img-2"]);
    let in_c = store.images(c).await;
    assert_eq!(descriptions(&in_c), ["img-0", "img-2"]);
    let wanted = sizes(&[sources[0].clone(), sources[2].clone()]);
    assert_eq!(sizes(&in_b[1..]), wanted, "the originals' pixel sizes");
    assert_eq!(sizes(&in_c), wanted);
    assert!(wanted.iter().all(|(w, _)| w.is_some()));
    assert_eq!(store.images(a).await.len(), 3, "the sources stay");
    // Settling again sends nothing more.
    settle(&engine).await;
    assert_eq!(creates(&store).await - before, 4);
}

#[tokio::test]
async fn a_picture_larger_than_the_zoom_box_is_copied_at_its_full_size() {
    let replica = tempfile::tempdir().unwrap();
    let store = start().await;
    let a = store.product("Lamp").await;
    let b = store.product("Desk").await;
    let big = imagedesk::imaging::synthetic::jpeg(
        &imagedesk::imaging::synthetic::photo(1700, 1100, 3),
        85,
        false,
        None,
    );
    std::fs::write(store.import.path().join("big.jpg"), big).unwrap();
    let write = imagedesk::api::ImageWrite {
        image_file: Some("big.jpg".into()),
        description: Some("wide".into()),
        ..imagedesk::api::ImageWrite::default()
    };
    store.client.create_image(a, &write, None).await.unwrap();
    let engine = open(engine_config(replica.path()), &store).await;
    settle(&engine).await;
    let picked = engine_ids(&engine, a).await;
    engine.copy_images(&picked, &[b], |_, _| {}).await.unwrap();
    settle(&engine).await;
    let copied = store.images(b).await;
    assert_eq!(descriptions(&copied), ["wide"]);
    assert_eq!(
        sizes(&copied),
        [(Some(1700), Some(1100))],
        "not the 1280 px zoom copy"
    );
}

#[tokio::test]
async fn a_copy_queued_while_the_store_is_down_lands_once_when_it_is_back() {
    let replica = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let store = start().await;
    let a = store.product("Lamp").await;
    let b = store.product("Desk").await;
    let c = store.product("Chair").await;
    let engine = open(engine_config(replica.path()), &store).await;
    settle(&engine).await;
    let stopped = store.stop().await;

    // A picture added while the store is down is copied from its own queued file.
    let path = files.path().join("offline.jpg");
    std::fs::write(&path, small_jpeg(4)).unwrap();
    let added = engine.add_file(a, &path, "made offline").await.unwrap();
    let report = engine
        .copy_images(&[added], &[b, c], |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.created.len(), 2);
    assert_eq!(engine.images(b).await.unwrap().len(), 1, "shown at once");
    assert!(engine.status().pending >= 3, "{:?}", engine.status());

    let store = stopped.start().await;
    settle(&engine).await;
    assert_eq!(
        creates(&store).await,
        3,
        "the add and its two copies, once each"
    );
    for product in [a, b, c] {
        let images = store.images(product).await;
        assert_eq!(descriptions(&images), ["made offline"], "product {product}");
        assert_eq!(sizes(&images), [(Some(160), Some(120))]);
    }
    engine.refresh();
    settle(&engine).await;
    assert_eq!(creates(&store).await, 3);
}

#[tokio::test]
async fn a_copy_of_a_stored_picture_while_the_store_is_down_queues_nothing_and_says_why() {
    let replica = tempfile::tempdir().unwrap();
    let store = start().await;
    let a = store.product("Lamp").await;
    let b = store.product("Desk").await;
    seed(&store, a, 2).await;
    let engine = open(engine_config(replica.path()), &store).await;
    settle(&engine).await;
    let picked = engine_ids(&engine, a).await;
    let _stopped = store.stop().await;

    let err = engine
        .copy_images(&picked, &[b], |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::Copy(CopyError::StoreUnreachable(_))),
        "{err}"
    );
    assert!(err.to_string().contains("try again when the store is back"));
    assert!(engine.images(b).await.unwrap().is_empty());
    assert_eq!(engine.outbox().await.unwrap().len(), 0, "nothing queued");
}

#[tokio::test]
async fn the_images_of_products_never_read_are_read_before_a_bulk_edit_or_refused() {
    let replica = tempfile::tempdir().unwrap();
    let store = start().await;
    let a = store.product("Lamp").await;
    let b = store.product("Desk").await;
    seed(&store, a, 2).await;
    seed(&store, b, 3).await;
    // An engine that has read the product list but none of the products' images (its
    // background sweep waits an hour between reads).
    let mut config = engine_config(replica.path());
    config.background_interval = Duration::from_secs(3600);
    let engine = open(config, &store).await;
    for _ in 0..500 {
        if engine.products().await.unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(engine.products_unread().await.unwrap(), 2);

    // The store is down: never a partial (empty) list, but an error that says what to do.
    let stopped = store.stop().await;
    let err = engine.products_images(&[a, b]).await.unwrap_err();
    assert!(
        matches!(err, SyncError::Copy(CopyError::NotLoaded(2))),
        "{err}"
    );
    assert!(err.to_string().contains("2 of the products"), "{err}");

    let _store = stopped.start().await;
    let listed = engine.products_images(&[a, b]).await.unwrap();
    assert_eq!(listed[&a].1.len(), 2);
    assert_eq!(listed[&b].1.len(), 3);
    assert_eq!(listed[&b].0.name, "Desk");
    assert_eq!(engine.products_unread().await.unwrap(), 0);
}
