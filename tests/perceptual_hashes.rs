//! Perceptual hashes through the engine, over the real server on loopback with the demo store
//! (issue 16): a re-encoded, resized copy of a product's picture is found as the one duplicate
//! of the store; hashes are kept in the replica and not computed again; a replaced picture
//! gets a new hash. imagedesk's server computes each picture's hash at upload and sends it with
//! the record, and the engine then fetches and decodes nothing; against a BigCommerce-like
//! store (`--compat bc-v2`, which sends none) the engine hashes the tiles itself.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use image::imageops::FilterType;
use imagedesk::api::{ImageWrite, UploadSource};
use imagedesk::imaging::{PerceptualHash, synthetic};
use imagedesk::sync::{Connection, Engine, EngineConfig, ImageId, duplicate_pairs};

/// The tote bag's first view in the demo store (`server::demo`).
const TOTE_VIEW_1: &[u8] = include_bytes!("../assets/demo/photo-01.jpg");
const TOTE_SKU: &str = "DEMO-TOTE";

async fn open(dir: &Path, api: &str) -> Engine {
    let mut config = EngineConfig::in_dir(dir);
    config.pull_interval = Duration::from_secs(3600);
    config.background_interval = Duration::from_millis(1);
    Engine::open(config, client_for(api)).await.unwrap()
}

async fn caught_up(engine: &Engine) {
    let status = engine.caught_up(Duration::from_secs(60)).await;
    assert_eq!(status.pending, 0, "{status:?}");
    assert_eq!(status.connection, Connection::Online, "{status:?}");
}

/// `bytes` decoded, resized to `scale` and saved again as a JPEG of `quality`.
fn resized_copy(bytes: &[u8], scale: f64, quality: u8) -> Vec<u8> {
    let image = image::load_from_memory(bytes).unwrap();
    let (w, h) = (
        (f64::from(image.width()) * scale).round() as u32,
        (f64::from(image.height()) * scale).round() as u32,
    );
    let resized = image.resize_exact(w, h, FilterType::CatmullRom).to_rgb8();
    synthetic::jpeg(&resized, quality, false, None)
}

/// Every product's visible images hashed, product by product, with the last progress report.
async fn hash_every_product(
    engine: &Engine,
) -> (HashMap<i64, Vec<(ImageId, PerceptualHash)>>, usize) {
    let mut by_product = HashMap::new();
    let mut hashed = 0;
    for product in engine.products().await.unwrap() {
        let ids: Vec<ImageId> = engine_ids(engine, product.id).await;
        let last = Mutex::new((0, 0));
        let hashes = engine
            .perceptual_hashes(&ids, |done, total| {
                *last.lock().unwrap() = (done, total);
            })
            .await
            .unwrap();
        assert_eq!(
            *last.lock().unwrap(),
            (ids.len(), ids.len()),
            "progress reaches the end"
        );
        assert_eq!(
            hashes.len(),
            ids.len(),
            "every picture of {} hashed",
            product.sku
        );
        hashed += hashes.len();
        let ordered = ids.iter().map(|id| (*id, hashes[id])).collect();
        by_product.insert(product.id, ordered);
    }
    (by_product, hashed)
}

