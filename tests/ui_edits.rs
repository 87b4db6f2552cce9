//! The app's handling of the user's work and of what goes wrong (issue 15): typed text is kept,
//! refused edits say why and can be retried or discarded, notices say what happened in plain
//! words. Driven headless by egui_kittest against the real server and engine on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ui::{open_lamp, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::api::{Client, Image, ImageWrite};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp, Severity};

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    /// The app's engine, for tests that read its queue.
    engine: Arc<Engine>,
    product: i64,
    _data: tempfile::TempDir,
}

impl Rig {
    /// A store with "Lamp" (three images "img-0" … "img-2") and "Chair" (one image).
    fn new() -> (Rig, Harness<'static, ImageDeskApp>) {
        Rig::with_app(|app| app)
    }

    /// Like [`Rig::new`], with the app adjusted by `adjust` before its first frame.
    fn with_app(
        adjust: impl FnOnce(ImageDeskApp) -> ImageDeskApp,
    ) -> (Rig, Harness<'static, ImageDeskApp>) {
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
        let engine = Arc::new(engine);
        let backend =
            Backend::new(engine.clone(), runtime.handle().clone()).with_data_dir(data.path());
        let app = adjust(ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50)));
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

fn wait_for_store(
    rig: &Rig,
    harness: &mut Harness<'_, ImageDeskApp>,
    what: &str,
    done: impl Fn(&Rig) -> bool,
) {
    step_until_store(harness, what, || done(rig));
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

// -- finding 1: work lost without warning ------------------------------------------------------

#[test]
fn a_typed_description_is_saved_when_another_tile_is_clicked() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    type_into(&mut harness, "Description (alt text)", " typed");
    // No "Save description": the user clicks the next picture.
    harness.get_by_label("Image 3: img-2").click();
    harness.step();
    wait_for_store(&rig, &mut harness, "the typed description", |rig| {
        rig.server_descriptions()[1] == "img-1 typed"
    });
    assert_eq!(
        rig.server_descriptions(),
        ["img-0", "img-1 typed", "img-2"],
        "sent once, to the image it was typed for"
    );
}

#[test]
fn escape_drops_a_typed_description() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    type_into(&mut harness, "Description (alt text)", " oops");
    harness.key_press(egui::Key::Escape);
    harness.step();
    harness.get_by_label("Image 3: img-2").click();
    harness.step();
    for _ in 0..20 {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rig.server_descriptions(), ["img-0", "img-1", "img-2"]);
    assert_eq!(harness.state().images()[1].description, "img-1");
}

// -- finding 2: a refused add leaves a ghost tile ----------------------------------------------

/// Adds a picture the store refuses (a loopback URL, which it does not fetch) and waits for the
/// refusal; returns with the ghost tile selected.
fn add_a_refused_picture(harness: &mut Harness<'_, ImageDeskApp>) {
    open_lamp(harness);
    type_into(harness, "Image URL", "http://127.0.0.1:9/nothing.jpg");
    harness.get_by_label("Add from URL").click();
    step_until(harness, "the refused add shows", |h| {
        h.state().images().len() == 4
            && matches!(
                h.state().images()[3].sync,
                imagedesk::sync::SyncState::Failed(_)
            )
    });
    harness.get_by_label_contains("Image 4").click();
    step_until(harness, "the details say why", |h| {
        h.query_by_label_contains("The store refused the picture:")
            .is_some()
            && h.query_by_label("Retry").is_some_and(|r| !is_disabled(&r))
    });
}

fn is_disabled(node: &egui_kittest::Node<'_>) -> bool {
    node.accesskit_node().is_disabled()
}

