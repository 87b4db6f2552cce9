//! The app's catalogue CSV (issue 16): "Export catalogue CSV…" writes what `imagedesk export`
//! writes; "Import CSV…" previews every edit of a file in words — or its bad rows by line, with
//! nothing to apply — and Apply queues exactly those edits; files dropped on the window that
//! are named by another product's SKU open the folder-import preview. Driven headless by
//! egui_kittest against the real server and engine on loopback; what the store holds is read
//! over HTTP (and its `/metrics`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ui::{step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::api::{Image, ImageWrite, NewProduct};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    /// "Mug" (SKU MUG), three images "img-0" … "img-2".
    mug: i64,
    /// "Desk lamp" (SKU LAMP), one image.
    lamp: i64,
    engine: Arc<Engine>,
    files: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Rig {
    fn new() -> (Rig, Harness<'static, ImageDeskApp>) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut config = EngineConfig::in_dir(data.path().join("replica"));
        config.backoff_base = Duration::from_millis(50);
        config.backoff_max = Duration::from_millis(300);
        let (store, mug, lamp, engine) = runtime.block_on(async {
            let store = start().await;
            let product = |name: &str, sku: &str| {
                let client = store.client.clone();
                let new = NewProduct {
                    name: name.into(),
                    sku: sku.into(),
                };
                async move { client.create_product(&new).await.unwrap().id }
            };
            let mug = product("Mug", "MUG").await;
            let lamp = product("Desk lamp", "LAMP").await;
            common::ui::seed(&store, mug, 3).await;
            let write = ImageWrite {
                image_file: Some(store.import_jpeg("lamp.jpg", 9)),
                description: Some("lamp".into()),
                ..ImageWrite::default()
            };
            store.client.create_image(lamp, &write, None).await.unwrap();
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, mug, lamp, Arc::new(engine))
        });
        let backend =
            Backend::new(engine.clone(), runtime.handle().clone()).with_data_dir(data.path());
        let app = ImageDeskApp::new(backend);
        let harness = Harness::builder()
            .with_size(egui::Vec2::new(1280.0, 800.0))
            .with_step_dt(1.0 / 60.0)
            .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
        let rig = Rig {
            runtime,
            store,
            mug,
            lamp,
            engine,
            files: tempfile::tempdir().unwrap(),
            _data: data,
        };
        (rig, harness)
    }

    fn server_images(&self, product: i64) -> Vec<Image> {
        self.runtime
            .block_on(self.store.client.list_all_images(product))
            .unwrap()
    }

    fn puts(&self) -> u64 {
        self.runtime.block_on(requests_counted(
            &self.store.server.base_url(),
            &["method=\"PUT\"", "route=\"/api"],
        ))
    }

    /// What `imagedesk export` writes for the store as it is (SPEC §3's columns, by product
    /// id then the product's order, the original's address as the source).
    fn expected_export(&self) -> String {
        let mut csv =
            "product_id,sku,image_id,sort_order,is_thumbnail,description,source\r\n".to_owned();
        for (product, sku) in [(self.mug, "MUG"), (self.lamp, "LAMP")] {
            for image in self.server_images(product) {
                csv.push_str(&format!(
                    "{product},{sku},{},{},{},{},{}/product_images/{}\r\n",
                    image.id,
                    image.sort_order,
                    image.is_thumbnail,
                    image.description,
                    self.store.server.base_url(),
                    image.image_file
                ));
            }
        }
        csv
    }

    /// Waits until the replica has both products' images (the list shows their counts).
    fn wait_for_catalogue(&self, harness: &mut Harness<'_, ImageDeskApp>) {
        step_until(harness, "both products are listed with their images", |h| {
            h.query_by_label_contains("Mug (3)").is_some()
                && h.query_by_label_contains("Desk lamp (1)").is_some()
        });
    }
}

fn type_path(harness: &mut Harness<'_, ImageDeskApp>, path: &std::path::Path) {
    step_until(harness, "the CSV window", |h| {
        h.query_by_label("CSV file").is_some()
    });
    harness.get_by_label("CSV file").focus();
    harness.step();
    harness
        .get_by_label("CSV file")
        .type_text(&path.display().to_string());
    harness.step();
}

