//! The image grid driven headless by egui_kittest, against the real server and the real sync
//! engine on loopback: what the tiles say, a layout that stays put, and drag and drop.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ui::{open, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::api::{ImageWrite, NewProduct};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    /// Held so that the engine outlives the test's last step.
    _engine: Arc<Engine>,
    product: i64,
    _data: tempfile::TempDir,
}

/// A product and its images' descriptions.
struct Seed<'a> {
    name: &'a str,
    sku: &'a str,
    descriptions: Vec<String>,
}

impl Rig {
    /// A store with the products of `seeds` (the first is the one the tests look at), shown in a
    /// `size` window.
    fn new(seeds: Vec<Seed<'_>>, size: egui::Vec2) -> (Rig, Harness<'static, ImageDeskApp>) {
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
            let mut first = None;
            for (n, seed) in seeds.iter().enumerate() {
                let product = store
                    .client
                    .create_product(&NewProduct {
                        name: seed.name.into(),
                        sku: seed.sku.into(),
                    })
                    .await
                    .unwrap()
                    .id;
                first.get_or_insert(product);
                for (i, description) in seed.descriptions.iter().enumerate() {
                    let file = store.import_jpeg(&format!("p{n}-{i}.jpg"), i as u64);
                    let write = ImageWrite {
                        image_file: Some(file),
                        description: Some(description.clone()),
                        ..ImageWrite::default()
                    };
                    store
                        .client
                        .create_image(product, &write, None)
                        .await
                        .unwrap();
                }
            }
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, first.unwrap(), engine)
        });
        let engine = Arc::new(engine);
        let backend =
            Backend::new(engine.clone(), runtime.handle().clone()).with_data_dir(data.path());
        let app = ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50));
        let harness = Harness::builder()
            .with_size(size)
            .with_step_dt(1.0 / 60.0)
            .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
        let rig = Rig {
            runtime,
            store,
            _engine: engine,
            product,
            _data: data,
        };
        (rig, harness)
    }

    /// "Lamp" with `n` images "img-0" …, and "Chair" with none, in a 1280 × 800 window.
    fn lamp(n: usize) -> (Rig, Harness<'static, ImageDeskApp>) {
        Rig::new(
            vec![
                Seed {
                    name: "Lamp",
                    sku: "LAMP-1",
                    descriptions: (0..n).map(|i| format!("img-{i}")).collect(),
                },
                Seed {
                    name: "Chair",
                    sku: "",
                    descriptions: Vec::new(),
                },
            ],
            egui::Vec2::new(1280.0, 800.0),
        )
    }

    fn server_descriptions(&self) -> Vec<String> {
        self.runtime
            .block_on(self.store.client.list_all_images(self.product))
            .unwrap()
            .into_iter()
            .map(|i| i.description)
            .collect()
    }
}

/// Waits until the store's order is `done`, then until the grid shows that order too: the next
/// gesture is made on what a person would see, not on a replica still catching up with the
/// move before (a keyboard move made then is judged against the older order).
fn wait_for_store(
    rig: &Rig,
    harness: &mut Harness<'_, ImageDeskApp>,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) {
    step_until_store(harness, what, || done(&rig.server_descriptions()));
    let order = rig.server_descriptions();
    step_until(harness, &format!("the grid shows {what}"), |h| {
        order.iter().enumerate().all(|(n, description)| {
            h.query_by_label_contains(&format!("Image {}: {description}", n + 1))
                .is_some()
        })
    });
}

fn rect_of(harness: &Harness<'_, ImageDeskApp>, label: &str) -> egui::Rect {
    harness.get_by_label(label).rect()
}

// -- finding 5: tiles say little -----------------------------------------------------------------

#[test]
fn tiles_show_their_place_a_caption_cut_with_an_ellipsis_and_the_product_header() {
    let views = ["left", "right", "top", "sole"];
    let (_rig, mut harness) = Rig::new(
        vec![Seed {
            name: "Trail Running Shoe",
            sku: "TRS-42",
            descriptions: views
                .iter()
                .map(|v| format!("Trail Running Shoe, view from the {v}, on a white background"))
                .collect(),
        }],
        egui::Vec2::new(1280.0, 800.0),
    );
    open(
        &mut harness,
        "Trail Running Shoe (4)",
        "Image 4: Trail Running Shoe, view from the sole, on a white background",
    );
    harness.step();
    // Each caption is cut where the tile ends, with an ellipsis, not at a fixed 24 characters:
    // the four views of the shoe read differently.
    let captions: Vec<String> = harness
        .query_all_by_role(egui::accesskit::Role::Label)
        .filter_map(|n| n.accesskit_node().value())
        .filter(|l| l.starts_with("Trail Running Shoe, view"))
        .collect();
    assert_eq!(captions.len(), 4, "{captions:?}");
    for (caption, view) in captions.iter().zip(views) {
        let full = format!("Trail Running Shoe, view from the {view}, on a white background");
        assert!(caption.ends_with('…'), "{caption:?}");
        let shown = caption.trim_end_matches('…').trim_end();
        assert!(
            full.starts_with(shown) && shown.contains(view),
            "{caption:?} is the start of {full:?} and names the view"
        );
    }
    // Position numbers, in list order.
    for n in 1..=4 {
        harness.get_by_label(&format!("Position {n}"));
    }
    // The header names the product, its SKU and its count.
    harness.get_by_label("SKU TRS-42");
    harness.get_by_label("4 images");
    assert!(
        harness
            .query_all_by_label("Trail Running Shoe")
            .next()
            .is_some(),
        "the product's name heads the grid"
    );
    // "N selected" once more than one image is.
    assert!(harness.query_by_label("2 selected").is_none());
    harness
        .get_by_label_contains("Image 1: Trail Running Shoe, view from the left")
        .click();
    harness.step();
    harness
        .get_by_label_contains("Image 3: Trail Running Shoe, view from the top")
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    harness.get_by_label("2 selected");
}

