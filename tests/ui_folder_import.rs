//! The "Import folder…" window (issue 16): a folder's pictures named by SKU are previewed as
//! "file → product, position" with the files left alone, "Apply" adds them after the product's
//! images in number order, and "Cancel" takes back those not sent yet. Driven headless by
//! egui_kittest against the real server and engine on loopback; what the store holds is read
//! over HTTP.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ui::{step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::api::{Image, ImageWrite, NewProduct};
use imagedesk::imaging::synthetic;
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

struct Rig {
    runtime: tokio::runtime::Runtime,
    store: TestStore,
    product: i64,
    engine: Arc<Engine>,
    folder: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Rig {
    /// A product "Desk lamp" with SKU "SKU" and one image, and a folder with SKU.jpg,
    /// SKU-2.jpg, sku_3.png and other.jpg.
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
        let (store, product, engine) = runtime.block_on(async {
            let store = start().await;
            let product = store
                .client
                .create_product(&NewProduct {
                    name: "Desk lamp".into(),
                    sku: "SKU".into(),
                })
                .await
                .unwrap()
                .id;
            let write = ImageWrite {
                image_file: Some(store.import_jpeg("existing.jpg", 1)),
                ..ImageWrite::default()
            };
            store
                .client
                .create_image(product, &write, None)
                .await
                .unwrap();
            let engine = Engine::open(config, client_for(&store.server.api_url()))
                .await
                .unwrap();
            (store, product, Arc::new(engine))
        });
        let folder = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: Vec<u8>| std::fs::write(folder.path().join(name), bytes);
        write("SKU.jpg", small_jpeg(21)).unwrap();
        write("SKU-2.jpg", small_jpeg(22)).unwrap();
        let png = synthetic::png(&image::DynamicImage::ImageRgb8(synthetic::photo(
            150, 100, 23,
        )));
        write("sku_3.png", png).unwrap();
        write("other.jpg", small_jpeg(24)).unwrap();
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
            product,
            engine,
            folder,
            _data: data,
        };
        (rig, harness)
    }

    fn server_images(&self) -> Vec<Image> {
        self.runtime
            .block_on(self.store.client.list_all_images(self.product))
            .unwrap()
    }

    /// The stems of the store's image files ("sku-2" for "…/sku-2__abc.jpg"), in its order.
    fn server_stems(&self) -> Vec<String> {
        self.server_images()
            .iter()
            .map(|i| {
                let name = i.image_file.rsplit('/').next().unwrap_or_default();
                name.split("__").next().unwrap_or_default().to_owned()
            })
            .collect()
    }

    /// Opens the window, types the folder and reads it; waits for the preview. Returns how
    /// many labels named the product before the preview (the product list's).
    fn preview(&self, harness: &mut Harness<'_, ImageDeskApp>) -> usize {
        step_until(harness, "the product is in the replica", |h| {
            h.query_all_by_label_contains("Desk lamp").next().is_some()
        });
        harness.get_by_label("Import folder…").click();
        step_until(harness, "the window", |h| {
            h.query_by_label("Folder").is_some()
        });
        harness.get_by_label("Folder").focus();
        harness.step();
        harness
            .get_by_label("Folder")
            .type_text(&self.folder.path().display().to_string());
        harness.step();
        let before = count(harness, "Desk lamp");
        harness.get_by_label("Read folder").click();
        step_until(harness, "the preview", |h| {
            h.query_by_label("Left alone").is_some()
        });
        // A window that just grew takes its size on the next frames; a click aims at where a
        // button was drawn.
        for _ in 0..3 {
            harness.step();
        }
        before
    }
}

fn count(harness: &Harness<'_, ImageDeskApp>, label: &str) -> usize {
    harness.query_all_by_label(label).count()
}

#[test]
fn a_folder_is_previewed_then_applied_after_the_products_images_in_number_order() {
    let (rig, mut harness) = Rig::new();
    let listed = rig.preview(&mut harness);
    // Three files go to the product, at positions 2, 3 and 4 (it has one image).
    for file in ["SKU.jpg", "SKU-2.jpg", "sku_3.png"] {
        assert!(harness.query_by_label(file).is_some(), "{file} is listed");
    }
    assert_eq!(
        count(&harness, "Desk lamp") - listed,
        3,
        "each planned row names the product"
    );
    for position in ["2", "3", "4"] {
        assert!(
            harness.query_by_label(position).is_some(),
            "position {position}"
        );
    }
    assert!(harness.query_by_label("other.jpg").is_some());
    assert!(
        harness.query_by_label("no product has this SKU").is_some(),
        "the file left alone says why"
    );
    assert_eq!(rig.server_images().len(), 1, "a preview adds nothing");

    harness.get_by_label("Apply").click();
    step_until(&mut harness, "the import under way", |h| {
        h.state().folder_import_progress().is_some()
    });
    step_until_store(&mut harness, "the three new pictures", || {
        rig.server_images().len() == 4
    });
    assert_eq!(
        rig.server_stems()[1..],
        ["sku", "sku-2", "sku-3"],
        "after the product's image, in number order"
    );
    step_until(&mut harness, "every row in the store", |h| {
        count(h, "in the store") == 3 && h.state().folder_import_progress() == Some((3, 3))
    });
    assert!(harness.query_by_label("Done.").is_some());
}

#[test]
fn cancel_takes_back_the_pictures_not_sent_and_leaves_the_outbox_empty() {
    let (rig, mut harness) = Rig::new();
    rig.preview(&mut harness);
    // Nothing goes out while the engine is paused: every add waits in the outbox.
    rig.engine.pause();
    harness.get_by_label("Apply").click();
    step_until(&mut harness, "the import under way", |h| {
        h.state().folder_import_progress().is_some()
    });
    step_until(&mut harness, "the three adds queued", |h| {
        count(h, "waiting to be sent") == 3
    });
    assert_eq!(
        rig.runtime.block_on(rig.engine.outbox()).unwrap().len(),
        3,
        "three creates wait"
    );
    harness.get_by_label("Cancel").click();
    step_until(&mut harness, "the three cancelled", |h| {
        count(h, "cancelled (not sent)") == 3
    });
    assert!(
        rig.runtime
            .block_on(rig.engine.outbox())
            .unwrap()
            .is_empty(),
        "the creates are gone from the outbox"
    );
    let local = rig
        .runtime
        .block_on(rig.engine.images(rig.product))
        .unwrap();
    assert_eq!(local.len(), 1, "the replica is back to the product's image");
    assert!(
        rig.runtime
            .block_on(rig.engine.recently_deleted())
            .unwrap()
            .is_empty(),
        "nothing is listed as deleted"
    );
    // Sending again sends nothing: the store keeps its one image.
    rig.engine.resume();
    rig.runtime
        .block_on(rig.engine.caught_up(Duration::from_secs(10)));
    assert_eq!(rig.server_images().len(), 1);
    assert_eq!(harness.state().folder_import_progress(), Some((0, 3)));
}