fn settle(harness: &mut Harness<'_, ImageDeskApp>) {
    // A window that just grew takes its size on the next frames; a click aims at where a
    // button was drawn.
    for _ in 0..3 {
        harness.step();
    }
}

#[test]
fn an_exported_catalogue_with_one_description_changed_imports_as_exactly_one_put() {
    let (rig, mut harness) = Rig::new();
    rig.wait_for_catalogue(&mut harness);
    let file = rig.files.path().join("catalogue.csv");

    // Export: Enter in the path field writes the file.
    harness.get_by_label("Export catalogue CSV…").click();
    type_path(&mut harness, &file);
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the export is written", |h| {
        h.state().csv_stage() == "exported"
    });
    let exported = std::fs::read_to_string(&file).unwrap();
    assert_eq!(exported, rig.expected_export());
    assert_eq!(exported.lines().count(), 5, "a header and four images");
    assert!(
        harness
            .state()
            .notices()
            .iter()
            .any(|n| n.starts_with("Exported 4 images of 2 products to ")),
        "{:?}",
        harness.state().notices()
    );

    // The same file, imported as it is: no change.
    harness.get_by_label("Import CSV…").click();
    settle(&mut harness);
    harness.get_by_label("Read and preview").click();
    step_until(&mut harness, "the preview", |h| {
        h.state().csv_stage() == "preview"
    });
    assert_eq!(harness.state().csv_preview(), Some(vec![]));
    assert!(harness.get_by_label("Apply").accesskit_node().is_disabled());

    // One description changed, quoted as a spreadsheet writes it.
    let ids: Vec<i64> = rig.server_images(rig.mug).iter().map(|i| i.id).collect();
    std::fs::write(
        &file,
        exported.replace("img-1", "\"Red mug, \"\"side\"\" view\""),
    )
    .unwrap();
    harness.get_by_label("Read and preview").click();
    step_until(&mut harness, "the new preview", |h| {
        h.state().csv_stage() == "preview"
            && h.state().csv_preview().is_some_and(|rows| !rows.is_empty())
    });
    settle(&mut harness);
    assert_eq!(
        harness.state().csv_preview(),
        Some(vec![(
            "Mug (MUG)".to_owned(),
            format!("picture 2 (image {})", ids[1]),
            "description: “img-1” becomes “Red mug, \"side\" view”".to_owned(),
        )]),
        "exactly one edit, in words"
    );
    assert!(
        harness
            .query_by_label("1 edit from 4 rows: 1 description.")
            .is_some()
    );
    assert!(
        harness
            .query_by_label("description: “img-1” becomes “Red mug, \"side\" view”")
            .is_some(),
        "the preview shows the change"
    );
    rig.runtime
        .block_on(rig.engine.settled(Duration::from_secs(20)));
    let before = rig.puts();
    assert!(
        rig.runtime
            .block_on(rig.engine.outbox())
            .unwrap()
            .is_empty(),
        "a preview queues nothing"
    );

    harness.get_by_label("Apply").click();
    step_until(&mut harness, "the edits are queued", |h| {
        h.state().csv_stage() == "applied"
    });
    step_until_store(&mut harness, "the new description", || {
        rig.server_images(rig.mug)[1].description == "Red mug, \"side\" view"
    });
    let status = rig
        .runtime
        .block_on(rig.engine.settled(Duration::from_secs(20)));
    assert_eq!((status.pending, status.failed), (0, 0), "{status:?}");
    assert_eq!(rig.puts(), before + 1, "exactly one PUT");
    let descriptions: Vec<String> = rig
        .server_images(rig.mug)
        .into_iter()
        .map(|i| i.description)
        .collect();
    assert_eq!(descriptions, ["img-0", "Red mug, \"side\" view", "img-2"]);
    let local = rig.runtime.block_on(rig.engine.images(rig.mug)).unwrap();
    assert_eq!(
        local[1].description, "Red mug, \"side\" view",
        "the replica"
    );
}