// -- finding 3: the layout jumps under the pointer ---------------------------------------------

#[test]
fn selecting_an_image_keeps_the_grid_columns_and_the_details_width() {
    let (_rig, mut harness) = Rig::lamp(8);
    open(&mut harness, "Lamp (8)", "Image 8: img-7");
    harness.step();
    let tiles = |h: &Harness<'_, ImageDeskApp>| -> Vec<egui::Rect> {
        (1..=8)
            .map(|n| {
                let thumbnail = if n == 1 { " (thumbnail)" } else { "" };
                rect_of(h, &format!("Image {n}: img-{}{thumbnail}", n - 1))
            })
            .collect()
    };
    let before = tiles(&harness);
    harness.get_by_label("Image 1: img-0 (thumbnail)").click();
    step_until(&mut harness, "the details show", |h| {
        h.query_by_label("Picture of the image").is_some()
    });
    harness.step();
    harness.step();
    let after = tiles(&harness);
    assert_eq!(before, after, "no tile moved when an image was selected");
}

#[test]
fn the_toolbar_keeps_each_label_on_the_line_of_its_field() {
    for width in [1280.0, 1024.0, 800.0] {
        let (_rig, mut harness) = Rig::new(
            vec![Seed {
                name: "Lamp",
                sku: "",
                descriptions: vec!["img-0".into()],
            }],
            egui::Vec2::new(width, 800.0),
        );
        open(&mut harness, "Lamp (1)", "Image 1: img-0 (thumbnail)");
        for label in ["Image URL", "File path"] {
            let field = harness
                .query_all_by_label(label)
                .find(|n| n.accesskit_node().role() == egui::accesskit::Role::TextInput)
                .unwrap()
                .rect();
            let text = harness
                .query_all_by_role(egui::accesskit::Role::Label)
                .find(|n| n.accesskit_node().value().as_deref() == Some(label))
                .unwrap()
                .rect();
            assert!(
                field.y_range().contains(text.center().y),
                "at {width} px, \"{label}\" {text:?} is on the line of its field {field:?}"
            );
            assert!(
                field.right() <= width,
                "at {width} px, {field:?} is in the window"
            );
        }
        for button in ["Add file", "Add from URL"] {
            let rect = rect_of(&harness, button);
            assert!(
                rect.right() <= width,
                "at {width} px, {button} {rect:?} is in the window"
            );
        }
    }
}

#[test]
fn an_empty_product_shows_a_drop_zone_whose_button_chooses_files() {
    let (_rig, mut harness) = Rig::lamp(1);
    open(&mut harness, "Lamp (1)", "Image 1: img-0 (thumbnail)");
    harness.get_by_label_contains("Chair (0)").click();
    step_until(&mut harness, "the drop zone", |h| {
        h.query_by_label_contains("Drop pictures here").is_some()
    });
    let buttons: Vec<_> = harness.query_all_by_label("Choose files…").collect();
    assert_eq!(buttons.len(), 2, "the tool bar's and the drop zone's");
    // The drop zone's is the lower one.
    let lowest = buttons
        .iter()
        .max_by(|a, b| a.rect().top().total_cmp(&b.rect().top()))
        .unwrap();
    lowest.click();
    step_until(
        &mut harness,
        "the same advice as the tool bar's button",
        |h| {
            h.state()
                .notices()
                .iter()
                .any(|n| n.contains("No file dialog appeared"))
        },
    );
}

// -- finding 4: drag feedback is thin ----------------------------------------------------------

/// Drags the tile labelled `from` and drops it at `to`, moving the pointer in steps.
fn drag_to(harness: &mut Harness<'_, ImageDeskApp>, from: &str, to: egui::Pos2) {
    let from = rect_of(harness, from).center();
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
}

