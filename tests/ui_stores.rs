//! The Stores dialog reads like a list (issue 15): each saved store's name, its URL once, a
//! "Connected" mark on the store the window shows, and a Connect button (resting on the current
//! one). Driven headless by egui_kittest against two real servers on loopback.

mod common;

use std::time::Duration;

use common::ui::{seed, step_until};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::profiles::{CurrentStore, Profile, token_path};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    _runtime: tokio::runtime::Runtime,
    _stores: [TestStore; 2],
    profiles: [Profile; 2],
    _data: tempfile::TempDir,
}

/// Two stores ("First shop" with "Lamp", "Second shop" with "Desk"), both saved with their
/// tokens; the window shows the first.
fn rig() -> (Rig, Harness<'static, ImageDeskApp>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let config = EngineConfig::in_dir(data.path().join("replica"));
    let (first, second, engine) = runtime.block_on(async {
        let first = start().await;
        let lamp = first.product("Lamp").await;
        seed(&first, lamp, 1).await;
        let second = start().await;
        let desk = second.product("Desk").await;
        seed(&second, desk, 2).await;
        let engine = Engine::open(config, client_for(&first.server.api_url()))
            .await
            .unwrap();
        (first, second, engine)
    });
    let profiles = [("First shop", &first), ("Second shop", &second)].map(|(name, store)| {
        let api_url = store.server.api_url();
        let token = token_path(data.path(), &api_url);
        std::fs::create_dir_all(token.parent().unwrap()).unwrap();
        std::fs::write(&token, TOKEN).unwrap();
        Profile {
            name: name.into(),
            api_url,
            user: None,
        }
    });
    let backend = Backend::new(engine, runtime.handle().clone())
        .with_data_dir(data.path())
        .with_store(CurrentStore::of(&profiles[0]));
    let app = ImageDeskApp::new(backend)
        .with_delete_grace(Duration::from_millis(50))
        .with_profiles(profiles.to_vec());
    let harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
    let rig = Rig {
        _runtime: runtime,
        _stores: [first, second],
        profiles,
        _data: data,
    };
    (rig, harness)
}

fn open_dialog(harness: &mut Harness<'_, ImageDeskApp>) {
    harness.get_by_label("Stores…").click();
    step_until(harness, "the dialog shows", |h| {
        h.query_by_label("Saved stores").is_some()
    });
}

/// The vertical extent of a saved store's row: from its name to its URL.
fn row(harness: &Harness<'_, ImageDeskApp>, profile: &Profile) -> egui::Rangef {
    let name = harness.get_by_label(&profile.name).rect();
    let url = harness.get_by_label(&profile.api_url).rect();
    egui::Rangef::new(name.top(), url.bottom())
}

fn in_row(row: egui::Rangef, rect: egui::Rect) -> bool {
    row.contains(rect.center().y)
}

/// The Connect button of a row, and whether it can be pressed.
fn connect_button(harness: &Harness<'_, ImageDeskApp>, profile: &Profile) -> (egui::Rect, bool) {
    let row = row(harness, profile);
    let buttons: Vec<_> = harness
        .query_all_by_label("Connect")
        .filter(|b| in_row(row, b.rect()))
        .map(|b| (b.rect(), !b.accesskit_node().is_disabled()))
        .collect();
    assert_eq!(buttons.len(), 1, "one Connect per row");
    buttons[0]
}

/// Which saved store the dialog marks "Connected" (exactly one must be).
fn marked(harness: &Harness<'_, ImageDeskApp>, profiles: &[Profile]) -> String {
    let marks: Vec<_> = harness.query_all_by_label("Connected").collect();
    assert_eq!(marks.len(), 1, "one store is marked");
    let mark = marks[0].rect();
    let rows: Vec<&Profile> = profiles
        .iter()
        .filter(|p| in_row(row(harness, p), mark))
        .collect();
    assert_eq!(rows.len(), 1, "the mark is in one row");
    rows[0].name.clone()
}

#[test]
fn the_stores_dialog_lists_each_store_once_and_marks_the_current_one() {
    let (rig, mut harness) = rig();
    open_dialog(&mut harness);
    for profile in &rig.profiles {
        assert_eq!(
            harness.query_all_by_label(&profile.api_url).count(),
            1,
            "the URL of {} is shown once",
            profile.name
        );
        assert_eq!(
            harness.query_all_by_label_contains(&profile.name).count(),
            1,
            "no button repeats the name of {}",
            profile.name
        );
    }
    assert_eq!(marked(&harness, &rig.profiles), "First shop");
    assert!(
        !connect_button(&harness, &rig.profiles[0]).1,
        "already shown"
    );
    assert!(connect_button(&harness, &rig.profiles[1]).1);
}

#[test]
fn connecting_to_another_saved_store_moves_the_mark() {
    let (rig, mut harness) = rig();
    open_dialog(&mut harness);
    let (button, enabled) = connect_button(&harness, &rig.profiles[1]);
    assert!(enabled);
    harness
        .query_all_by_label("Connect")
        .find(|b| b.rect() == button)
        .unwrap()
        .click();
    step_until(&mut harness, "the second store's products", |h| {
        h.query_by_label_contains("Desk (2)").is_some()
            && h.query_by_label_contains("Lamp").is_none()
    });
    assert_eq!(
        harness.state().current_store(),
        Some(&CurrentStore::of(&rig.profiles[1]))
    );
    open_dialog(&mut harness);
    assert_eq!(marked(&harness, &rig.profiles), "Second shop");
    assert!(connect_button(&harness, &rig.profiles[0]).1);
    assert!(!connect_button(&harness, &rig.profiles[1]).1);
}
