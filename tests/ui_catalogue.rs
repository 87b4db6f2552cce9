//! The product list and the counts view over a catalogue of a few thousand products: the real
//! app state and the real sync engine, driven headless by egui_kittest. The replica is filled
//! with SQL after the engine created it (an offline engine, so no pull replaces it), the way a
//! large store's replica looks after its first sync.

use std::sync::Arc;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::sync::memory_store::MemoryStore;
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp, View};

const PRODUCTS: i64 = 3_000;

struct Rig {
    // Kept: the engine and the backend run on it.
    _runtime: tokio::runtime::Runtime,
    engine: Arc<Engine>,
    _dir: tempfile::TempDir,
}

/// Products 1..=3000: "Oak chair {id}" for every 10th, "Product {id}" otherwise; SKU
/// "SKU-{id:05}"; `id % 7` images each, the first the thumbnail.
fn rig() -> (Rig, Harness<'static, ImageDeskApp>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::in_dir(dir.path());
    config.offline = true;
    let engine = runtime.block_on(async {
        let engine = Engine::open_with(config, Arc::new(MemoryStore::new()))
            .await
            .unwrap();
        fill(&dir.path().join("replica.sqlite")).await;
        engine
    });
    let engine = Arc::new(engine);
    let backend = Backend::new(engine.clone(), runtime.handle().clone());
    let harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(
            |ui, app: &mut ImageDeskApp| app.show_ui(ui),
            ImageDeskApp::new(backend),
        );
    (
        Rig {
            _runtime: runtime,
            engine,
            _dir: dir,
        },
        harness,
    )
}

