//! The upload bar (issue 15): while a file upload is in flight the status bar shows it, nothing
//! else in the window moves for it, and it leaves when the upload is done. The upload goes to
//! the real server on loopback; the test holds the store's answer back until it has looked, so
//! that nothing depends on how fast the upload runs.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::ui::{open_lamp, seed, step_until, step_until_store};
use common::*;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use imagedesk::api::{
    Client, Created, Image, ImageWrite, Listing, Product, Progress, UploadRoute, UploadSource,
};
use imagedesk::sync::{Engine, EngineConfig, Remote, RemoteFuture};
use imagedesk::ui::{Backend, ImageDeskApp};
use tokio::sync::Semaphore;

/// The test store's HTTP client, except that an upload's answer (sent, progress reported, the
/// store has the image) reaches the engine only once the test lets it through.
struct HeldAnswers {
    client: Client,
    let_through: Arc<Semaphore>,
}

impl Remote for HeldAnswers {
    fn list_all_products(&self) -> RemoteFuture<'_, Listing<Product>> {
        Remote::list_all_products(&self.client)
    }
    fn list_all_images(&self, product_id: i64) -> RemoteFuture<'_, Listing<Image>> {
        Remote::list_all_images(&self.client, product_id)
    }
    fn get_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, Image> {
        Remote::get_image(&self.client, product_id, image_id)
    }
    fn create_image<'a>(
        &'a self,
        product_id: i64,
        write: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
    ) -> RemoteFuture<'a, Created> {
        Remote::create_image(&self.client, product_id, write, idempotency_key)
    }
    fn upload_image<'a>(
        &'a self,
        product_id: i64,
        source: &'a UploadSource,
        fields: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
        progress: Option<Progress>,
    ) -> RemoteFuture<'a, Created> {
        Box::pin(async move {
            let created = Remote::upload_image(
                &self.client,
                product_id,
                source,
                fields,
                idempotency_key,
                progress,
            )
            .await;
            let _permit = self.let_through.acquire().await;
            created
        })
    }
    fn upload_route(&self, product_id: i64) -> RemoteFuture<'_, UploadRoute> {
        Remote::upload_route(&self.client, product_id)
    }
    fn probe(&self) -> RemoteFuture<'_, ()> {
        Remote::probe(&self.client)
    }
    fn update_image<'a>(
        &'a self,
        product_id: i64,
        image_id: i64,
        write: &'a ImageWrite,
    ) -> RemoteFuture<'a, Image> {
        Remote::update_image(&self.client, product_id, image_id, write)
    }
    fn delete_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, ()> {
        Remote::delete_image(&self.client, product_id, image_id)
    }
    fn delete_all_images(&self, product_id: i64) -> RemoteFuture<'_, ()> {
        Remote::delete_all_images(&self.client, product_id)
    }
    fn count_store_images(&self) -> RemoteFuture<'_, u64> {
        Remote::count_store_images(&self.client)
    }
    fn fetch_asset<'a>(&'a self, url: &'a str, max_bytes: usize) -> RemoteFuture<'a, Bytes> {
        Remote::fetch_asset(&self.client, url, max_bytes)
    }
}

/// The upload bar, when it shows: its label and how far it is (percent).
fn upload_bar(harness: &Harness<'_, ImageDeskApp>) -> Option<(String, f64)> {
    let bar = harness.query_by_label_contains("Uploading")?;
    let node = bar.accesskit_node();
    Some((
        node.label().unwrap_or_default(),
        node.numeric_value().unwrap_or(-1.0),
    ))
}

#[test]
fn the_upload_bar_shows_while_a_file_uploads_moves_nothing_and_leaves_when_done() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::in_dir(data.path().join("replica"));
    config.backoff_base = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(300);
    let let_through = Arc::new(Semaphore::new(0));
    let (store, product, engine) = runtime.block_on(async {
        let store = start().await;
        let product = store.product("Lamp").await;
        seed(&store, product, 3).await;
        let remote = HeldAnswers {
            client: client_for(&store.server.api_url()),
            let_through: let_through.clone(),
        };
        let engine = Engine::open_with(config, Arc::new(remote)).await.unwrap();
        (store, product, engine)
    });
    let backend = Backend::new(engine, runtime.handle().clone()).with_data_dir(data.path());
    let app = ImageDeskApp::new(backend).with_delete_grace(Duration::from_millis(50));
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(|ui, app: &mut ImageDeskApp| app.show_ui(ui), app);
    let server_images = || {
        runtime
            .block_on(store.client.list_all_images(product))
            .unwrap()
    };

    open_lamp(&mut harness);
    step_until(&mut harness, "the store's count is read", |h| {
        h.query_by_label("0 pending").is_some()
    });
    assert!(upload_bar(&harness).is_none(), "no bar before an upload");
    let tile = harness.get_by_label("Image 1: img-0 (thumbnail)").rect();
    let status = harness.get_by_label("0 pending").rect();

    // A photo of some size, so that the upload reports its progress.
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("big lamp.jpg");
    let photo = imagedesk::imaging::synthetic::jpeg(
        &imagedesk::imaging::synthetic::photo(1600, 1200, 7),
        92,
        false,
        None,
    );
    let kib = photo.len() / 1024;
    std::fs::write(&path, photo).unwrap();
    harness.get_by_label("File path").focus();
    harness.step();
    harness
        .get_by_label("File path")
        .type_text(&path.display().to_string());
    harness.step();
    harness.get_by_label("Add file").click();

    step_until(&mut harness, "the upload bar shows", |h| {
        upload_bar(h).is_some_and(|(_, done)| done > 0.0)
    });
    let (label, done) = upload_bar(&harness).unwrap();
    assert_eq!(label, format!("Uploading {kib} KiB"));
    assert!((0.0..=100.0).contains(&done), "{done}");
    assert_eq!(
        harness.get_by_label("Image 1: img-0 (thumbnail)").rect(),
        tile,
        "the grid stays where it was"
    );
    let status_now = harness.get_by_label("1 pending").rect();
    assert_eq!(
        (status_now.top(), status_now.bottom()),
        (status.top(), status.bottom()),
        "the status bar keeps its height"
    );

    let_through.add_permits(1);
    step_until_store(&mut harness, "the store has the picture", || {
        server_images().len() == 4
    });
    step_until(&mut harness, "the bar leaves", |h| {
        upload_bar(h).is_none() && h.query_by_label("0 pending").is_some()
    });
    assert_eq!(
        harness.get_by_label("Image 1: img-0 (thumbnail)").rect(),
        tile,
        "nor does the grid move when the bar leaves"
    );
}
