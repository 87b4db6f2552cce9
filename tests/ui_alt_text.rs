//! Alt text in the app (issue 15): adding pictures asks for their descriptions without
//! blocking, the grid can show only the images without one, and Home or the details panel's
//! "Move to first" put the selected image first. Driven headless by egui_kittest against the
//! real server and engine on loopback; what the store holds is read over HTTP.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ui::{open, open_lamp, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::api::{Image, ImageWrite};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

const PROMPT: &str = "Describe the new pictures";

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    product: i64,
    files: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Rig {
    /// "Lamp" with three images "img-0" … "img-2", then `bare` images without a description.
    fn new(bare: usize) -> (Rig, Harness<'static, ImageDeskApp>) {
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
            for i in 0..bare {
                let write = ImageWrite {
                    image_file: Some(store.import_jpeg(&format!("bare-{i}.jpg"), 100 + i as u64)),
                    ..ImageWrite::default()
                };
                store
                    .client
                    .create_image(product, &write, None)
                    .await
                    .unwrap();
            }
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, product, engine)
        });
        let backend = Backend::new(engine, runtime.handle().clone()).with_data_dir(data.path());
        let app = ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50));
        let harness = Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .with_step_dt(1.0 / 60.0)
            .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
        let rig = Rig {
            runtime,
            store,
            product,
            files: tempfile::tempdir().unwrap(),
            _data: data,
        };
        (rig, harness)
    }

    fn server_images(&self) -> Vec<Image> {
        self.runtime
            .block_on(self.store.client.list_all_images(self.product))
            .unwrap()
    }

    fn server_descriptions(&self) -> Vec<String> {
        self.server_images()
            .into_iter()
            .map(|i| i.description)
            .collect()
    }

    /// A small JPEG named `name` on disk.
    fn picture(&self, name: &str, seed: u64) -> PathBuf {
        let path = self.files.path().join(name);
        std::fs::write(&path, small_jpeg(seed)).unwrap();
        path
    }
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

/// Adds the file at `path` through the tool bar's "File path" field.
fn add_file(harness: &mut Harness<'_, ImageDeskApp>, path: &Path) {
    type_into(harness, "File path", &path.display().to_string());
    harness.get_by_label("Add file").click();
    harness.step();
}

/// The text of the prompt's field for the picture called `name`.
fn field_text(harness: &Harness<'_, ImageDeskApp>, name: &str) -> Option<String> {
    harness
        .query_by_label(name)
        .and_then(|node| node.accesskit_node().value().map(|v| v.to_string()))
}

/// A few frames more: a panel that just appeared or grew takes its size on the next frame, and
/// a click aims at where a button was drawn.
fn settle(harness: &mut Harness<'_, ImageDeskApp>) {
    for _ in 0..3 {
        harness.step();
    }
}

fn disabled(harness: &Harness<'_, ImageDeskApp>, label: &str) -> bool {
    harness.get_by_label(label).accesskit_node().is_disabled()
}

// -- the prompt ---------------------------------------------------------------------------------

#[test]
fn adding_a_file_asks_for_its_description_and_enter_saves_it_as_an_undoable_edit() {
    let (rig, mut harness) = Rig::new(0);
    open_lamp(&mut harness);
    assert!(
        harness.query_by_label(PROMPT).is_none(),
        "nothing to ask yet"
    );
    let path = rig.picture("new lamp.jpg", 42);
    add_file(&mut harness, &path);
    step_until(&mut harness, "the prompt suggests a description", |h| {
        h.query_by_label(PROMPT).is_some()
            && field_text(h, "new lamp.jpg").as_deref() == Some("Lamp — view 4")
    });
    // The new tile is read back: the description goes to the image the grid shows.
    step_until(&mut harness, "the new tile", |h| {
        h.query_by_label("Image 4").is_some()
    });
    type_into(&mut harness, "new lamp.jpg", ", lit from the left");
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "Enter saves and closes the prompt", |h| {
        h.query_by_label(PROMPT).is_none()
    });
    step_until_store(&mut harness, "the new image's description", || {
        rig.server_descriptions().get(3).map(String::as_str)
            == Some("Lamp — view 4, lit from the left")
    });
    assert_eq!(
        rig.server_descriptions()[..3],
        ["img-0", "img-1", "img-2"],
        "only the new image is described"
    );
    // An ordinary description: Undo takes it back.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    step_until_store(&mut harness, "the description undone", || {
        rig.server_descriptions().get(3).map(String::as_str) == Some("")
    });
}

#[test]
fn skip_leaves_the_new_picture_without_a_description_and_closes_the_prompt() {
    let (rig, mut harness) = Rig::new(0);
    open_lamp(&mut harness);
    add_file(&mut harness, &rig.picture("shelf.jpg", 43));
    step_until(&mut harness, "the prompt", |h| {
        field_text(h, "shelf.jpg").is_some()
    });
    settle(&mut harness);
    harness.get_by_label("Skip").click();
    step_until(&mut harness, "the prompt closed", |h| {
        h.query_by_label(PROMPT).is_none()
    });
    step_until_store(&mut harness, "the new image", || {
        rig.server_images().len() == 4
    });
    // Let the app settle: nothing it queues may describe the picture.
    step_until(&mut harness, "the new tile, synced", |h| {
        h.state()
            .images()
            .iter()
            .any(|i| i.server_id.is_some() && i.description.is_empty())
    });
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rig.server_descriptions(), ["img-0", "img-1", "img-2", ""]);
    assert!(harness.query_by_label(PROMPT).is_none(), "it stays closed");
}

