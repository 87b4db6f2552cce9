//! The undo history outlives a restart (issue 15): the app's state is saved the way eframe saves
//! it (`App::save` into a storage), a new app is built from that storage over the same replica
//! and store, and Ctrl+Z undoes the last change made before the restart. Driven headless by
//! egui_kittest against the real server and engine on loopback.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::ui::{open_lamp, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::{Client, Image};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::profiles::CurrentStore;
use imagedesk::ui::{Backend, ImageDeskApp, Severity};

/// eframe's storage, in memory.
#[derive(Default)]
struct MemoryStorage(HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    /// The engine over the replica; both runs of the app use it.
    engine: Arc<Engine>,
    product: i64,
    data: tempfile::TempDir,
}

impl Rig {
    /// A store with "Lamp" (three images "img-0" … "img-2") and "Chair" (one image).
    fn new() -> Rig {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::in_dir(data.path().join("replica"));
        config.backoff_base = Duration::from_millis(50);
        config.backoff_max = Duration::from_millis(300);
        let (store, product, engine) = runtime.block_on(async {
            let store = start().await;
            let product = store.product("Lamp").await;
            seed(&store, product, 3).await;
            let other = store.product("Chair").await;
            seed(&store, other, 1).await;
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, product, engine)
        });
        Rig {
            runtime,
            store,
            engine: Arc::new(engine),
            product,
            data,
        }
    }

    /// One run of the app: a window over the rig's engine, with what `storage` kept from the
    /// run before (as `run_native` builds it from eframe's storage).
    fn app(&self, storage: &MemoryStorage, grace: Duration) -> Harness<'static, ImageDeskApp> {
        let backend = Backend::new(self.engine.clone(), self.runtime.handle().clone())
            .with_data_dir(self.data.path())
            .with_store(CurrentStore::Remote {
                name: "Test shop".into(),
                api_url: self.store.server.api_url(),
            });
        let app = ImageDeskApp::new(backend)
            .with_delete_grace(grace)
            .with_saved_history(storage);
        Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .with_step_dt(1.0 / 60.0)
            .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app)
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

/// Closes the window the way eframe does: `App::save` into the storage, then `on_exit`.
fn close(mut harness: Harness<'static, ImageDeskApp>, storage: &mut MemoryStorage) {
    let app = harness.state_mut();
    eframe::App::save(app, storage);
    app.flush_held_deletes();
}

fn type_into(harness: &mut Harness<'_, ImageDeskApp>, label: &str, text: &str) {
    step_until(harness, &format!("\"{label}\" shows"), |h| {
        h.query_by_label(label).is_some()
    });
    harness.get_by_label(label).focus();
    harness.step();
    harness.get_by_label(label).type_text(text);
    harness.step();
}

/// Types `text` after the description of the image labelled `tile` and saves it.
fn describe(harness: &mut Harness<'_, ImageDeskApp>, tile: &str, text: &str) {
    harness.get_by_label(tile).click();
    harness.step();
    type_into(harness, "Description (alt text)", text);
    harness.get_by_label("Save description").click();
    harness.step();
}

fn ctrl_z(harness: &mut Harness<'_, ImageDeskApp>) {
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    harness.step();
}

#[test]
fn ctrl_z_after_a_restart_undoes_the_last_description_change() {
    let rig = Rig::new();
    let mut storage = MemoryStorage::default();
    let mut harness = rig.app(&storage, Duration::from_millis(50));
    open_lamp(&mut harness);
    describe(&mut harness, "Image 2: img-1", " side");
    step_until_store(&mut harness, "the new description", || {
        rig.server_descriptions()[1] == "img-1 side"
    });
    close(harness, &mut storage);

    let mut harness = rig.app(&storage, Duration::from_millis(50));
    step_until(&mut harness, "the products are listed", |h| {
        h.query_by_label_contains("Lamp (3)").is_some()
    });
    ctrl_z(&mut harness);
    step_until_store(&mut harness, "the old description again", || {
        rig.server_descriptions()[1] == "img-1"
    });
    // And it can be redone, as any undo.
    harness.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::Z,
    );
    step_until_store(&mut harness, "the description redone", || {
        rig.server_descriptions()[1] == "img-1 side"
    });
}

#[test]
fn a_delete_held_at_exit_is_sent_and_does_not_come_back_as_undoable() {
    let rig = Rig::new();
    let mut storage = MemoryStorage::default();
    let mut harness = rig.app(&storage, Duration::from_secs(600));
    open_lamp(&mut harness);
    describe(&mut harness, "Image 2: img-1", " side");
    step_until_store(&mut harness, "the new description", || {
        rig.server_descriptions()[1] == "img-1 side"
    });
    harness.get_by_label("Image 3: img-2").click();
    harness.step();
    harness.key_press(egui::Key::Delete);
    harness.step();
    assert_eq!(harness.state().images().len(), 2, "held for Undo");
    close(harness, &mut storage);

    let mut harness = rig.app(&storage, Duration::from_secs(600));
    step_until_store(&mut harness, "the held delete sent at exit", || {
        rig.server_descriptions() == ["img-0", "img-1 side"]
    });
    // The next undo is the description, not the delete the engine was handed.
    ctrl_z(&mut harness);
    step_until_store(&mut harness, "the old description again", || {
        rig.server_descriptions() == ["img-0", "img-1"]
    });
}

#[test]
fn an_undo_whose_image_was_deleted_meanwhile_says_so_in_plain_words() {
    let rig = Rig::new();
    let mut storage = MemoryStorage::default();
    let mut harness = rig.app(&storage, Duration::from_millis(50));
    open_lamp(&mut harness);
    describe(&mut harness, "Image 2: img-1", " side");
    step_until_store(&mut harness, "the new description", || {
        rig.server_descriptions()[1] == "img-1 side"
    });
    close(harness, &mut storage);

    // Someone else deletes the picture while the app is closed; the engine pulls the delete.
    let gone = rig.server_images()[1].id;
    rig.runtime
        .block_on(rig.client().delete_image(rig.product, gone))
        .unwrap();
    let mut harness = rig.app(&storage, Duration::from_millis(50));
    rig.engine.refresh();
    open_lamp_after_delete(&mut harness);
    ctrl_z(&mut harness);
    step_until(&mut harness, "a notice says why nothing was undone", |h| {
        h.state()
            .notice_list()
            .iter()
            .any(|n| n.severity == Severity::Error && n.text.contains("does not exist any more"))
    });
    let said = harness.state().notices().join(" | ");
    assert!(!said.contains("HTTP"), "plain words: {said}");
    assert_eq!(rig.server_descriptions(), ["img-0", "img-2"]);
}

/// Opens "Lamp" once the engine has pulled the delete of its second image.
fn open_lamp_after_delete(harness: &mut Harness<'_, ImageDeskApp>) {
    step_until(harness, "the delete is pulled", |h| {
        h.query_by_label_contains("Lamp (2)").is_some()
    });
    harness.get_by_label_contains("Lamp (2)").click();
    step_until(harness, "the tiles are drawn", |h| {
        h.query_by_label("Image 2: img-2").is_some()
    });
}