async fn fill(replica: &std::path::Path) {
    use sqlx::Connection as _;
    let mut db = sqlx::SqliteConnection::connect(&format!("sqlite://{}", replica.display()))
        .await
        .unwrap();
    let mut tx = db.begin().await.unwrap();
    for id in 1..=PRODUCTS {
        let name = if id % 10 == 0 {
            format!("Oak chair {id}")
        } else {
            format!("Product {id}")
        };
        sqlx::query("INSERT INTO products (id, name, sku) VALUES (?, ?, ?)")
            .bind(id)
            .bind(name)
            .bind(format!("SKU-{id:05}"))
            .execute(&mut *tx)
            .await
            .unwrap();
        for position in 0..id % 7 {
            sqlx::query(
                "INSERT INTO images (server_id, product_id, position, is_thumbnail)
                 VALUES (?, ?, ?, ?)",
            )
            .bind(id * 10 + position)
            .bind(id)
            .bind(position)
            .bind(position == 0)
            .execute(&mut *tx)
            .await
            .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

/// Steps the UI until `done` holds (engine answers arrive between steps).
fn step_until(
    harness: &mut Harness<'_, ImageDeskApp>,
    what: &str,
    mut done: impl FnMut(&Harness<'_, ImageDeskApp>) -> bool,
) {
    for _ in 0..500 {
        harness.step();
        if done(harness) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting until {what}");
}

fn wheel(harness: &mut Harness<'_, ImageDeskApp>, at: egui::Pos2, delta: f32) {
    harness.event(egui::Event::PointerMoved(at));
    harness.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, delta),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Unknown,
        modifiers: egui::Modifiers::default(),
    });
    harness.step();
}

#[test]
fn the_list_opens_the_first_product_and_a_search_shows_only_matches() {
    let (rig, mut harness) = rig();
    step_until(&mut harness, "the list", |h| {
        h.query_by_label("3000 products").is_some() && h.query_by_label("Product 1 (1)").is_some()
    });
    // The first product is opened, and the engine is told.
    step_until(&mut harness, "the first product opens", |h| {
        h.state().selected_product() == Some(1)
    });
    assert_eq!(rig.engine.shown_product(), Some(1));

    // A substring of the name, any case: 300 "Oak chair" products.
    harness.get_by_label("Search products").focus();
    harness.step();
    harness.get_by_label("Search products").type_text("OAK ch");
    step_until(&mut harness, "the matches", |h| {
        h.query_by_label("300 matches").is_some()
    });
    harness.get_by_label("Oak chair 10 (3)");
    assert!(harness.query_by_label("Product 1 (1)").is_none());

    // A part of the SKU: products 2990..=2999.
    for _ in 0..6 {
        harness.key_press(egui::Key::Backspace);
    }
    harness.get_by_label("Search products").type_text("u-0299");
    step_until(&mut harness, "the SKU matches", |h| {
        h.query_by_label("10 matches").is_some()
    });
    harness.get_by_label("Product 2991 (2)");

    // The id: exactly that product (no name or SKU holds "2345" but its own).
    for _ in 0..6 {
        harness.key_press(egui::Key::Backspace);
    }
    harness.get_by_label("Search products").type_text("2345");
    step_until(&mut harness, "the id", |h| {
        h.query_by_label("1 match").is_some()
    });
    harness.get_by_label("Product 2345 (0)");
}

#[test]
fn clicking_a_product_tells_the_engine_which_one_is_open() {
    let (rig, mut harness) = rig();
    step_until(&mut harness, "the list", |h| {
        h.query_by_label("Product 7 (0)").is_some()
    });
    harness.get_by_label("Product 6 (6)").click();
    step_until(&mut harness, "product 6 opens", |h| {
        h.state().selected_product() == Some(6)
    });
    step_until(&mut harness, "the engine hears of it", |_| {
        rig.engine.shown_product() == Some(6)
    });
    // A product found by a search, far from the first page, likewise.
    harness.get_by_label("Search products").focus();
    harness.step();
    harness
        .get_by_label("Search products")
        .type_text("Oak chair 2990");
    step_until(&mut harness, "the match", |h| {
        h.query_by_label("Oak chair 2990 (1)").is_some()
    });
    harness.get_by_label("Oak chair 2990 (1)").click();
    step_until(&mut harness, "the engine hears of it", |_| {
        rig.engine.shown_product() == Some(2990)
    });
    assert_eq!(harness.state().selected_product(), Some(2990));
}

#[test]
fn scrolling_the_list_reaches_the_last_products_while_holding_few_rows() {
    let (_rig, mut harness) = rig();
    step_until(&mut harness, "the list", |h| {
        h.query_by_label("Product 1 (1)").is_some()
    });
    let list = harness.get_by_label("Product 1 (1)").rect().center();
    let mut most_held = 0;
    for _ in 0..2_000 {
        wheel(&mut harness, list, -2_000.0);
        std::thread::sleep(Duration::from_millis(2));
        most_held = most_held.max(harness.state().listed().1);
        if harness.query_by_label("Product 2999 (3)").is_some() {
            break;
        }
    }
    step_until(&mut harness, "the last rows", |h| {
        h.query_by_label("Product 2999 (3)").is_some()
    });
    assert!(harness.query_by_label("Product 1 (1)").is_none());
    let (total, held, _) = harness.state().listed();
    assert_eq!(total, Some(3_000));
    assert!(
        most_held <= 1_300 && held <= 1_300,
        "the list held {most_held} rows at most, {held} now"
    );
}

#[test]
fn the_counts_view_sorts_by_images_and_scrolls_to_later_rows() {
    let (_rig, mut harness) = rig();
    harness.get_by_label("Counts").click();
    step_until(&mut harness, "the counts", |h| {
        h.state().view() == View::Counts
            && h.query_by_label("3000 products · 8998 images in the local copy · 0 without a thumbnail · 0 edits pending")
                .is_some()
    });
    // Most images first (6 each: ids ≡ 6 mod 7), ties by id, descending.
    step_until(&mut harness, "the rows", |h| {
        h.state().counts_rows(0..3).len() == 3
    });
    let first: Vec<(i64, u64)> = harness
        .state()
        .counts_rows(0..3)
        .iter()
        .map(|p| (p.id, p.image_count))
        .collect();
    assert_eq!(first, [(2995, 6), (2988, 6), (2981, 6)]);
    // A click on the header: fewest first.
    // The column's header (the toolbar's "Images" view button is drawn before it).
    harness
        .get_all_by_label("Images")
        .last()
        .expect("the Images column")
        .click();
    step_until(&mut harness, "fewest first", |h| {
        h.state()
            .counts_rows(0..2)
            .iter()
            .map(|p| p.id)
            .collect::<Vec<_>>()
            == [7, 14]
    });
    assert!(
        harness
            .state()
            .counts_rows(0..100)
            .iter()
            .all(|p| p.image_count == 0)
    );
    // Scrolling far down the table shows rows the first page did not have.
    // The last row: the most images, the highest id.
    let table = harness.get_by_label("Product 7").rect().center();
    for _ in 0..400 {
        wheel(&mut harness, table, -2_000.0);
        std::thread::sleep(Duration::from_millis(2));
        if harness.query_by_label("Product 2995").is_some() {
            break;
        }
    }
    step_until(&mut harness, "the last rows", |h| {
        h.query_by_label("Product 2995").is_some()
    });
    assert!(harness.query_by_label("Product 7").is_none());
    assert!(
        harness.state().listed().2 <= 1_300,
        "{:?}",
        harness.state().listed()
    );
    harness.get_by_label("Product 2995").click();
    step_until(&mut harness, "the product opens", |h| {
        h.state().selected_product() == Some(2995) && h.state().view() == View::Images
    });
}

#[test]
fn enter_in_the_csv_path_field_exports_like_the_button() {
    let (_rig, mut harness) = rig();
    harness.get_by_label("Counts").click();
    step_until(&mut harness, "the counts view", |h| {
        h.query_by_label("CSV path").is_some()
    });
    let out = tempfile::tempdir().unwrap();
    let csv = out.path().join("counts.csv");
    harness.get_by_label("CSV path").focus();
    harness.step();
    harness
        .get_by_label("CSV path")
        .type_text(&csv.display().to_string());
    harness.step();
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the CSV is written", |_| csv.exists());
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("product_id,"), "{text}");
}