#[test]
fn a_second_add_while_the_prompt_is_open_adds_a_row_and_keeps_what_was_typed() {
    let (rig, mut harness) = Rig::new(0);
    open_lamp(&mut harness);
    add_file(&mut harness, &rig.picture("first.jpg", 44));
    step_until(&mut harness, "the first row", |h| {
        field_text(h, "first.jpg").is_some()
    });
    type_into(&mut harness, "first.jpg", " typed");
    add_file(&mut harness, &rig.picture("second.jpg", 45));
    step_until(&mut harness, "the second row", |h| {
        field_text(h, "second.jpg").is_some()
    });
    assert_eq!(
        field_text(&harness, "first.jpg").as_deref(),
        Some("Lamp — view 4 typed")
    );
    assert_eq!(
        field_text(&harness, "second.jpg").as_deref(),
        Some("Lamp — view 5")
    );
    step_until(&mut harness, "both new tiles", |h| {
        h.query_by_label("Image 5").is_some()
    });
    settle(&mut harness);
    harness.get_by_label("Save descriptions").click();
    step_until_store(&mut harness, "both descriptions", || {
        rig.server_descriptions()[3..] == ["Lamp — view 4 typed", "Lamp — view 5"]
    });
}

// -- the filter ---------------------------------------------------------------------------------

#[test]
fn the_missing_alt_text_filter_shows_only_the_bare_images_at_their_real_positions() {
    let (_rig, mut harness) = Rig::new(2);
    open(&mut harness, "Lamp (5)", "Image 5");
    assert!(harness.query_by_label("2 without alt text").is_some());
    harness.get_by_label("Missing alt text").click();
    step_until(&mut harness, "only the bare images", |h| {
        h.query_by_label("Image 1: img-0 (thumbnail)").is_none()
    });
    for described in ["Image 2: img-1", "Image 3: img-2"] {
        assert!(harness.query_by_label(described).is_none(), "{described}");
    }
    // Their own places in the product's order, not 1 and 2 of the subset.
    for bare in ["Image 4", "Image 5"] {
        assert!(harness.query_by_label(bare).is_some(), "{bare}");
    }
    assert!(harness.query_by_label("Position 4").is_some());
    assert!(harness.query_by_label("Position 1").is_none());
    assert!(harness.query_by_label("2 without alt text").is_some());
    // A click again shows them all.
    harness.get_by_label("Missing alt text").click();
    step_until(&mut harness, "every image again", |h| {
        h.query_by_label("Image 1: img-0 (thumbnail)").is_some()
    });
}

// -- moving first -------------------------------------------------------------------------------

#[test]
fn home_moves_the_selected_image_first() {
    let (rig, mut harness) = Rig::new(0);
    open_lamp(&mut harness);
    harness.get_by_label("Image 3: img-2").click();
    harness.step();
    harness.key_press(egui::Key::Home);
    step_until_store(&mut harness, "img-2 first", || {
        rig.server_descriptions() == ["img-2", "img-0", "img-1"]
    });
}

#[test]
fn the_details_panels_move_to_first_moves_the_image_and_rests_on_the_first_one() {
    let (rig, mut harness) = Rig::new(0);
    open_lamp(&mut harness);
    harness.get_by_label("Image 1: img-0 (thumbnail)").click();
    step_until(&mut harness, "the details of image 1", |h| {
        h.query_by_label("Move to first").is_some()
    });
    assert!(disabled(&harness, "Move to first"), "it is first already");
    harness.get_by_label("Image 2: img-1").click();
    step_until(&mut harness, "the button enabled", |h| {
        !disabled(h, "Move to first")
    });
    harness.get_by_label("Move to first").click();
    step_until_store(&mut harness, "img-1 first", || {
        rig.server_descriptions() == ["img-1", "img-0", "img-2"]
    });
    step_until(&mut harness, "the moved image is first, and says so", |h| {
        h.query_by_label("Image 1: img-1").is_some() && disabled(h, "Move to first")
    });
}

#[test]
fn several_selected_images_are_described_from_one_pattern_and_undo_takes_one_back() {
    let (rig, mut harness) = Rig::new(0);
    open_lamp(&mut harness);
    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    harness
        .get_by_label("Image 3: img-2")
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    step_until(&mut harness, "the bulk field", |h| {
        h.query_by_label("2 images selected").is_some()
    });
    // The default pattern names the product and each image's own position.
    harness.get_by_label("Describe the selected").click();
    step_until_store(&mut harness, "both described from the pattern", || {
        rig.server_descriptions() == ["img-0", "Lamp — view 2", "Lamp — view 3"]
    });
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    step_until_store(&mut harness, "the last one undone", || {
        rig.server_descriptions() == ["img-0", "Lamp — view 2", "img-2"]
    });
}
