//! The desktop app's state driven headless by egui_kittest, against the real server and the
//! real sync engine on loopback: every gesture must reach the store.

mod common;

use std::time::Duration;

use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::{Client, Image, ImageWrite};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    product: i64,
    _replica: tempfile::TempDir,
}

impl Rig {
    /// A store with one product of three images ("img-0" … "img-2") and a second product.
    fn new() -> (Rig, Harness<'static, ImageDeskApp>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let replica = tempfile::tempdir().unwrap();
        let (store, product, engine) = runtime.block_on(async {
            let store = start().await;
            let product = store.product("Lamp").await;
            seed(&store, product, 3).await;
            let other = store.product("Chair").await;
            seed(&store, other, 1).await;
            let mut config = EngineConfig::in_dir(replica.path());
            config.backoff_base = Duration::from_millis(50);
            config.backoff_max = Duration::from_millis(300);
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, product, engine)
        });
        let backend = Backend::new(engine, runtime.handle().clone());
        let harness = Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .build_ui_state(
                |ui, app: &mut ImageDeskApp| app.show_ui(ui),
                ImageDeskApp::new(backend),
            );
        let rig = Rig {
            runtime,
            store,
            product,
            _replica: replica,
        };
        (rig, harness)
    }

    fn client(&self) -> &Client {
        &self.store.client
    }

    fn server_images(&self) -> Vec<Image> {
        self.runtime
            .block_on(self.client().list_all_images(self.product))
            .unwrap()
    }

    fn server_descriptions(&self) -> Vec<String> {
        self.server_images()
            .into_iter()
            .map(|i| i.description)
            .collect()
    }
}

async fn seed(store: &TestStore, product: i64, n: usize) {
    for i in 0..n {
        let name = store.import_jpeg(&format!("p{product}-{i}.jpg"), i as u64);
        let write = ImageWrite {
            image_file: Some(name),
            description: Some(format!("img-{i}")),
            ..ImageWrite::default()
        };
        store
            .client
            .create_image(product, &write, None)
            .await
            .unwrap();
    }
}

/// Steps the UI until `done` holds (background work arrives between steps).
fn step_until(
    harness: &mut Harness<'_, ImageDeskApp>,
    what: &str,
    mut done: impl FnMut(&Harness<'_, ImageDeskApp>) -> bool,
) {
    for _ in 0..600 {
        harness.step();
        if done(harness) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting until {what}");
}

fn wait_for_store(
    rig: &Rig,
    harness: &mut Harness<'_, ImageDeskApp>,
    what: &str,
    done: impl Fn(&Rig) -> bool,
) {
    for _ in 0..300 {
        harness.step();
        if done(rig) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until the store shows {what}");
}

/// Opens the app on the "Lamp" product and waits for its tiles.
fn open_lamp(harness: &mut Harness<'_, ImageDeskApp>) {
    step_until(harness, "the products are listed", |h| {
        h.query_by_label_contains("Lamp (3)").is_some()
    });
    harness.get_by_label_contains("Lamp (3)").click();
    step_until(harness, "the tiles are drawn", |h| {
        h.query_by_label("Image 3: img-2").is_some()
    });
}

#[test]
fn choosing_a_product_shows_its_images_in_order() {
    let (_rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    harness.get_by_label("Image 1: img-0 (thumbnail)");
    harness.get_by_label("Image 2: img-1");
    assert_eq!(harness.state().images().len(), 3);
    harness.get_by_label_contains("Chair (1)").click();
    step_until(&mut harness, "the other product shows", |h| {
        h.state().images().len() == 1
    });
}

#[test]
fn set_thumbnail_and_edit_description_reach_the_store() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    harness.get_by_label("Image 2: img-1").click();
    step_until(&mut harness, "the details show", |h| {
        h.query_by_label("Set as thumbnail").is_some()
    });
    harness.get_by_label("Set as thumbnail").click();
    wait_for_store(&rig, &mut harness, "the new thumbnail", |rig| {
        rig.server_images()
            .iter()
            .any(|i| i.is_thumbnail && i.description == "img-1")
    });

    harness.get_by_label("Description (alt text)").focus();
    harness.step();
    harness
        .get_by_label("Description (alt text)")
        .type_text(" front view");
    harness.step();
    harness.get_by_label("Save description").click();
    wait_for_store(&rig, &mut harness, "the new description", |rig| {
        rig.server_descriptions()[1] == "img-1 front view"
    });
}

#[test]
fn dragging_a_tile_reorders_the_store() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    let from = harness
        .get_by_label("Image 1: img-0 (thumbnail)")
        .rect()
        .center();
    let to = harness.get_by_label("Image 3: img-2").rect().center();
    harness.hover_at(from);
    harness.step();
    harness.drag_at(from);
    harness.step();
    for t in 1..=10 {
        harness.hover_at(from + (to - from) * (t as f32 / 10.0));
        harness.step();
    }
    harness.drop_at(to);
    harness.step();
    wait_for_store(&rig, &mut harness, "the new order", |rig| {
        rig.server_descriptions() == ["img-1", "img-2", "img-0"]
    });
}

#[test]
fn delete_key_deletes_the_selected_images() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    harness.get_by_label("Image 1: img-0 (thumbnail)").click();
    harness.step();
    harness
        .get_by_label("Image 3: img-2")
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    harness.key_press(egui::Key::Delete);
    wait_for_store(&rig, &mut harness, "one image left", |rig| {
        rig.server_descriptions() == ["img-1"]
    });
}

#[test]
fn add_from_a_path_uploads_the_file() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("new lamp.jpg");
    std::fs::write(&path, small_jpeg(42)).unwrap();
    harness.get_by_label("File path").focus();
    harness.step();
    harness
        .get_by_label("File path")
        .type_text(&path.display().to_string());
    harness.step();
    harness.get_by_label("Add file").click();
    wait_for_store(&rig, &mut harness, "four images", |rig| {
        rig.server_images().len() == 4
    });
    step_until(&mut harness, "the new tile", |h| {
        h.query_by_label("Image 4").is_some()
    });
}
