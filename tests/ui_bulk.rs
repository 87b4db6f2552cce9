//! Bulk edits in the app (issue 16, item 4): several products selected in the list get alt
//! text from a pattern for all their images, or lose all their images after a confirmation
//! that counts them (Undo and "Recently deleted" still bring them back); "Copy to other
//! products…" finds targets by SKU and copies the selected pictures to them. Driven headless
//! by egui_kittest against the real server and engine on loopback; what the store holds is
//! read over HTTP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ui::{open, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::{ImageWrite, NewProduct};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    engine: Arc<Engine>,
    _data: tempfile::TempDir,
}

impl Rig {
    /// A store made by `fill`, an engine over it and the app with deletes held for `grace`.
    fn new<F>(grace: Duration, fill: F) -> (Rig, Harness<'static, ImageDeskApp>)
    where
        F: AsyncFnOnce(&TestStore),
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::in_dir(data.path().join("replica"));
        config.backoff_base = Duration::from_millis(50);
        config.backoff_max = Duration::from_millis(300);
        let (store, engine) = runtime.block_on(async {
            let store = start().await;
            fill(&store).await;
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, Arc::new(engine))
        });
        let backend =
            Backend::new(engine.clone(), runtime.handle().clone()).with_data_dir(data.path());
        let app = ImageDeskApp::new(backend).with_delete_grace(grace);
        let harness = Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .with_step_dt(1.0 / 60.0)
            .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
        let rig = Rig {
            runtime,
            store,
            engine,
            _data: data,
        };
        (rig, harness)
    }

    fn descriptions(&self, product: i64) -> Vec<String> {
        self.runtime
            .block_on(self.store.client.list_all_images(product))
            .unwrap()
            .into_iter()
            .map(|i| i.description)
            .collect()
    }

    fn product_id(&self, name: &str) -> i64 {
        self.runtime
            .block_on(self.store.client.list_all_products())
            .unwrap()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap()
            .id
    }
}

async fn product(store: &TestStore, name: &str, sku: &str) -> i64 {
    store
        .client
        .create_product(&NewProduct {
            name: name.into(),
            sku: sku.into(),
        })
        .await
        .unwrap()
        .id
}

/// `n` images without a description.
async fn bare(store: &TestStore, product: i64, n: usize) {
    for i in 0..n {
        let write = ImageWrite {
            image_file: Some(store.import_jpeg(&format!("bare-{product}-{i}.jpg"), 50 + i as u64)),
            ..ImageWrite::default()
        };
        store
            .client
            .create_image(product, &write, None)
            .await
            .unwrap();
    }
}

/// "Lamp": three described images and one bare; "Desk": two bare; "Chair": one bare.
async fn lamp_and_desk(store: &TestStore) {
    let lamp = product(store, "Lamp", "L-1").await;
    seed(store, lamp, 3).await;
    bare(store, lamp, 1).await;
    let desk = product(store, "Desk", "D-1").await;
    bare(store, desk, 2).await;
    let chair = product(store, "Chair", "C-1").await;
    bare(store, chair, 1).await;
}

/// Opens Lamp and Ctrl+clicks Desk in the product list.
fn select_lamp_and_desk(harness: &mut Harness<'_, ImageDeskApp>) {
    open(harness, "Lamp (4)", "Image 4");
    step_until(harness, "Desk is listed", |h| {
        h.query_by_label_contains("Desk (2)").is_some()
    });
    harness
        .get_by_label_contains("Desk (2)")
        .click_modifiers(egui::Modifiers::COMMAND);
    step_until(harness, "the selection is counted", |h| {
        h.query_by_label("2 products selected").is_some()
    });
}

