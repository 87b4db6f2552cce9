//! Helpers of the egui_kittest tests (ui_app, ui_edits, ui_grid): stepping the app until
//! something shows, and a store seeded with numbered images.

use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::ImageWrite;
use imagedesk::ui::ImageDeskApp;

use super::TestStore;

/// Adds `n` images described "img-0" … to `product`, in order.
pub async fn seed(store: &TestStore, product: i64, n: usize) {
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
pub fn step_until(
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

/// Steps the UI until `done` holds of the store (read over HTTP between steps).
pub fn step_until_store(
    harness: &mut Harness<'_, ImageDeskApp>,
    what: &str,
    done: impl Fn() -> bool,
) {
    for _ in 0..300 {
        harness.step();
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting until the store shows {what}");
}

/// Opens the product listed as `listed` (e.g. "Lamp (3)") and waits for the tile `last`.
pub fn open(harness: &mut Harness<'_, ImageDeskApp>, listed: &str, last: &str) {
    step_until(harness, "the products are listed", |h| {
        h.query_by_label_contains(listed).is_some()
    });
    harness.get_by_label_contains(listed).click();
    step_until(harness, "the tiles are drawn", |h| {
        h.query_by_label(last).is_some()
    });
}

/// Opens the app on the "Lamp" product (three images) and waits for its tiles.
pub fn open_lamp(harness: &mut Harness<'_, ImageDeskApp>) {
    open(harness, "Lamp (3)", "Image 3: img-2");
}