#[test]
fn a_refused_add_says_why_offers_retry_and_discard_and_no_other_edits() {
    let (rig, mut harness) = Rig::new();
    add_a_refused_picture(&mut harness);
    let reason = harness
        .get_by_label_contains("The store refused the picture:")
        .accesskit_node()
        .value()
        .unwrap_or_default();
    assert!(
        !reason.contains("HTTP") && !reason.contains("image_url"),
        "plain words: {reason}"
    );
    eprintln!("the refusal reads: {reason}");
    harness.get_by_label("Technical details");
    harness.get_by_label("Discard");
    assert!(harness.query_by_label("Set as thumbnail").is_none());
    assert!(harness.query_by_label("Description (alt text)").is_none());
    assert!(harness.query_by_label("Replace picture").is_none());

    // The product and the status bar count the refused edit the same way: failed, not pending.
    step_until(&mut harness, "the counts agree", |h| {
        h.query_by_label_contains("Lamp (4) · 1 failed").is_some()
            && h.query_by_label("0 pending").is_some()
            && h.query_by_label("1 failed").is_some()
    });
    assert!(harness.query_by_label_contains("1 pending").is_none());

    // Retry asks the store again; it refuses again, and the edit stays.
    harness.get_by_label("Retry").click();
    harness.step();
    step_until(&mut harness, "refused again", |h| {
        h.query_by_label_contains("The store refused the picture:")
            .is_some()
    });
    let outbox = rig.runtime.block_on(rig.engine.outbox()).unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
}

#[test]
fn discarding_a_refused_add_removes_its_tile() {
    let (rig, mut harness) = Rig::new();
    add_a_refused_picture(&mut harness);
    harness.get_by_label("Discard").click();
    step_until(&mut harness, "the ghost tile is gone", |h| {
        h.state().images().len() == 3 && h.query_by_label_contains("Image 4").is_none()
    });
    step_until(&mut harness, "nothing waits", |h| {
        h.query_by_label("0 pending").is_some() && h.query_by_label("1 failed").is_none()
    });
    let outbox = rig.runtime.block_on(rig.engine.outbox()).unwrap();
    assert!(outbox.is_empty(), "{outbox:?}");
    assert_eq!(rig.server_images().len(), 3);
}

// -- finding 6: messages -----------------------------------------------------------------------

fn severities(harness: &Harness<'_, ImageDeskApp>) -> Vec<(Severity, String)> {
    harness
        .state()
        .notice_list()
        .iter()
        .map(|n| (n.severity, n.text.clone()))
        .collect()
}

#[test]
fn information_expires_and_errors_stay_until_dismissed() {
    let (_rig, mut harness) =
        Rig::with_app(|app| app.with_notice_lifetime(Duration::from_millis(300)));
    open_lamp(&mut harness);
    // An empty URL: information. A file that does not exist: an error.
    harness.get_by_label("Add from URL").click();
    harness.step();
    type_into(&mut harness, "File path", "/nonexistent/picture.jpg");
    harness.get_by_label("Add file").click();
    step_until(&mut harness, "both notices show", |h| {
        let shown = severities(h);
        shown.iter().any(|(s, _)| *s == Severity::Info)
            && shown.iter().any(|(s, _)| *s == Severity::Error)
    });
    assert!(
        severities(&harness).contains(&(Severity::Info, "Type the URL of an image first.".into())),
        "{:?}",
        severities(&harness)
    );
    std::thread::sleep(Duration::from_millis(400));
    step_until(&mut harness, "the information leaves by itself", |h| {
        severities(h).iter().all(|(s, _)| *s == Severity::Error)
    });
    assert_eq!(severities(&harness).len(), 1, "the error stays");
    // The stack settles in the frame after it shrank (its corner is anchored).
    harness.run_steps(3);
    harness.get_by_label("Dismiss").click();
    step_until(&mut harness, "the error is dismissed", |h| {
        h.state().notice_list().is_empty()
    });
}