#[test]
fn two_selected_products_get_alt_text_from_a_pattern_then_lose_all_their_images() {
    let (rig, mut harness) = Rig::new(Duration::from_millis(50), lamp_and_desk);
    let (lamp, desk, chair) = (
        rig.product_id("Lamp"),
        rig.product_id("Desk"),
        rig.product_id("Chair"),
    );
    select_lamp_and_desk(&mut harness);

    // The default: "{product} — view {n}", only images without alt text.
    harness.get_by_label("Describe their images").click();
    step_until_store(&mut harness, "the alt texts", || {
        rig.descriptions(lamp) == ["img-0", "img-1", "img-2", "Lamp — view 4"]
            && rig.descriptions(desk) == ["Desk — view 1", "Desk — view 2"]
    });
    assert_eq!(rig.descriptions(chair), [""], "not selected, not described");
    step_until(&mut harness, "the notice counts them", |h| {
        h.query_by_label_contains("Described 3 images of 2 products")
            .is_some()
    });

    harness
        .get_by_label("Delete all images of 2 products…")
        .click();
    step_until(&mut harness, "the confirmation counts the pictures", |h| {
        h.query_by_label("Delete all 6 pictures of 2 products?")
            .is_some()
    });
    assert!(harness.query_by_label("Lamp — 4 pictures").is_some());
    assert!(harness.query_by_label("Desk — 2 pictures").is_some());
    assert_eq!(
        rig.descriptions(desk).len(),
        2,
        "nothing goes before the answer"
    );
    harness
        .get_by_label("Delete 6 pictures of 2 products")
        .click();
    step_until_store(&mut harness, "both products emptied", || {
        rig.descriptions(lamp).is_empty() && rig.descriptions(desk).is_empty()
    });
    assert_eq!(rig.descriptions(chair).len(), 1);

    // "Recently deleted" keeps them: one comes back.
    harness.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::D,
    );
    step_until(&mut harness, "the window lists the pictures", |h| {
        h.query_by_label("Desk — view 2").is_some() && h.query_all_by_label("Restore").count() == 6
    });
    let restore = harness
        .query_all_by_label("Restore")
        .next()
        .expect("a Restore button");
    restore.click();
    step_until_store(&mut harness, "one picture back", || {
        rig.descriptions(lamp).len() + rig.descriptions(desk).len() == 1
    });
}

#[test]
fn undo_brings_back_the_last_product_of_a_bulk_delete_before_it_is_sent() {
    let (rig, mut harness) = Rig::new(Duration::from_secs(3), lamp_and_desk);
    let (lamp, desk) = (rig.product_id("Lamp"), rig.product_id("Desk"));
    select_lamp_and_desk(&mut harness);
    harness
        .get_by_label("Delete all images of 2 products…")
        .click();
    step_until(&mut harness, "the confirmation", |h| {
        h.query_by_label("Delete 6 pictures of 2 products")
            .is_some()
    });
    harness
        .get_by_label("Delete 6 pictures of 2 products")
        .click();
    harness.step();
    // Ctrl+Z lets go of the delete recorded last: Desk's.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    step_until_store(&mut harness, "Lamp emptied", || {
        rig.descriptions(lamp).is_empty()
    });
    let status = rig
        .runtime
        .block_on(rig.engine.settled(Duration::from_secs(30)));
    assert_eq!(status.pending, 0, "{status:?}");
    assert_eq!(rig.descriptions(desk), ["", ""], "Desk kept its pictures");
}

#[test]
fn the_copy_picker_finds_a_product_by_sku_and_copies_the_selected_pictures_to_it() {
    let (rig, mut harness) = Rig::new(Duration::from_millis(50), async |store: &TestStore| {
        let lamp = product(store, "Lamp", "L-1").await;
        seed(store, lamp, 3).await;
        product(store, "Desk", "DSK-7").await;
        product(store, "Desk lamp", "DL-2").await;
        product(store, "Chair", "CH-1").await;
    });
    let (desk, desk_lamp) = (rig.product_id("Desk"), rig.product_id("Desk lamp"));
    open(&mut harness, "Lamp (3)", "Image 3: img-2");
    harness.get_by_label("Image 1: img-0 (thumbnail)").click();
    harness.step();
    harness
        .get_by_label("Image 3: img-2")
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    harness.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::C,
    );
    step_until(&mut harness, "the picker lists the products", |h| {
        h.query_by_label("Chair · SKU CH-1").is_some()
    });
    assert!(
        harness.query_by_label_contains("Lamp · SKU L-1").is_none(),
        "the source product is not offered"
    );
    harness.get_by_label("Find products").focus();
    harness.step();
    harness.get_by_label("Find products").type_text("DSK");
    step_until(&mut harness, "only the SKU's product is left", |h| {
        h.query_by_label("Desk · SKU DSK-7").is_some()
            && h.query_by_label("Chair · SKU CH-1").is_none()
            && h.query_by_label("Desk lamp · SKU DL-2").is_none()
    });
    harness.get_by_label("Desk · SKU DSK-7").click();
    step_until(&mut harness, "the product is ticked", |h| {
        h.query_by_label("Copy to 1 product").is_some()
    });
    harness.get_by_label("Copy to 1 product").click();
    step_until_store(&mut harness, "the copies in Desk", || {
        rig.descriptions(desk) == ["img-0", "img-2"]
    });
    step_until(&mut harness, "the notice", |h| {
        h.query_by_label_contains("Copied 2 pictures to 1 product")
            .is_some()
    });
    assert!(
        harness.query_by_label("Find products").is_none(),
        "the window closed"
    );
    assert!(rig.descriptions(desk_lamp).is_empty());
}
