//! Replay of 1,000 edits queued offline, through the sync engine, against the real server on
//! loopback; beside it, in the same run, the same edits sent one request each with the API
//! client (what a tool without a queue would do).
//!
//! Run: `cargo bench --bench sync_replay` (prints a markdown table; medians of 5 runs).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Rng, TOKEN, client, requests_counted};
use imagedesk::api::reorder::{apply_write, plan_reorder};
use imagedesk::api::{Client, ImageWrite, NewProduct, UploadSource};
use imagedesk::imaging::synthetic;
use imagedesk::server::{Config, RunningServer, Server};
use imagedesk::sync::{Engine, EngineConfig, ImageId};

const PRODUCTS: usize = 2;
const IMAGES_PER_PRODUCT: usize = 100;
const EDITS: usize = 1000;
const RUNS: usize = 5;

/// An edit of the script; images are named by handles (initial images first, then uploads).
#[derive(Debug, Clone)]
enum Edit {
    Upload { product: usize, handle: usize },
    Describe { handle: usize, text: String },
    Move { handle: usize, to: usize },
    Thumbnail { handle: usize },
    Delete { handle: usize },
}

/// A merchant's offline session: mostly descriptions and moves, some uploads, thumbnail
/// choices and deletes, spread over both products.
fn script() -> Vec<Edit> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<Vec<usize>> = (0..PRODUCTS)
        .map(|p| (p * IMAGES_PER_PRODUCT..(p + 1) * IMAGES_PER_PRODUCT).collect())
        .collect();
    let mut next_handle = PRODUCTS * IMAGES_PER_PRODUCT;
    let mut edits = Vec::with_capacity(EDITS);
    while edits.len() < EDITS {
        let product = rng.below(PRODUCTS);
        let images = &mut live[product];
        // Descriptions go mostly to a few images being worked on, as in a real session.
        let pick = |rng: &mut Rng, images: &Vec<usize>| images[rng.below(images.len().min(40))];
        let edit = match rng.below(100) {
            0..=4 => {
                let handle = next_handle;
                next_handle += 1;
                images.push(handle);
                Edit::Upload { product, handle }
            }
            5..=44 => Edit::Describe {
                handle: pick(&mut rng, images),
                text: format!("alt text {}", edits.len()),
            },
            45..=84 => {
                let handle = images[rng.below(images.len())];
                let to = rng.below(images.len());
                images.retain(|h| *h != handle);
                images.insert(to.min(images.len()), handle);
                Edit::Move { handle, to }
            }
            85..=94 => Edit::Thumbnail {
                handle: images[rng.below(images.len())],
            },
            _ => {
                let at = rng.below(images.len());
                Edit::Delete {
                    handle: images.remove(at),
                }
            }
        };
        edits.push(edit);
    }
    edits
}

struct Store {
    server: RunningServer,
    client: Client,
    products: Vec<i64>,
    _data: tempfile::TempDir,
    _import: tempfile::TempDir,
}

fn jpeg(seed: u64) -> Vec<u8> {
    synthetic::jpeg(&synthetic::photo(320, 240, seed), 85, false, None)
}

async fn store() -> Store {
    let data = tempfile::tempdir().expect("tempdir");
    let import = tempfile::tempdir().expect("tempdir");
    let mut config = Config::local(data.path(), TOKEN);
    config.import_dir = Some(import.path().to_path_buf());
    let server = Server::bind(config).await.expect("server").spawn();
    let client = client(&server.api_url());
    std::fs::write(import.path().join("seed.jpg"), jpeg(1)).expect("seed file");
    let mut products = Vec::new();
    for p in 0..PRODUCTS {
        let id = client
            .create_product(&NewProduct {
                name: format!("Product {p}"),
                sku: format!("SKU-{p}"),
            })
            .await
            .expect("product")
            .id;
        for i in 0..IMAGES_PER_PRODUCT {
            let write = ImageWrite {
                image_file: Some("seed.jpg".into()),
                description: Some(format!("image {i}")),
                ..ImageWrite::default()
            };
            client.create_image(id, &write, None).await.expect("seed");
        }
        products.push(id);
    }
    Store {
        server,
        client,
        products,
        _data: data,
        _import: import,
    }
}