#[test]
fn saved_is_a_success_and_the_stack_lies_inside_the_window() {
    let (_rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    // The long advice of a desktop without a file dialog: a warning, wrapped inside the window.
    harness.get_by_label("Choose files…").click();
    step_until(&mut harness, "the advice", |h| {
        h.query_by_label_contains("No file dialog appeared")
            .is_some()
    });
    let rect = harness
        .get_by_label_contains("No file dialog appeared")
        .rect();
    assert!(
        rect.left() >= 0.0 && rect.right() <= 1280.0,
        "the notice lies inside the window: {rect:?}"
    );
    assert!(
        severities(&harness)
            .iter()
            .any(|(s, t)| *s == Severity::Warning && t.contains("No file dialog appeared"))
    );

    harness.get_by_label("Counts").click();
    harness.step();
    let files = tempfile::tempdir().unwrap();
    let csv = files.path().join("counts.csv");
    type_into(&mut harness, "CSV path", &csv.display().to_string());
    harness.get_by_label("Export CSV").click();
    step_until(&mut harness, "the CSV is written and said so", |h| {
        severities(h)
            .iter()
            .any(|(s, t)| *s == Severity::Success && t.starts_with("Saved the counts"))
    });
}

#[test]
fn a_held_conflict_names_the_picture_by_its_place_and_says_truthfully_what_happened() {
    let (rig, mut harness) = Rig::new();
    open_lamp(&mut harness);
    rig.engine.pause();
    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    type_into(&mut harness, "Description (alt text)", " mine");
    harness.get_by_label("Save description").click();
    harness.step();
    let second = rig.server_images()[1].id;
    rig.runtime
        .block_on(rig.client().update_image(
            rig.product,
            second,
            &ImageWrite {
                description: Some("theirs".into()),
                ..ImageWrite::default()
            },
        ))
        .unwrap();
    rig.engine.resume();
    rig.engine.refresh();
    step_until(&mut harness, "the conflict shows", |h| {
        h.query_by_label_contains("was changed on the store too")
            .is_some()
    });
    let text = harness
        .get_by_label_contains("was changed on the store too")
        .accesskit_node()
        .value()
        .unwrap_or_default();
    assert!(
        text.starts_with("The description of image 2 of \"Lamp\""),
        "named by its place in the grid, not its id: {text}"
    );
    assert!(!text.contains('#'), "{text}");
    assert!(
        text.contains("Yours is not sent until you choose"),
        "held, and it says so: {text}"
    );
    harness.get_by_label("Keep mine");
    harness.get_by_label("Use the store's");
    assert_eq!(rig.server_images()[1].description, "theirs", "not sent");
}

// -- finding 7: offline is visible -------------------------------------------------------------

#[test]
fn the_pending_list_shows_every_waiting_and_refused_edit_with_retry_and_discard() {
    let (rig, mut harness) = Rig::new();
    add_a_refused_picture(&mut harness);
    // One more edit, held while the engine is paused: it waits.
    rig.engine.pause();
    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    type_into(&mut harness, "Description (alt text)", " later");
    harness.get_by_label("Save description").click();
    step_until(&mut harness, "the bar counts both", |h| {
        h.query_by_label("1 pending").is_some() && h.query_by_label("1 failed").is_some()
    });
    harness.get_by_label("1 failed").click();
    step_until(&mut harness, "the list shows both edits", |h| {
        h.query_by_label("Pending changes").is_some()
            && h.query_by_label_contains("Add a picture").is_some()
            && h.query_by_label_contains("Change a description (image 2)")
                .is_some()
    });
    harness.get_by_label("Waiting to be sent");
    harness.get_by_label_contains("Refused:");
    assert_eq!(
        harness.query_all_by_label("Discard").count(),
        2,
        "one per edit"
    );
    harness.get_by_label("Retry");
    rig.engine.resume();
}

#[test]
fn the_undo_toast_counts_down() {
    let (_rig, mut harness) = Rig::with_app(|app| app.with_delete_grace(Duration::from_secs(8)));
    open_lamp(&mut harness);
    harness.get_by_label("Image 2: img-1").click();
    harness.step();
    harness.key_press(egui::Key::Delete);
    harness.step();
    harness.get_by_label_contains("Undo (8 s)");
    // The product's count leaves out the image waiting in the toast, as the grid does.
    step_until(&mut harness, "the list counts what the grid shows", |h| {
        h.query_by_label_contains("Lamp (2)").is_some()
    });
}