fn all_duplicates(
    by_product: &HashMap<i64, Vec<(ImageId, PerceptualHash)>>,
) -> Vec<(ImageId, ImageId)> {
    let mut pairs: Vec<(ImageId, ImageId)> = by_product
        .values()
        .flat_map(|h| duplicate_pairs(h))
        .collect();
    pairs.sort_by_key(|(a, b)| (a.0, b.0));
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resized_copy_is_the_one_duplicate_of_the_demo_store_and_hashes_are_kept() {
    // A store that sends no hashes, as a real one: the engine computes them from tiles.
    let store = start_with(|config| {
        config.seed_demo = true;
        bc_v2(config);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), &store.server.api_url()).await;
    caught_up(&engine).await;

    let products = engine.products().await.unwrap();
    let tote = products.iter().find(|p| p.sku == TOTE_SKU).unwrap().id;
    let view_1 = engine_ids(&engine, tote).await[0];
    assert_eq!(
        engine.image(view_1).await.unwrap().unwrap().description,
        "Canvas Tote Bag, view 1"
    );
    // The same picture, smaller and saved again at a lower quality (a different file: the
    // store keeps it apart from the original), and a different 900 px picture.
    let files = tempfile::tempdir().unwrap();
    let copy_path = files.path().join("copy.jpg");
    std::fs::write(&copy_path, resized_copy(TOTE_VIEW_1, 0.75, 60)).unwrap();
    let other_path = files.path().join("other.jpg");
    let other = synthetic::jpeg(&synthetic::photo(900, 675, 42), 80, false, None);
    std::fs::write(&other_path, other).unwrap();
    let copy = engine.add_file(tote, &copy_path, "copy").await.unwrap();
    engine.add_file(tote, &other_path, "other").await.unwrap();
    caught_up(&engine).await;

    let (first, hashed) = hash_every_product(&engine).await;
    assert_eq!(hashed, 29 + 2, "the demo's 29 pictures and the two added");
    assert_eq!(all_duplicates(&first), vec![(view_1, copy)]);

    // A second look computes nothing: with the tile cache emptied, a hash made again would
    // fetch its picture from the store.
    for entry in std::fs::read_dir(dir.path().join("tiles")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let pictures_before = requests_counted(&store.server.base_url(), &["product_images"]).await;
    assert!(
        pictures_before >= 31,
        "the first look fetched every tile: {pictures_before}"
    );
    let (second, _) = hash_every_product(&engine).await;
    let pictures_after = requests_counted(&store.server.base_url(), &["product_images"]).await;
    assert_eq!(pictures_after, pictures_before, "no picture fetched again");
    assert_eq!(second, first);

    // A new picture for the copy is hashed again, and the duplicate is gone.
    let replacement = files.path().join("replacement.jpg");
    std::fs::write(
        &replacement,
        synthetic::jpeg(&synthetic::photo(500, 500, 77), 80, false, None),
    )
    .unwrap();
    engine.replace_file(copy, &replacement).await.unwrap();
    caught_up(&engine).await;
    let (third, _) = hash_every_product(&engine).await;
    let hash_of = |all: &HashMap<i64, Vec<(ImageId, PerceptualHash)>>| {
        all[&tote].iter().find(|(id, _)| *id == copy).unwrap().1
    };
    assert!(!hash_of(&third).is_same_picture(&hash_of(&first)));
    assert_eq!(all_duplicates(&third), vec![]);
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_not_uploaded_yet_is_hashed_from_its_own_copy() {
    let store = start_with(|config| config.seed_demo = true).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), &store.server.api_url()).await;
    caught_up(&engine).await;
    let products = engine.products().await.unwrap();
    let tote = products.iter().find(|p| p.sku == TOTE_SKU).unwrap().id;
    let view_1 = engine_ids(&engine, tote).await[0];

    engine.pause();
    let files = tempfile::tempdir().unwrap();
    let copy_path = files.path().join("copy.jpg");
    std::fs::write(&copy_path, resized_copy(TOTE_VIEW_1, 0.5, 70)).unwrap();
    let copy = engine.add_file(tote, &copy_path, "copy").await.unwrap();
    assert!(
        engine
            .image(copy)
            .await
            .unwrap()
            .unwrap()
            .local_file
            .is_some()
    );

    let hashes = engine
        .perceptual_hashes(&[view_1, copy, ImageId(999_999)], |_, _| {})
        .await
        .unwrap();
    assert_eq!(hashes.len(), 2, "an unknown id is left out");
    assert!(hashes[&view_1].is_same_picture(&hashes[&copy]));
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_that_cannot_be_fetched_are_left_out() {
    // A store that sends no hashes: the engine must fetch each picture to hash it.
    let store = start_with(|config| {
        config.seed_demo = true;
        bc_v2(config);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), &store.server.api_url()).await;
    caught_up(&engine).await;
    let products = engine.products().await.unwrap();
    let tote = products.iter().find(|p| p.sku == TOTE_SKU).unwrap().id;
    let ids = engine_ids(&engine, tote).await;
    // One hash made while the store answers; then the store goes away.
    let first = engine
        .perceptual_hashes(&ids[..1], |_, _| {})
        .await
        .unwrap();
    let _stopped = store.stop().await;

    let last = Mutex::new((0, 0));
    let hashes = engine
        .perceptual_hashes(&ids, |done, total| *last.lock().unwrap() = (done, total))
        .await
        .unwrap();
    assert_eq!(
        hashes, first,
        "the stored hash, and none of the pictures not fetched"
    );
    assert_eq!(*last.lock().unwrap(), (ids.len(), ids.len()));
    engine.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_answered_with_the_perceptual_hash_of_its_picture() {
    let store = start().await;
    let product = store.product("Hashed").await;
    let bytes = synthetic::jpeg(&synthetic::photo(1200, 900, 5), 85, false, None);
    let expected = imagedesk::imaging::perceptual_hash(&bytes)
        .unwrap()
        .to_string();
    assert_eq!(expected.len(), 16);
    let upload = |name: &str| UploadSource::Bytes {
        file_name: name.into(),
        bytes: bytes.clone().into(),
    };
    let created = store
        .client
        .upload_image(
            product,
            &upload("a.jpg"),
            &ImageWrite::default(),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(created.perceptual_hash.as_deref(), Some(expected.as_str()));
    // The same bytes again are stored once (no decode): the hash comes from the picture's row.
    let again = store
        .client
        .upload_image(
            product,
            &upload("b.jpg"),
            &ImageWrite::default(),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.perceptual_hash.as_deref(), Some(expected.as_str()));
    // A different picture has a different hash; the list shows each record's.
    let other = store.import_jpeg("other.jpg", 9);
    let other = store
        .client
        .create_image(
            product,
            &ImageWrite {
                image_file: Some(other),
                ..ImageWrite::default()
            },
            None,
        )
        .await
        .unwrap();
    let other_bytes = std::fs::read(store.import.path().join("other.jpg")).unwrap();
    let other_hash = imagedesk::imaging::perceptual_hash(&other_bytes)
        .unwrap()
        .to_string();
    assert_eq!(other.perceptual_hash.as_deref(), Some(other_hash.as_str()));
    assert_ne!(other_hash, expected);
    let listed: Vec<Option<String>> = store
        .images(product)
        .await
        .into_iter()
        .map(|i| i.perceptual_hash)
        .collect();
    assert_eq!(
        listed,
        vec![Some(expected.clone()), Some(expected), Some(other_hash)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stores_hashes_find_the_duplicate_without_fetching_a_picture() {
    let store = start_with(|config| config.seed_demo = true).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), &store.server.api_url()).await;
    caught_up(&engine).await;
    let products = engine.products().await.unwrap();
    let tote = products.iter().find(|p| p.sku == TOTE_SKU).unwrap().id;
    let view_1 = engine_ids(&engine, tote).await[0];
    let files = tempfile::tempdir().unwrap();
    let copy_path = files.path().join("copy.jpg");
    let copy_bytes = resized_copy(TOTE_VIEW_1, 0.75, 60);
    std::fs::write(&copy_path, &copy_bytes).unwrap();
    let copy = engine.add_file(tote, &copy_path, "copy").await.unwrap();
    caught_up(&engine).await;

    let pictures_before = requests_counted(&store.server.base_url(), &["product_images"]).await;
    let (hashes, hashed) = hash_every_product(&engine).await;
    let pictures_after = requests_counted(&store.server.base_url(), &["product_images"]).await;
    assert_eq!(hashed, 29 + 1, "the demo's 29 pictures and the copy");
    assert_eq!(
        pictures_after, pictures_before,
        "no picture fetched: every hash came from the store"
    );
    assert_eq!(all_duplicates(&hashes), vec![(view_1, copy)]);
    let copy_hash = hashes[&tote].iter().find(|(id, _)| *id == copy).unwrap().1;
    assert_eq!(
        copy_hash,
        imagedesk::imaging::perceptual_hash(&copy_bytes).unwrap(),
        "the store's hash of the uploaded file"
    );
    let view_1_hash = hashes[&tote]
        .iter()
        .find(|(id, _)| *id == view_1)
        .unwrap()
        .1;
    assert_eq!(
        view_1_hash,
        imagedesk::imaging::perceptual_hash(TOTE_VIEW_1).unwrap()
    );
    engine.close().await;
}