/// Queues the script in a paused engine, then times the replay until the queue is empty.
async fn engine_replay(script: &[Edit], files: &Path) -> (Duration, u64) {
    let store = store().await;
    let replica = tempfile::tempdir().expect("tempdir");
    let mut config = EngineConfig::in_dir(replica.path());
    config.pull_interval = Duration::from_secs(3600);
    let engine = Engine::open(config, client(&store.server.api_url()))
        .await
        .expect("engine");
    let status = engine.settled(Duration::from_secs(60)).await;
    assert_eq!(status.pending, 0);
    engine.pause();
    let mut handles: Vec<ImageId> = Vec::new();
    for &product in &store.products {
        handles.extend(
            engine
                .images(product)
                .await
                .expect("images")
                .iter()
                .map(|i| i.id),
        );
    }
    for edit in script {
        match edit {
            Edit::Upload { product, handle } => {
                let path = files.join(format!("{handle}.jpg"));
                let id = engine
                    .add_file(store.products[*product], &path, &format!("upload {handle}"))
                    .await
                    .expect("add");
                assert_eq!(handles.len(), *handle);
                handles.push(id);
            }
            Edit::Describe { handle, text } => engine
                .describe(handles[*handle], text)
                .await
                .expect("describe"),
            Edit::Move { handle, to } => {
                let id = handles[*handle];
                let product = engine
                    .image(id)
                    .await
                    .expect("image")
                    .expect("known")
                    .product_id;
                engine.move_images(product, &[id], *to).await.expect("move");
            }
            Edit::Thumbnail { handle } => engine
                .set_thumbnail(handles[*handle])
                .await
                .expect("thumbnail"),
            Edit::Delete { handle } => engine.delete(&[handles[*handle]]).await.expect("delete"),
        }
    }
    let expected: Vec<Vec<String>> = {
        let mut all = Vec::new();
        for &product in &store.products {
            let images = engine.images(product).await.expect("images");
            all.push(images.iter().map(|i| i.description.clone()).collect());
        }
        all
    };
    let before = requests_counted(&store.server.base_url(), None).await;
    let started = Instant::now();
    engine.resume();
    let status = engine.settled(Duration::from_secs(300)).await;
    let elapsed = started.elapsed();
    assert_eq!(status.pending, 0, "{status:?}");
    assert_eq!(status.failed, 0, "{status:?}");
    let requests = requests_counted(&store.server.base_url(), None).await - before;
    for (product, want) in store.products.iter().zip(expected) {
        let got: Vec<String> = store
            .client
            .list_all_images(*product)
            .await
            .expect("list")
            .into_iter()
            .map(|i| i.description)
            .collect();
        assert_eq!(got, want, "the store ends as the replica showed");
    }
    engine.close().await;
    (elapsed, requests)
}

