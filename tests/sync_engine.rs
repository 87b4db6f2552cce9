//! The sync engine against the real server over loopback: offline edits, coalescing counted by
//! the server's own /metrics, conflicts, refusals, restarts, and SIGKILL of either side.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use imagedesk::api::{Client, Image, ImageWrite, reorder::plan_reorder};
use imagedesk::server::{Config, RunningServer, Server};
use imagedesk::sync::{
    ConflictField, Connection, Engine, EngineConfig, Event, ImageId, LocalImage, SyncState,
};

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
    let status = engine.caught_up(Duration::from_secs(60)).await;
    assert_eq!(status.pending, 0, "queue did not drain: {status:?}");
    assert_eq!(status.connection, Connection::Online, "{status:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve_on(data: &Path, import: &Path, port: u16) -> RunningServer {
    let mut config = Config::local(data, TOKEN);
    config.import_dir = Some(import.to_path_buf());
    config.listen = ([127, 0, 0, 1], port).into();
    Server::bind(config).await.unwrap().spawn()
}

fn jpeg_file(dir: &Path, name: &str, seed: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, small_jpeg(seed)).unwrap();
    path
}

/// Creates images on the store directly, described `{prefix}-{i}`.
async fn seed_images(store_import: &Path, client: &Client, product: i64, prefix: &str, n: usize) {
    for i in 0..n {
        let name = format!("{prefix}-{i}.jpg");
        std::fs::write(store_import.join(&name), small_jpeg(i as u64 + 7)).unwrap();
        let write = ImageWrite {
            image_file: Some(name),
            description: Some(format!("{prefix}-{i}")),
            ..ImageWrite::default()
        };
        client.create_image(product, &write, None).await.unwrap();
    }
}

fn descriptions(images: &[Image]) -> Vec<String> {
    images.iter().map(|i| i.description.clone()).collect()
}

fn local_descriptions(images: &[LocalImage]) -> Vec<String> {
    images.iter().map(|i| i.description.clone()).collect()
}

fn thumbnail_of(images: &[Image]) -> Option<String> {
    images
        .iter()
        .find(|i| i.is_thumbnail)
        .map(|i| i.description.clone())
}

/// Requests the server answered, by method, over the API routes (from its /metrics).
async fn api_requests(base_url: &str, method: &str) -> u64 {
    let method = format!("method=\"{method}\"");
    requests_counted(base_url, &[&method, "route=\"/api/v2"]).await
}