#[test]
fn a_file_with_a_bad_row_names_its_line_and_offers_no_apply() {
    let (rig, mut harness) = Rig::new();
    rig.wait_for_catalogue(&mut harness);
    let ids: Vec<i64> = rig.server_images(rig.mug).iter().map(|i| i.id).collect();
    let file = rig.files.path().join("bad.csv");
    std::fs::write(
        &file,
        format!(
            "product_id,image_id,description\n{mug},{},changed\n{mug},999999,x\n",
            ids[0],
            mug = rig.mug
        ),
    )
    .unwrap();

    harness.get_by_label("Import CSV…").click();
    type_path(&mut harness, &file);
    // Enter in the path field reads and plans the file.
    harness.key_press(egui::Key::Enter);
    step_until(&mut harness, "the file's problems", |h| {
        h.state().csv_stage() == "problems"
    });
    settle(&mut harness);
    assert!(harness.query_by_label("line 3").is_some(), "the line");
    assert!(
        harness
            .query_by_label_contains("image 999999 is not an image of product")
            .is_some(),
        "the reason"
    );
    assert!(
        harness.query_by_label("Apply").is_none(),
        "nothing to apply"
    );
    assert!(harness.state().csv_preview().is_none());
    assert!(
        rig.runtime
            .block_on(rig.engine.outbox())
            .unwrap()
            .is_empty(),
        "nothing queued"
    );
    assert_eq!(rig.server_images(rig.mug)[0].description, "img-0");

    // Esc closes the window.
    harness.key_press(egui::Key::Escape);
    step_until(&mut harness, "the window closed", |h| {
        h.query_by_label("CSV file").is_none()
    });
}

/// A file dropped on the window from the file manager.
#[derive(Debug)]
struct DroppedPath(std::path::PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

/// The stems of a product's image files in the store ("lamp-2" for "…/lamp-2__abc.jpg").
fn stems(images: &[Image]) -> Vec<String> {
    images
        .iter()
        .map(|i| {
            let name = i.image_file.rsplit('/').next().unwrap_or_default();
            name.split("__").next().unwrap_or_default().to_owned()
        })
        .collect()
}

#[test]
fn files_dropped_on_one_product_but_named_by_another_ones_sku_are_previewed_then_added_there() {
    let (rig, mut harness) = Rig::new();
    rig.wait_for_catalogue(&mut harness);
    harness.get_by_label_contains("Mug (3)").click();
    step_until(&mut harness, "the mug's tiles", |h| {
        h.query_by_label("Image 3: img-2").is_some()
    });
    for (name, seed) in [("LAMP.jpg", 31), ("lamp-2.jpg", 32), ("holiday.jpg", 33)] {
        std::fs::write(rig.files.path().join(name), small_jpeg(seed)).unwrap();
    }
    for name in ["holiday.jpg", "lamp-2.jpg", "LAMP.jpg"] {
        harness
            .input_mut()
            .dropped_files
            .push(Arc::new(DroppedPath(rig.files.path().join(name))));
    }
    harness.step();
    step_until(&mut harness, "the preview", |h| {
        h.query_by_label("LAMP.jpg").is_some() && h.query_by_label("Apply").is_some()
    });
    settle(&mut harness);
    assert!(
        harness
            .query_by_label_contains("the 1 named by none go to Mug, the product shown")
            .is_some(),
        "the window says the rule"
    );
    assert!(harness.query_by_label("lamp-2.jpg").is_some());
    assert!(harness.query_by_label("holiday.jpg").is_some());
    assert!(harness.query_by_label("(dropped here, no SKU)").is_some());
    assert_eq!(
        rig.server_images(rig.lamp).len(),
        1,
        "a preview adds nothing"
    );
    assert!(
        rig.runtime
            .block_on(rig.engine.outbox())
            .unwrap()
            .is_empty(),
        "nothing queued before Apply"
    );

    harness.get_by_label("Apply").click();
    step_until_store(&mut harness, "the new pictures", || {
        rig.server_images(rig.lamp).len() == 3 && rig.server_images(rig.mug).len() == 4
    });
    assert_eq!(
        stems(&rig.server_images(rig.lamp))[1..],
        ["lamp", "lamp-2"],
        "after the lamp's image, in number order"
    );
    assert_eq!(stems(&rig.server_images(rig.mug))[3], "holiday");
}