/// The same script sent directly, one request per edit, tracking sort orders locally so each
/// move is its single planned PUT.
async fn direct_replay(script: &[Edit], files: &Path) -> (Duration, u64) {
    let store = store().await;
    let client = &store.client;
    let mut order: Vec<Vec<(i64, i64)>> = Vec::new();
    let mut ids: Vec<(usize, i64)> = Vec::new();
    for (p, &product) in store.products.iter().enumerate() {
        let images = client.list_all_images(product).await.expect("list");
        ids.extend(images.iter().map(|i| (p, i.id)));
        order.push(images.iter().map(|i| (i.id, i.sort_order)).collect());
    }
    let before = requests_counted(&store.server.base_url(), None).await;
    let started = Instant::now();
    for edit in script {
        match edit {
            Edit::Upload { product, handle } => {
                let source = UploadSource::Path(files.join(format!("{handle}.jpg")));
                let write = ImageWrite {
                    description: Some(format!("upload {handle}")),
                    ..ImageWrite::default()
                };
                let image = client
                    .upload_image(store.products[*product], &source, &write, None, None)
                    .await
                    .expect("upload");
                let list = &mut order[*product];
                list.push((image.id, image.sort_order));
                ids.push((*product, image.id));
            }
            Edit::Describe { handle, text } => {
                let (p, id) = ids[*handle];
                let write = ImageWrite {
                    description: Some(text.clone()),
                    ..ImageWrite::default()
                };
                client
                    .update_image(store.products[p], id, &write)
                    .await
                    .expect("describe");
            }
            Edit::Move { handle, to } => {
                let (p, id) = ids[*handle];
                let list = &mut order[p];
                let mut sorted = list.clone();
                sorted.sort_by_key(|&(id, so)| (so, id));
                let mut desired: Vec<i64> = sorted.iter().map(|(i, _)| *i).collect();
                desired.retain(|x| *x != id);
                desired.insert((*to).min(desired.len()), id);
                let plan = plan_reorder(&sorted, &desired).expect("plan");
                client
                    .apply_sort_writes(store.products[p], &plan)
                    .await
                    .expect("move");
                for write in plan {
                    apply_write(list, write);
                }
            }
            Edit::Thumbnail { handle } => {
                let (p, id) = ids[*handle];
                let write = ImageWrite {
                    is_thumbnail: Some(true),
                    ..ImageWrite::default()
                };
                client
                    .update_image(store.products[p], id, &write)
                    .await
                    .expect("thumbnail");
            }
            Edit::Delete { handle } => {
                let (p, id) = ids[*handle];
                client
                    .delete_image(store.products[p], id)
                    .await
                    .expect("delete");
                order[p].retain(|(i, _)| *i != id);
            }
        }
    }
    let elapsed = started.elapsed();
    let requests = requests_counted(&store.server.base_url(), None).await - before;
    (elapsed, requests)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let script = script();
    let files = tempfile::tempdir().expect("tempdir");
    for (handle, edit) in script.iter().enumerate() {
        if let Edit::Upload { handle, .. } = edit {
            std::fs::write(
                files.path().join(format!("{handle}.jpg")),
                jpeg(*handle as u64),
            )
            .expect("upload file");
        }
        let _ = handle;
    }
    let count = |f: fn(&Edit) -> bool| script.iter().filter(|e| f(e)).count();
    eprintln!(
        "script: {} edits ({} uploads, {} descriptions, {} moves, {} thumbnails, {} deletes)",
        script.len(),
        count(|e| matches!(e, Edit::Upload { .. })),
        count(|e| matches!(e, Edit::Describe { .. })),
        count(|e| matches!(e, Edit::Move { .. })),
        count(|e| matches!(e, Edit::Thumbnail { .. })),
        count(|e| matches!(e, Edit::Delete { .. })),
    );
    let (mut engine_times, mut direct_times) = (Vec::new(), Vec::new());
    let (mut engine_requests, mut direct_requests) = (0, 0);
    for run in 0..RUNS {
        let (t, r) = runtime.block_on(engine_replay(&script, files.path()));
        eprintln!(
            "run {run}: engine replay {:.3} s, {r} requests",
            t.as_secs_f64()
        );
        engine_times.push(t.as_secs_f64());
        engine_requests = r;
        let (t, r) = runtime.block_on(direct_replay(&script, files.path()));
        eprintln!(
            "run {run}: direct replay {:.3} s, {r} requests",
            t.as_secs_f64()
        );
        direct_times.push(t.as_secs_f64());
        direct_requests = r;
    }
    let (engine, direct) = (median(engine_times), median(direct_times));
    println!("| figure | imagedesk | reference (same run) | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| replay of {} queued offline edits, median of {RUNS} | {engine:.2} s, {engine_requests} requests | one request per edit, no queue: {direct:.2} s, {direct_requests} requests | {:.2}× time, {:.2}× requests | ≤ 5 s; requests ≤ edits |",
        script.len(),
        engine / direct,
        engine_requests as f64 / direct_requests as f64,
    );
}