async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    want: impl Fn(&Event) -> bool,
) -> Event {
    tokio::time::timeout(Duration::from_secs(20), async {
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

async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn offline_edits_land_in_order_when_the_store_comes_back() {
    let data = tempfile::tempdir().unwrap();
    let import = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = serve_on(data.path(), import.path(), port).await;
    let client = client_for(&server.api_url());
    let product = client
        .create_product(&imagedesk::api::NewProduct {
            name: "Mug".into(),
            sku: "MUG".into(),
        })
        .await
        .unwrap()
        .id;
    seed_images(import.path(), &client, product, "old", 3).await;
    let api = server.api_url();
    let engine = open(replica.path(), &api).await;
    settle(&engine).await;
    let before = engine.images(product).await.unwrap();
    assert_eq!(local_descriptions(&before), ["old-0", "old-1", "old-2"]);
    server.shutdown().await.unwrap();

    // The store is down: every edit is applied locally at once and queued.
    let (a, b) = (before[0].id, before[1].id);
    let n1 = engine
        .add_file(product, jpeg_file(files.path(), "n1.jpg", 1), "new-1")
        .await
        .unwrap();
    let n2 = engine
        .add_file(product, jpeg_file(files.path(), "n2.jpg", 2), "new-2")
        .await
        .unwrap();
    engine.describe(a, "first").await.unwrap();
    engine.set_thumbnail(n2).await.unwrap();
    engine.move_images(product, &[n2], 0).await.unwrap();
    engine.delete(&[b]).await.unwrap();
    let local = engine.images(product).await.unwrap();
    assert_eq!(
        local_descriptions(&local),
        ["new-2", "first", "old-2", "new-1"]
    );
    assert!(local[0].is_thumbnail);
    assert!(matches!(local[0].sync, SyncState::Pending(_)));
    assert_eq!(local[3].id, n1);
    wait_until("the engine notices the store is down", || async {
        engine.status().connection == Connection::Offline
    })
    .await;
    assert!(engine.status().pending >= 5, "{:?}", engine.status());

    let server = serve_on(data.path(), import.path(), port).await;
    settle(&engine).await;
    let store = client_for(&server.api_url())
        .list_all_images(product)
        .await
        .unwrap();
    assert_eq!(descriptions(&store), ["new-2", "first", "old-2", "new-1"]);
    assert_eq!(thumbnail_of(&store).as_deref(), Some("new-2"));
    let local = engine.images(product).await.unwrap();
    assert_eq!(
        local.iter().map(|i| i.server_id).collect::<Vec<_>>(),
        store.iter().map(|i| Some(i.id)).collect::<Vec<_>>(),
        "the replica maps each local image to its store record"
    );
    assert!(local.iter().all(|i| i.sync == SyncState::Synced));
    assert!(local.iter().all(|i| i.local_file.is_none()));
    assert_eq!(
        std::fs::read_dir(replica.path().join("blobs"))
            .unwrap()
            .count(),
        0,
        "uploaded copies are removed"
    );
    engine.close().await;
}

#[tokio::test]
async fn an_edit_script_sends_the_fewest_requests() {
    let store = start().await;
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Lamp").await;
    seed_images(store.import.path(), &store.client, product, "img", 5).await;
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    engine.pause();
    let ids = engine_ids(&engine, product).await;
    let base = store.server.base_url();
    let (posts, puts, deletes) = (
        api_requests(&base, "POST").await,
        api_requests(&base, "PUT").await,
        api_requests(&base, "DELETE").await,
    );

    // Created, described three times, deleted, all before a sync: nothing at all.
    let gone = engine
        .add_file(product, jpeg_file(files.path(), "x.jpg", 3), "x")
        .await
        .unwrap();
    for text in ["x1", "x2", "x3"] {
        engine.describe(gone, text).await.unwrap();
    }
    engine.delete(&[gone]).await.unwrap();
    // Five descriptions of one image: one PUT.
    for i in 0..5 {
        engine
            .describe(ids[0], &format!("img-0 v{i}"))
            .await
            .unwrap();
    }
    // Three thumbnail choices: one PUT.
    for &id in &ids[1..4] {
        engine.set_thumbnail(id).await.unwrap();
    }
    // Three moves: the planner's plan for the final order.
    engine.move_images(product, &[ids[4]], 0).await.unwrap();
    engine.move_images(product, &[ids[0]], 4).await.unwrap();
    engine.move_images(product, &[ids[2]], 1).await.unwrap();
    // A create described twice before it is sent: one POST that carries the last description.
    let added = engine
        .add_file(product, jpeg_file(files.path(), "y.jpg", 4), "y")
        .await
        .unwrap();
    engine.describe(added, "y final").await.unwrap();
    engine.describe(added, "y really final").await.unwrap();

    let server_now = store.client.list_all_images(product).await.unwrap();
    let server_id_of = |id: ImageId| -> i64 {
        let n = ids.iter().position(|x| *x == id).unwrap();
        server_now[n].id
    };
    let desired: Vec<i64> = engine
        .images(product)
        .await
        .unwrap()
        .iter()
        .filter(|i| i.id != added)
        .map(|i| server_id_of(i.id))
        .collect();
    let pairs: Vec<(i64, i64)> = server_now.iter().map(|i| (i.id, i.sort_order)).collect();
    let plan = plan_reorder(&pairs, &desired).unwrap();
    assert!(!plan.is_empty());

    engine.resume();
    settle(&engine).await;
    assert_eq!(api_requests(&base, "POST").await - posts, 1);
    assert_eq!(api_requests(&base, "DELETE").await - deletes, 0);
    assert_eq!(
        api_requests(&base, "PUT").await - puts,
        1 + 1 + plan.len() as u64,
        "one description, one thumbnail, and the {}-write reorder plan",
        plan.len()
    );
    let final_list = store.client.list_all_images(product).await.unwrap();
    assert_eq!(
        descriptions(&final_list),
        [
            "img-4",
            "img-2",
            "img-1",
            "img-3",
            "img-0 v4",
            "y really final"
        ]
    );
    assert_eq!(thumbnail_of(&final_list).as_deref(), Some("img-3"));
    engine.close().await;
}

#[tokio::test]
async fn a_field_changed_on_both_sides_is_held_with_both_values_until_the_person_keeps_theirs() {
    let store = start().await;
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Chair").await;
    seed_images(store.import.path(), &store.client, product, "c", 2).await;
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    let (a, b) = (&local[0], &local[1]);
    engine.describe(a.id, "local words").await.unwrap();

    // Meanwhile someone else edits the store: the same field of A, and B (untouched here).
    let server = store.client.list_all_images(product).await.unwrap();
    let change = |description: &str, thumb: Option<bool>| ImageWrite {
        description: Some(description.into()),
        is_thumbnail: thumb,
        ..ImageWrite::default()
    };
    store
        .client
        .update_image(product, server[0].id, &change("store words", None))
        .await
        .unwrap();
    store
        .client
        .update_image(product, server[1].id, &change("store b", Some(true)))
        .await
        .unwrap();

    engine.refresh();
    let event = next_event(&mut events, |e| matches!(e, Event::Conflict(_))).await;
    let Event::Conflict(conflict) = event else {
        unreachable!()
    };
    assert_eq!(conflict.image, a.id);
    assert_eq!(conflict.field, ConflictField::Description);
    assert_eq!(conflict.local, "local words");
    assert_eq!(conflict.server, "store words");
    // Pulls may run again (the refresh above, a reconnect); they must not overwrite either.
    wait_until("the untouched image takes the store's values", || async {
        engine
            .image(b.id)
            .await
            .unwrap()
            .is_some_and(|b| b.description == "store b" && b.is_thumbnail)
    })
    .await;
    assert_eq!(
        engine.image(a.id).await.unwrap().unwrap().description,
        "local words"
    );

    // Held, not sent: the other person's words stay on the store while the engine settles.
    engine.resume();
    let status = engine.caught_up(Duration::from_secs(60)).await;
    assert_eq!((status.pending, status.held), (1, 1), "{status:?}");
    let server = store.client.list_all_images(product).await.unwrap();
    assert_eq!(descriptions(&server), ["store words", "store b"]);
    let outbox = engine.outbox().await.unwrap();
    let held = outbox[0].held.as_ref().expect("the edit is held");
    assert_eq!(
        (held.mine.as_str(), held.theirs.as_str()),
        ("local words", "store words")
    );
    assert_eq!(outbox[0].seq, conflict.seq);

    // "Keep mine": now it is sent.
    engine.keep_mine(conflict.seq).await.unwrap();
    settle(&engine).await;
    let server = store.client.list_all_images(product).await.unwrap();
    assert_eq!(descriptions(&server), ["local words", "store b"]);
    assert_eq!(thumbnail_of(&server).as_deref(), Some("store b"));
    engine.close().await;
}

#[tokio::test]
async fn edits_of_an_image_deleted_on_the_store_are_dropped_and_reported() {
    let store = start().await;
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Desk").await;
    seed_images(store.import.path(), &store.client, product, "d", 2).await;
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    let mut events = engine.subscribe();
    engine.pause();
    let local = engine.images(product).await.unwrap();
    engine.describe(local[0].id, "never sent").await.unwrap();
    let server_id = local[0].server_id.unwrap();
    store.client.delete_image(product, server_id).await.unwrap();

    engine.refresh();
    let event = next_event(&mut events, |e| matches!(e, Event::EditsDropped { .. })).await;
    assert!(
        matches!(event, Event::EditsDropped { image, edits: 1, .. } if image == local[0].id),
        "{event:?}"
    );
    assert!(engine.image(local[0].id).await.unwrap().is_none());
    assert!(engine.outbox().await.unwrap().is_empty());
    engine.close().await;
}

#[tokio::test]
async fn a_refused_edit_fails_with_the_store_reason_and_the_queue_goes_on() {
    let store = start().await;
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Sofa").await;
    seed_images(store.import.path(), &store.client, product, "s", 1).await;
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    let mut events = engine.subscribe();
    engine.pause();
    let existing = engine.images(product).await.unwrap()[0].id;
    // Loopback URLs are refused by a store that does not allow private addresses.
    let refused = engine
        .add_url(product, "http://127.0.0.1:9/nothing.jpg", "from url")
        .await
        .unwrap();
    engine.set_thumbnail(refused).await.unwrap();
    engine.describe(existing, "still sent").await.unwrap();
    engine.resume();

    let event = next_event(&mut events, |e| matches!(e, Event::EditFailed { .. })).await;
    let Event::EditFailed { seq, message, .. } = event else {
        unreachable!()
    };
    assert!(message.contains("400"), "{message}");
    wait_until("the later edit is confirmed", || async {
        engine.outbox().await.unwrap().len() == 2
    })
    .await;
    assert_eq!(
        store.client.list_all_images(product).await.unwrap()[0].description,
        "still sent"
    );
    let outbox = engine.outbox().await.unwrap();
    assert_eq!(outbox.len(), 2, "{outbox:?}");
    assert_eq!(outbox[0].seq, seq);
    assert!(outbox[0].failed.is_some());
    assert!(outbox[1].failed.is_none(), "the dependent edit waits");
    assert!(matches!(
        engine.image(refused).await.unwrap().unwrap().sync,
        SyncState::Failed(_)
    ));

    // Retry fails the same way; discard removes the image and the edit that waited for it.
    engine.retry(seq).await.unwrap();
    next_event(&mut events, |e| matches!(e, Event::EditFailed { .. })).await;
    engine.discard(seq).await.unwrap();
    assert!(engine.outbox().await.unwrap().is_empty());
    assert!(engine.image(refused).await.unwrap().is_none());
    settle(&engine).await;
    assert_eq!(
        store.client.list_all_images(product).await.unwrap().len(),
        1
    );
    engine.close().await;
}

#[tokio::test]
async fn an_offline_upload_survives_a_restart_of_the_engine_and_lands_once() {
    let store = start().await;
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Vase").await;
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    engine.pause();
    let original = jpeg_file(files.path(), "vase photo.jpg", 11);
    let size = std::fs::metadata(&original).unwrap().len();
    let id = engine.add_file(product, &original, "vase").await.unwrap();
    std::fs::remove_file(&original).unwrap();
    assert!(
        engine.tile(id).await.unwrap().is_some(),
        "a pending upload shows its own copy"
    );
    engine.close().await;

    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    let images = store.client.list_all_images(product).await.unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].description, "vase");
    assert_eq!(images[0].file_size, Some(size));
    assert_eq!(
        engine.image(id).await.unwrap().unwrap().server_id,
        Some(images[0].id)
    );
    engine.close().await;
}

#[tokio::test]
async fn replace_keeps_the_place_and_delete_all_clears_the_product() {
    let store = start().await;
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Rug").await;
    seed_images(store.import.path(), &store.client, product, "r", 3).await;
    let engine = open(replica.path(), &store.server.api_url()).await;
    settle(&engine).await;
    let local = engine.images(product).await.unwrap();
    let wide = files.path().join("wide.png");
    std::fs::write(
        &wide,
        imagedesk::imaging::synthetic::png(
            &imagedesk::imaging::synthetic::photo(500, 300, 5).into(),
        ),
    )
    .unwrap();
    engine.replace_file(local[1].id, &wide).await.unwrap();
    settle(&engine).await;
    let server = store.client.list_all_images(product).await.unwrap();
    assert_eq!(descriptions(&server), ["r-0", "r-1", "r-2"]);
    assert_eq!((server[1].width, server[1].height), (Some(500), Some(300)));
    let replaced = engine.image(local[1].id).await.unwrap().unwrap();
    assert_eq!(replaced.server_id, Some(server[1].id));
    assert_ne!(replaced.server_id, local[1].server_id);

    engine.pause();
    engine.delete_all(product).await.unwrap();
    assert!(engine.images(product).await.unwrap().is_empty());
    let kept = engine
        .add_file(product, jpeg_file(files.path(), "after.jpg", 9), "after")
        .await
        .unwrap();
    engine.resume();
    settle(&engine).await;
    let server = store.client.list_all_images(product).await.unwrap();
    assert_eq!(descriptions(&server), ["after"]);
    assert!(server[0].is_thumbnail);
    assert_eq!(engine.images(product).await.unwrap()[0].id, kept);
    engine.close().await;
}

#[tokio::test]
async fn the_tile_cache_stays_under_its_cap() {
    let store = start().await;
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Tiles").await;
    seed_images(store.import.path(), &store.client, product, "t", 5).await;
    let mut config = engine_config(replica.path());
    let probe_engine = Engine::open(config.clone(), client_for(&store.server.api_url()))
        .await
        .unwrap();
    settle(&probe_engine).await;
    let first = probe_engine.images(product).await.unwrap()[0].id;
    let one = probe_engine.tile(first).await.unwrap().unwrap().len() as u64;
    probe_engine.close().await;

    config.tile_cache_bytes = one * 5 / 2;
    let engine = Engine::open(config, client_for(&store.server.api_url()))
        .await
        .unwrap();
    let images = engine.images(product).await.unwrap();
    for image in &images {
        let bytes = engine.tile(image.id).await.unwrap().unwrap();
        imagedesk::imaging::probe(&bytes).unwrap();
        assert!(engine.tile_cache_bytes().await.unwrap() <= one * 5 / 2);
    }
    let files = std::fs::read_dir(replica.path().join("tiles"))
        .unwrap()
        .count();
    assert!(files <= 3, "{files} tiles kept");
    // The evicted first tile is fetched again.
    assert!(engine.tile(images[0].id).await.unwrap().is_some());
    engine.close().await;
}

// -- the store or the engine killed mid-sync ----------------------------------------------------

fn spawn_serve(data: &Path, import: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .arg("--import-dir")
        .arg(import)
        .env("IMAGEDESK_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_for_health(base: &str) {
    wait_until("the server answers", || async {
        reqwest::get(format!("{base}/healthz")).await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn a_store_killed_mid_sync_of_200_edits_ends_with_each_applied_once() {
    let data = tempfile::tempdir().unwrap();
    let import = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let api = format!("{base}/api/v2");
    let mut server = spawn_serve(data.path(), import.path(), port);
    wait_for_health(&base).await;
    let client = client_for(&api);
    let product = client
        .create_product(&imagedesk::api::NewProduct {
            name: "Big".into(),
            sku: String::new(),
        })
        .await
        .unwrap()
        .id;
    seed_images(import.path(), &client, product, "old", 20).await;
    let engine = open(replica.path(), &api).await;
    settle(&engine).await;
    engine.pause();

    // 200 edits: 80 uploads, 60 descriptions (of old and new images), 30 moves, 20 thumbnail
    // choices, 10 deletes.
    let mut rng = 0x2545_f491_u64;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let old = engine_ids(&engine, product).await;
    let mut new = Vec::new();
    for i in 0..80 {
        let path = jpeg_file(files.path(), &format!("new-{i}.jpg"), 100 + i);
        new.push(
            engine
                .add_file(product, &path, &format!("new-{i}"))
                .await
                .unwrap(),
        );
    }
    for i in 0..30 {
        engine
            .describe(old[i % 20], &format!("old-{} v{i}", i % 20))
            .await
            .unwrap();
        engine
            .describe(new[i * 2], &format!("new-{} v{i}", i * 2))
            .await
            .unwrap();
    }
    let mut edits = 140;
    for _ in 0..30 {
        let list = engine.images(product).await.unwrap();
        let moving = list[next(list.len())].id;
        engine
            .move_images(product, &[moving], next(list.len()))
            .await
            .unwrap();
        edits += 1;
    }
    for _ in 0..20 {
        let list = engine.images(product).await.unwrap();
        engine
            .set_thumbnail(list[next(list.len())].id)
            .await
            .unwrap();
        edits += 1;
    }
    for &id in &old[10..20] {
        engine.delete(&[id]).await.unwrap();
        edits += 1;
    }
    assert_eq!(edits, 200);
    let expected = engine.images(product).await.unwrap();
    let expected_descriptions = local_descriptions(&expected);
    let expected_thumbnail = expected
        .iter()
        .find(|i| i.is_thumbnail)
        .unwrap()
        .description
        .clone();

    let posts_before = api_requests(&base, "POST").await;
    engine.resume();
    wait_until("a third of the uploads went out", || async {
        api_requests(&base, "POST").await >= posts_before + 25
    })
    .await;
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    wait_until("the engine notices", || async {
        engine.status().connection == Connection::Offline
    })
    .await;

    let mut server = spawn_serve(data.path(), import.path(), port);
    wait_for_health(&base).await;
    let status = engine.caught_up(Duration::from_secs(240)).await;
    assert_eq!(status.pending, 0, "{status:?}");
    assert_eq!(status.failed, 0, "{status:?}");
    let store = client.list_all_images(product).await.unwrap();
    assert_eq!(
        descriptions(&store),
        expected_descriptions,
        "every edit applied once, none lost, none doubled, in the replica's order"
    );
    assert_eq!(thumbnail_of(&store), Some(expected_thumbnail));
    let unique: HashSet<&String> = expected_descriptions.iter().collect();
    assert_eq!(unique.len(), 90);
    engine.close().await;
    server.kill().unwrap();
    let _ = server.wait();
}

fn run_sync(replica: &Path, api: &str, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(["sync", "--api", api, "--replica-dir"])
        .arg(replica)
        .args(extra)
        .env("IMAGEDESK_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Queues `n` uploads in a replica, then lets `imagedesk sync` push them in a child process that
/// is killed mid-push, twice, before a last run finishes the job.
async fn engine_killed_mid_push(extra: &[&str]) {
    let store = start().await;
    let files = tempfile::tempdir().unwrap();
    let replica = tempfile::tempdir().unwrap();
    let product = store.product("Killed").await;
    let api = store.server.api_url();
    let base = store.server.base_url();
    let engine = open(replica.path(), &api).await;
    settle(&engine).await;
    engine.pause();
    let n = 60;
    for i in 0..n {
        let path = jpeg_file(files.path(), &format!("up-{i}.jpg"), 500 + i);
        engine
            .add_file(product, &path, &format!("up-{i}"))
            .await
            .unwrap();
    }
    engine.close().await;

    for round in 1..=3u64 {
        let posts = api_requests(&base, "POST").await;
        let mut child = run_sync(replica.path(), &api, extra);
        // Kill just as the store answers a create: the likeliest moment for a create to have
        // landed on the store but not yet in the replica.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while api_requests(&base, "POST").await < posts + 5 * round {
            assert!(std::time::Instant::now() < deadline, "no uploads went out");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap(); // SIGKILL, wherever it is
        child.wait().unwrap();
    }
    let output = run_sync(replica.path(), &api, extra)
        .wait_with_output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let images = store.client.list_all_images(product).await.unwrap();
    let mut got = descriptions(&images);
    got.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("up-{i}")).collect();
    want.sort();
    assert_eq!(got, want, "each upload exactly once");
}

// The store runs in this process while the test blocks on the child: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_killed_mid_push_applies_each_edit_exactly_once() {
    engine_killed_mid_push(&[]).await;
}

// The store runs in this process while the test blocks on the child: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_idempotency_keys_a_resent_create_is_found_not_doubled() {
    engine_killed_mid_push(&["--no-idempotency-keys", "--landing-window", "2"]).await;
}

#[test]
fn profile_names_are_file_names() {
    assert_eq!(
        imagedesk::sync::profile_name("http://127.0.0.1:8080/api/v2"),
        "127.0.0.1_8080_api_v2"
    );
    assert_eq!(
        imagedesk::sync::profile_name("https://shop.example/api/v2/"),
        "shop.example_api_v2"
    );
}
