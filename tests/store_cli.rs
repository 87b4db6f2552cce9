//! The store commands (`imagedesk add`, `describe`, `thumbnail`, `reorder`, `delete`, `sync`):
//! the real binary against a real server on loopback, checking what the store holds and the
//! exit statuses scripts rely on (0 done, 1 refused, 2 bad usage, 3 unreachable).

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::cli::*;
use common::*;

/// Asserts the exit status and that the output says `says` (showing all of it when not).
fn assert_exit(output: &Output, status: i32, says: &str) {
    assert_eq!(code(output), status, "{}", text(output));
    assert!(text(output).contains(says), "{}", text(output));
}

/// Where most tests start: a store with a product of `n` images (SKU `sku`), and a CLI with a
/// data directory of the test's own. Returns the store, its API root, the product, its images'
/// ids and the CLI (a tuple of distinct types, so that no two can be swapped unnoticed).
async fn set_up(sku: &str, n: u64) -> (TestStore, String, i64, Vec<i64>, Cli) {
    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, sku, n).await;
    (store, api, product, ids, Cli::new())
}

/// An image as the store holds it now.
async fn stored_image(store: &TestStore, product: i64, id: i64) -> imagedesk::api::Image {
    store.client.get_image(product, id).await.unwrap()
}

async fn order(store: &TestStore, product: i64) -> Vec<i64> {
    store.images(product).await.iter().map(|i| i.id).collect()
}

/// Requests the server answered on `/api/…`, from its metrics.
async fn api_requests(store: &TestStore) -> u64 {
    requests_counted(&store.server.base_url(), &["route=\"/api"]).await
}

