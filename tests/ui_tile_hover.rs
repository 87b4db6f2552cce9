//! A tile whose edit the store refused says why when the pointer rests anywhere on it, not only
//! on its small red dot, and what to do about it (issue 15). Driven headless by egui_kittest
//! against the real server and engine on loopback.

mod common;

use std::time::Duration;

use common::ui::{open_lamp, seed, step_until};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::sync::{Engine, EngineConfig, SyncState};
use imagedesk::ui::{Backend, ImageDeskApp};

/// The app over a store with "Lamp" (three images); returns what must outlive the test.
fn app() -> (
    (tokio::runtime::Runtime, TestStore, tempfile::TempDir),
    Harness<'static, ImageDeskApp>,
) {
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
        let product = store.product("Lamp").await;
        seed(&store, product, 3).await;
        let engine = Engine::open(config, client_for(&store.server.api_url()))
            .await
            .unwrap();
        (store, engine)
    });
    let backend = Backend::new(engine, runtime.handle().clone()).with_data_dir(data.path());
    let app = ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50));
    let harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
    ((runtime, store, data), harness)
}

/// Adds a picture the store refuses (a loopback URL, which it does not fetch) and waits until
/// its tile shows the refusal.
fn add_a_refused_picture(harness: &mut Harness<'_, ImageDeskApp>) {
    open_lamp(harness);
    harness.get_by_label("Image URL").focus();
    harness.step();
    harness
        .get_by_label("Image URL")
        .type_text("http://127.0.0.1:9/nothing.jpg");
    harness.step();
    harness.get_by_label("Add from URL").click();
    step_until(harness, "the refused add shows", |h| {
        h.state().images().len() == 4 && matches!(h.state().images()[3].sync, SyncState::Failed(_))
    });
}

#[test]
fn hovering_a_failed_tile_anywhere_says_why_and_what_to_do() {
    let (_keep, mut harness) = app();
    add_a_refused_picture(&mut harness);
    let tile = harness.get_by_label_contains("Image 4").rect();
    // The middle of the picture, far from the dot in its corner.
    harness.hover_at(tile.center());
    step_until(&mut harness, "the tooltip shows", |h| {
        h.query_by_label_contains("Open Pending changes to retry or discard")
            .is_some()
    });
    let tip = harness
        .get_by_label_contains("Open Pending changes to retry or discard")
        .accesskit_node()
        .value()
        .unwrap_or_default();
    eprintln!("the tooltip reads: {tip}");
    assert!(tip.contains("The store refused"), "says why: {tip}");
    assert!(
        !tip.contains("HTTP") && !tip.contains("image_url"),
        "plain words: {tip}"
    );
}