/// A point over the left (`after` false) or right quarter of a tile's picture.
fn side_of(harness: &Harness<'_, ImageDeskApp>, tile: &str, after: bool) -> egui::Pos2 {
    let rect = rect_of(harness, tile);
    let x = if after {
        rect.right() - rect.width() / 4.0
    } else {
        rect.left() + rect.width() / 4.0
    };
    egui::pos2(x, rect.top() + rect.width() / 2.0)
}

#[test]
fn a_drop_lands_before_or_after_the_tile_by_the_side_of_the_pointer() {
    let (rig, mut harness) = Rig::lamp(3);
    open(&mut harness, "Lamp (3)", "Image 3: img-2");
    // The left half of the third tile: before it.
    let to = side_of(&harness, "Image 3: img-2", false);
    drag_to(&mut harness, "Image 1: img-0 (thumbnail)", to);
    wait_for_store(&rig, &mut harness, "img-0 before img-2", |d| {
        d == ["img-1", "img-0", "img-2"]
    });
    step_until(&mut harness, "the grid shows it", |h| {
        h.query_by_label("Image 2: img-0 (thumbnail)").is_some()
    });
    // The right half of the third tile: after it.
    let to = side_of(&harness, "Image 3: img-2", true);
    drag_to(&mut harness, "Image 1: img-1", to);
    wait_for_store(&rig, &mut harness, "img-1 last", |d| {
        d == ["img-0", "img-2", "img-1"]
    });
}

#[test]
fn dragging_a_selected_tile_moves_the_whole_selection_after_the_target() {
    let (rig, mut harness) = Rig::lamp(4);
    open(&mut harness, "Lamp (4)", "Image 4: img-3");
    harness.get_by_label("Image 1: img-0 (thumbnail)").click();
    harness.step();
    harness
        .get_by_label("Image 2: img-1")
        .click_modifiers(egui::Modifiers::COMMAND);
    harness.step();
    let to = side_of(&harness, "Image 4: img-3", true);
    drag_to(&mut harness, "Image 1: img-0 (thumbnail)", to);
    wait_for_store(&rig, &mut harness, "both at the end", |d| {
        d == ["img-2", "img-3", "img-0", "img-1"]
    });
}

#[test]
fn alt_arrows_move_the_selection_and_alt_home_puts_it_first() {
    let (rig, mut harness) = Rig::lamp(3);
    open(&mut harness, "Lamp (3)", "Image 3: img-2");
    harness.get_by_label("Image 1: img-0 (thumbnail)").click();
    harness.step();
    harness.key_press_modifiers(egui::Modifiers::ALT, egui::Key::ArrowRight);
    wait_for_store(&rig, &mut harness, "img-0 one place on", |d| {
        d == ["img-1", "img-0", "img-2"]
    });
    harness.key_press_modifiers(egui::Modifiers::ALT, egui::Key::ArrowRight);
    wait_for_store(&rig, &mut harness, "img-0 last", |d| {
        d == ["img-1", "img-2", "img-0"]
    });
    harness.key_press_modifiers(egui::Modifiers::ALT, egui::Key::ArrowLeft);
    wait_for_store(&rig, &mut harness, "img-0 one place back", |d| {
        d == ["img-1", "img-0", "img-2"]
    });
    harness.key_press_modifiers(egui::Modifiers::ALT, egui::Key::Home);
    wait_for_store(&rig, &mut harness, "img-0 first", |d| {
        d == ["img-0", "img-1", "img-2"]
    });
}

#[test]
fn move_to_first_in_a_tiles_menu_puts_it_first() {
    let (rig, mut harness) = Rig::lamp(3);
    open(&mut harness, "Lamp (3)", "Image 3: img-2");
    harness.get_by_label("Image 3: img-2").click_secondary();
    step_until(&mut harness, "the menu", |h| {
        h.query_by_label("Move to first").is_some()
    });
    harness.get_by_label("Move to first").click();
    wait_for_store(&rig, &mut harness, "img-2 first", |d| {
        d == ["img-2", "img-0", "img-1"]
    });
}

#[test]
fn holding_a_dragged_tile_at_the_grids_bottom_edge_scrolls_it() {
    let (_rig, mut harness) = Rig::lamp(30);
    open(&mut harness, "Lamp (30)", "Image 5: img-4");
    assert!(harness.query_by_label("Image 30: img-29").is_none());
    let from = rect_of(&harness, "Image 1: img-0 (thumbnail)").center();
    let grid = rect_of(&harness, "Image 1: img-0 (thumbnail)");
    harness.hover_at(from);
    harness.step();
    harness.drag_at(from);
    harness.step();
    // Below the grid's last visible row, in its column range.
    let edge = egui::pos2(grid.center().x, 800.0 - 40.0);
    for _ in 0..400 {
        harness.hover_at(edge);
        harness.step();
        if harness.query_by_label("Image 30: img-29").is_some() {
            return;
        }
    }
    panic!("the grid did not scroll to its last tile");
}