fn jpeg_file(dir: &Path, name: &str, seed: u64) -> String {
    let path = dir.join(name);
    std::fs::write(&path, small_jpeg(seed)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_thumbnail_reorder_delete_reach_the_store() {
    let (store, api, product, ids, cli) = set_up("MUG", 4).await;
    let p = product.to_string();
    let id = |i: usize| ids[i].to_string();

    let out = cli
        .on(&api, &["describe", "sku:MUG", &id(1), "Red mug, side"])
        .await;
    assert_exit(&out, 0, "sent: description");
    let image = stored_image(&store, product, ids[1]).await;
    assert_eq!(image.description, "Red mug, side");

    let out = cli.on(&api, &["thumbnail", &p, &id(2)]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stored_image(&store, product, ids[2]).await.is_thumbnail);

    let list = format!("{},{}", ids[3], ids[1]);
    let out = cli.on(&api, &["reorder", &p, &list]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        order(&store, product).await,
        vec![ids[3], ids[1], ids[0], ids[2]],
        "the listed first, the rest in their order"
    );

    let out = cli.on(&api, &["delete", &p, &id(0), &id(3)]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(order(&store, product).await, vec![ids[1], ids[2]]);

    let out = cli.on(&api, &["delete", "sku:MUG", "--all"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(order(&store, product).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn add_files_in_order_with_description_thumbnail_and_position() {
    let (store, api, product, existing, cli) = set_up("CUP", 2).await;
    let p = product.to_string();
    let files = tempfile::tempdir().unwrap();
    let a = jpeg_file(files.path(), "alpha.jpg", 11);
    let b = jpeg_file(files.path(), "beta.jpg", 12);
    let c = jpeg_file(files.path(), "gamma.jpg", 13);
    let out = cli
        .on(
            &api,
            &[
                "add",
                &p,
                &a,
                &b,
                &c,
                "--description",
                "new",
                "--thumbnail",
                "--position",
                "2",
            ],
        )
        .await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    let images = store.client.list_all_images(product).await.unwrap();
    assert_eq!(images.len(), 5);
    assert_eq!(images[0].id, existing[0]);
    assert_eq!(images[4].id, existing[1]);
    let added = &images[1..4];
    for (image, name) in added.iter().zip(["alpha", "beta", "gamma"]) {
        assert!(image.image_file.contains(name), "{}", image.image_file);
        assert_eq!(image.description, "new");
    }
    assert!(added[0].is_thumbnail, "the first added is the thumbnail");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("image {}: {a}", added[0].id)),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_queues_without_the_store_then_sync_sends_when_it_is_back() {
    let (store, api, product, ids, cli) = set_up("VASE", 2).await;
    let p = product.to_string();
    let img = ids[0].to_string();

    // Online once, so that the replica knows the product.
    let out = cli.on(&api, &["describe", &p, &img, "first"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));

    let before = api_requests(&store).await;
    let out = cli
        .on(&api, &["describe", &p, &img, "queued offline", "--offline"])
        .await;
    assert_exit(&out, 0, "queued: description");
    assert_eq!(
        api_requests(&store).await,
        before,
        "--offline does not contact the store"
    );
    assert_eq!(
        stored_image(&store, product, ids[0]).await.description,
        "first"
    );

    // The store goes away: sync keeps the edit and says so with status 3.
    let stopped = store.stop().await;
    let out = cli.on(&api, &["sync", "--timeout", "3"]).await;
    assert_exit(&out, 3, "1 edits wait in the queue");

    // Back on the same address: sync sends it.
    let store = stopped.start().await;
    let out = cli.on(&api, &["sync", "--timeout", "30"]).await;
    assert_exit(&out, 0, "synced: 1 queued edits sent");
    assert_eq!(
        stored_image(&store, product, ids[0]).await.description,
        "queued offline"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_against_a_closed_port_exits_3_not_0() {
    // A port nothing listens on (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cli = Cli::new();
    let api = format!("http://127.0.0.1:{port}/api/v2");
    let out = cli.on(&api, &["sync", "--timeout", "2"]).await;
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(!text(&out).contains("synced"), "{}", text(&out));

    // The app's flags before the command name the store too (not the embedded one).
    let out = cli.run(&["--api", &api, "sync", "--timeout", "2"]).await;
    assert_eq!(code(&out), 3, "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_names_and_bad_arguments_exit_2() {
    let (store, api, product, ids, cli) = set_up("BOWL", 1).await;
    let p = product.to_string();

    let out = cli.on(&api, &["describe", &p, "999999", "x"]).await;
    assert_exit(&out, 2, "image 999999 is not an image of product");

    let out = cli.on(&api, &["thumbnail", "sku:NOPE", "1"]).await;
    assert_exit(&out, 2, "SKU 'NOPE'");

    let list = format!("{0},{0}", ids[0]);
    let out = cli.on(&api, &["reorder", &p, &list]).await;
    assert_exit(&out, 2, "listed twice");

    let out = cli.on(&api, &["delete", "sku:", "1"]).await;
    assert_eq!(code(&out), 2, "{}", text(&out));

    // All or nothing: the good file queued before the missing one is taken back.
    let files = tempfile::tempdir().unwrap();
    let good = jpeg_file(files.path(), "good.jpg", 5);
    let out = cli
        .on(&api, &["add", &p, &good, "/nonexistent/picture.jpg"])
        .await;
    assert_eq!(code(&out), 2, "{}", text(&out));
    let out = cli.on(&api, &["sync", "--timeout", "20"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(order(&store, product).await, ids, "nothing was added");

    let out = cli
        .run(&["describe", &p, "1", "x", "--store", "Nope"])
        .await;
    assert_exit(&out, 2, "no store named 'Nope'");

    // Offline, an image the replica has never seen is a usage error that says what to do.
    let fresh = Cli::new();
    let img = ids[0].to_string();
    let out = fresh
        .on(&api, &["describe", &p, &img, "x", "--offline"])
        .await;
    assert_exit(&out, 2, "imagedesk sync");

    assert_eq!(
        stored_image(&store, product, ids[0]).await.description,
        "picture 0",
        "nothing was changed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_the_store_refuses_exits_1_with_its_reason() {
    // This store does not download from loopback addresses, so it refuses the create.
    let (store, api, product, _, cli) = set_up("LAMP", 1).await;
    let p = product.to_string();
    let out = cli
        .on(
            &api,
            &["add", &p, "http://127.0.0.1:9/lamp.jpg", "--timeout", "30"],
        )
        .await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused: edit #"), "{stderr}");
    assert!(stderr.contains("add image"), "{stderr}");
    assert_eq!(order(&store, product).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_saved_in_the_app_by_name() {
    let (store, api, product, ids, cli) = set_up("CHAIR", 2).await;
    // As the app saves them: the list in eframe's RON storage, the token in a file of its own.
    let profiles = serde_json::json!([{ "name": "Shop", "api_url": api, "user": null }]);
    let mut kv = std::collections::HashMap::new();
    kv.insert("imagedesk.profiles".to_owned(), profiles.to_string());
    let ron = ron::ser::to_string_pretty(&kv, ron::ser::PrettyConfig::default()).unwrap();
    std::fs::write(cli.data.path().join("app.ron"), ron).unwrap();
    let token = imagedesk::ui::profiles::token_path(cli.data.path(), &api);
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    std::fs::write(&token, TOKEN).unwrap();

    let out = cli
        .run(&[
            "thumbnail",
            &product.to_string(),
            &ids[1].to_string(),
            "--store",
            "Shop",
        ])
        .await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stored_image(&store, product, ids[1]).await.is_thumbnail);
    // The app's own replica of that store was used.
    let replica = imagedesk::desktop::replica_dir(cli.data.path(), &api);
    assert!(replica.join("replica.sqlite").exists(), "{replica:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_store_keeps_its_address_and_serves_the_commands() {
    use imagedesk::desktop::{CONNECTION_FILE, EmbeddedStore};

    let cli = Cli::new();
    let first = EmbeddedStore::start(cli.data.path()).await.unwrap();
    let url = first.address.api_url.clone();
    let client = client_with(&first.address.api_url, &first.address.token);
    let product = client.list_all_products().await.unwrap()[0].id;
    let image = client.list_all_images(product).await.unwrap()[0].id;
    first.server.shutdown().await.unwrap();

    let again = EmbeddedStore::start(cli.data.path()).await.unwrap();
    assert_eq!(again.address.api_url, url, "the same port as last time");
    assert_ne!(again.address.token, first.address.token);

    // The app is "running": its connection file names this store, and the command uses it.
    let connection = serde_json::json!({ "api_url": url, "token": again.address.token });
    std::fs::write(
        cli.data.path().join(CONNECTION_FILE),
        connection.to_string(),
    )
    .unwrap();
    describe_with_no_store_named(&cli, product, image, "via app").await;
    assert_eq!(
        description_at(&url, &again.address.token, product, image).await,
        "via app"
    );
    again.server.shutdown().await.unwrap();

    // No app: the command starts the embedded store itself, on the remembered port.
    describe_with_no_store_named(&cli, product, image, "no app").await;
    let last = EmbeddedStore::start(cli.data.path()).await.unwrap();
    assert_eq!(last.address.api_url, url);
    assert_eq!(
        description_at(&url, &last.address.token, product, image).await,
        "no app"
    );
    last.server.shutdown().await.unwrap();
}

fn client_with(api_url: &str, token: &str) -> imagedesk::api::Client {
    imagedesk::api::Client::new(api_url, imagedesk::api::Credentials::Token(token.into())).unwrap()
}

/// `imagedesk describe` with neither `--api` nor `--store`: the command finds the store itself
/// (the running app's, else the embedded one). It must exit 0.
async fn describe_with_no_store_named(cli: &Cli, product: i64, image: i64, description: &str) {
    let (product, image) = (product.to_string(), image.to_string());
    let out = cli.run(&["describe", &product, &image, description]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
}

/// An image's description on the store at `api_url`, read with `token`.
async fn description_at(api_url: &str, token: &str, product: i64, image: i64) -> String {
    let client = client_with(api_url, token);
    client.get_image(product, image).await.unwrap().description
}

// -- against a BigCommerce-like store: keys ignored, no multipart on v2, faults ----------------

/// A `--compat bc-v2` store that loses answers and connections (`--faults SEED`), over data in
/// which a product with SKU `sku` already exists (made before the faults, so the test's own
/// set-up is not at their mercy). Returns the store, its product, and how to reopen the data
/// without faults to check the outcome.
async fn faulty_bc_store(sku: &str, seed: u64) -> (TestStore, String, i64) {
    let clean = start_with(bc_v2).await;
    let (product, _) = product_with_images(&clean, sku, 0).await;
    let store = clean
        .stop()
        .await
        .start_with(|c| {
            bc_v2(c);
            faults(c, seed, 20);
        })
        .await;
    let api = store.server.api_url();
    (store, api, product)
}

/// The images' stored names, read once the faults are gone (same data, same address).
async fn stored_names(store: TestStore, product: i64) -> Vec<String> {
    let clean = store.stop().await.start_with(bc_v2).await;
    let names = clean
        .images(product)
        .await
        .into_iter()
        .map(|i| i.image_file)
        .collect();
    clean.server.shutdown().await.unwrap();
    names
}

/// `n` pictures `{prefix}-01.jpg`… (seeds from `first_seed` on) in a directory of their own:
/// the directory (the files last as long as it), their stems and their paths.
fn numbered_jpegs(
    prefix: &str,
    n: usize,
    first_seed: u64,
) -> (tempfile::TempDir, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let stems: Vec<String> = (1..=n).map(|i| format!("{prefix}-{i:02}")).collect();
    let paths = stems
        .iter()
        .zip(first_seed..)
        .map(|(stem, seed)| jpeg_file(dir.path(), &format!("{stem}.jpg"), seed))
        .collect();
    (dir, stems, paths)
}

/// Runs `sync` until it exits 0 (each run sends what it can before a fault stops a round).
async fn sync_until_done(cli: &Cli, api: &str) {
    for _ in 0..8 {
        let out = cli
            .on(api, &["sync", "--timeout", "20", "--landing-window", "1"])
            .await;
        match code(&out) {
            0 => return,
            3 => continue,
            _ => panic!("{}", text(&out)),
        }
    }
    panic!("sync did not get every edit to the store");
}

fn assert_each_once(names: &[String], stems: &[String]) {
    for stem in stems {
        let copies = names
            .iter()
            .filter(|n| n.contains(&format!("/{stem}__")))
            .count();
        assert_eq!(
            copies, 1,
            "{stem} is on the store {copies} times: {names:?}"
        );
    }
    assert_eq!(names.len(), stems.len(), "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn add_to_a_faulty_bc_store_lands_each_picture_once() {
    let (store, api, product) = faulty_bc_store("DESK", 7).await;
    let (_files, stems, paths) = numbered_jpegs("desk", 12, 100);
    let cli = Cli::new();
    let mut args = vec!["add", "sku:DESK"];
    args.extend(paths.iter().map(String::as_str));
    args.extend(["--timeout", "30"]);
    // 3 when faults kept some creates from landing within the timeout: they wait in the queue.
    let out = cli.on(&api, &args).await;
    assert!(matches!(code(&out), 0 | 3), "{}", text(&out));
    sync_until_done(&cli, &api).await;
    assert_each_once(&stored_names(store, product).await, &stems);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_while_creates_are_in_flight_then_sync_lands_each_once() {
    let (store, api, product) = faulty_bc_store("SOFA", 11).await;
    let (_files, stems, paths) = numbered_jpegs("sofa", 20, 200);
    let cli = Cli::new();
    let replica = cli.replica();
    let mut child = tokio::process::Command::new(binary())
        .arg("add")
        .arg(product.to_string())
        .args(&paths)
        .args(["--api", &api, "--replica-dir", replica.to_str().unwrap()])
        .env("IMAGEDESK_DATA_DIR", cli.data.path())
        .env("IMAGEDESK_TOKEN", TOKEN)
        .env("IMAGEDESK_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Kill it once the store holds at least one of them: creates are then in flight.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no create reached the store"
        );
        if let Ok(images) = store.client.list_all_images(product).await
            && !images.is_empty()
        {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("add ended before the kill: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();

    sync_until_done(&cli, &api).await;
    assert_each_once(&stored_names(store, product).await, &stems);
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_records_are_reported_with_exit_1() {
    use axum::extract::{Path as UrlPath, Query};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse as _, Response};
    use serde_json::json;

    // A store whose product 7 has one image the client cannot read (`sort_order` is text).
    #[derive(serde::Deserialize)]
    struct Paging {
        page: Option<u32>,
    }
    async fn products(Query(q): Query<Paging>) -> Response {
        if q.page.unwrap_or(1) > 1 {
            return StatusCode::NO_CONTENT.into_response();
        }
        axum::Json(json!([{
            "id": 7, "name": "Lamp", "sku": "LAMP", "date_created": "Mon, 30 Nov 2026 06:00:00 +0000"
        }]))
        .into_response()
    }
    async fn images(UrlPath(_): UrlPath<String>, Query(q): Query<Paging>) -> Response {
        if q.page.unwrap_or(1) > 1 {
            return StatusCode::NO_CONTENT.into_response();
        }
        let image = |id: i64, sort_order: serde_json::Value| {
            json!({
                "id": id, "product_id": 7, "image_file": format!("l/001/lamp__{id:05}.jpg"),
                "is_thumbnail": id == 1, "sort_order": sort_order, "description": null,
                "date_created": "Mon, 30 Nov 2026 06:00:00 +0000",
            })
        };
        axum::Json(json!([image(1, json!(0)), image(2, json!("first"))])).into_response()
    }
    let app = axum::Router::new()
        .route("/api/v2/products.json", axum::routing::get(products))
        .route(
            "/api/v2/products/{product}/images.json",
            axum::routing::get(images),
        )
        .route(
            "/api/v2/products/images/count.json",
            axum::routing::get(|| async { axum::Json(json!({ "count": 2 })) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/api/v2", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let cli = Cli::new();
    let out = cli.on(&api, &["sync", "--timeout", "20"]).await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("image 2 of product 7: field sort_order = \"first\""),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_store_moves_when_its_port_is_taken_and_remembers_the_new_one() {
    use imagedesk::desktop::EmbeddedStore;

    let data = tempfile::tempdir().unwrap();
    let first = EmbeddedStore::start(data.path()).await.unwrap();
    let taken = first.server.addr();
    first.server.shutdown().await.unwrap();
    let squatter = std::net::TcpListener::bind(taken).unwrap();
    let moved = EmbeddedStore::start(data.path()).await.unwrap();
    assert_ne!(moved.server.addr(), taken, "a free port, not an error");
    let new_addr = moved.server.addr();
    moved.server.shutdown().await.unwrap();
    drop(squatter);
    let again = EmbeddedStore::start(data.path()).await.unwrap();
    assert_eq!(
        again.server.addr(),
        new_addr,
        "the new port is the one remembered"
    );
    again.server.shutdown().await.unwrap();
}
