//! The Reports view (issue 16): the catalogue's findings in the app, filtered by kind, each row
//! opening its product. Driven headless by egui_kittest over the real server and engine on
//! loopback.

mod common;

use std::time::Duration;

use common::ui::{seed, step_until};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::ImageWrite;
use imagedesk::imaging::synthetic;
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    _runtime: tokio::runtime::Runtime,
    _store: TestStore,
    _data: tempfile::TempDir,
}

/// "Lamp" with three described images and a fourth without a description, "Empty" without
/// images, and "Shirt" with one 900 px picture.
fn rig() -> (Rig, Harness<'static, ImageDeskApp>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = EngineConfig::in_dir(data.path().join("replica"));
    let (store, engine) = runtime.block_on(async {
        let store = start().await;
        let lamp = store.product("Lamp").await;
        seed(&store, lamp, 3).await;
        let bare = ImageWrite {
            image_file: Some(store.import_jpeg("bare.jpg", 50)),
            ..ImageWrite::default()
        };
        store.client.create_image(lamp, &bare, None).await.unwrap();
        store.product("Empty").await;
        let shirt = store.product("Shirt").await;
        let small = synthetic::jpeg(&synthetic::photo(900, 600, 3), 85, false, None);
        std::fs::write(store.import.path().join("small.jpg"), small).unwrap();
        let write = ImageWrite {
            image_file: Some("small.jpg".into()),
            description: Some("Shirt, front".into()),
            ..ImageWrite::default()
        };
        store
            .client
            .create_image(shirt, &write, None)
            .await
            .unwrap();
        let engine = Engine::open(config, client_for(&store.server.api_url()))
            .await
            .unwrap();
        let status = engine.caught_up(Duration::from_secs(60)).await;
        assert_eq!(status.pending, 0, "{status:?}");
        (store, engine)
    });
    let backend = Backend::new(engine, runtime.handle().clone()).with_data_dir(data.path());
    let harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(
            |ui, app: &mut ImageDeskApp| app.show_ui(ui),
            ImageDeskApp::new(backend),
        );
    let rig = Rig {
        _runtime: runtime,
        _store: store,
        _data: data,
    };
    (rig, harness)
}

#[test]
fn the_reports_view_lists_findings_by_kind_and_opens_their_product() {
    let (_rig, mut harness) = rig();
    step_until(&mut harness, "the products are listed", |h| {
        h.query_by_label_contains("Lamp (4)").is_some()
    });
    harness.get_by_label("Reports").click();
    step_until(&mut harness, "the report is made", |h| {
        h.query_by_label_contains("findings").is_some()
    });
    // Counted by kind: the empty product, the bare image, the small picture (and the seeded
    // ones, which are small too: 160 px).
    harness.get_by_label("No pictures (1)");
    harness.get_by_label("No alt text (1)");
    harness.get_by_label("Same picture twice (0)");
    assert!(
        harness.query_by_label("Shirt").is_some(),
        "the small picture's product is listed"
    );
    harness.get_by_label("image 5 is 900 × 600 px");

    // Only the alt-text finding left: one row, Lamp's, whose Open shows Lamp's images.
    for kind in ["No pictures (1)", "Too small to zoom (5)"] {
        harness.get_by_label(kind).click();
        harness.step();
    }
    step_until(&mut harness, "the filters apply", |h| {
        h.query_by_label("Shirt").is_none() && h.query_by_label("Empty").is_none()
    });
    harness.get_by_label("Open").click();
    step_until(&mut harness, "Lamp's images are shown", |h| {
        h.query_by_label_contains("Image 4").is_some()
    });
}
