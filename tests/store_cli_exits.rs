//! The store commands' exit statuses where they used to be wrong (SPEC §3: 0 done; 1 the
//! store refused this command's edits or answered with an error; 2 bad usage or a local
//! failure; 3 the store did not answer): the real binary against a real server on loopback.

mod common;

use std::time::Duration;

use common::cli::*;
use common::*;

async fn description(store: &TestStore, product: i64, image: i64) -> String {
    store
        .client
        .get_image(product, image)
        .await
        .unwrap()
        .description
}

/// A store that answers every request, always the same way (`status`, `body`): it is there,
/// but never of use.
async fn answering_store(status: u16, body: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let code = axum::http::StatusCode::from_u16(status).unwrap();
    let app = axum::Router::new().fallback(move || async move {
        (
            code,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/api/v2")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_gone_since_the_last_pull_is_unreachable_not_bad_usage() {
    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, "JUG", 2).await;
    let cli = Cli::new();
    let p = product.to_string();
    let img = ids[0].to_string();

    // Online once, so that the replica knows the product and its images.
    let out = cli.on(&api, &["describe", &p, &img, "first"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));

    let stopped = store.stop().await;
    // An image the replica does not know: the store could not be asked, so this is not
    // "not an image of the product" (2) but 3, and nothing is queued.
    let out = cli
        .on(&api, &["describe", &p, "999999", "x", "--timeout", "5"])
        .await;
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("could not be reached to look up image 999999"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("nothing was queued"), "{}", text(&out));

    // An image the replica knows: queued, and 3 says it waits.
    let out = cli
        .on(
            &api,
            &["describe", &p, &img, "while away", "--timeout", "5"],
        )
        .await;
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(
        text(&out).contains("1 edits wait in the queue"),
        "{}",
        text(&out)
    );

    // Back: sync sends the one queued edit, and only it.
    let store = stopped.start().await;
    let out = cli.on(&api, &["sync", "--timeout", "30"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("synced: 1 queued edits sent"),
        "{}",
        text(&out)
    );
    assert_eq!(description(&store, product, ids[0]).await, "while away");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_that_answers_with_errors_exits_1_with_its_error_not_3() {
    for (status, body, said) in [
        (500, r#"[{"status":500,"message":"boom"}]"#, "HTTP 500"),
        (200, "this is not json", "could not be read"),
    ] {
        let api = answering_store(status, body).await;
        let cli = Cli::new();
        let out = cli.on(&api, &["sync", "--timeout", "5"]).await;
        assert_eq!(code(&out), 1, "{status}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("answered with an error"), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(!stderr.contains("could not be reached"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_from_earlier_commands_do_not_fail_later_ones() {
    // This store does not download from loopback addresses, so it refuses the create.
    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, "CUP", 1).await;
    let cli = Cli::new();
    let p = product.to_string();
    let out = cli
        .on(
            &api,
            &["add", &p, "http://127.0.0.1:9/cup.jpg", "--timeout", "30"],
        )
        .await;
    assert_eq!(code(&out), 1, "{}", text(&out));

    // A later edit that the store takes: 0, with a note about the earlier refusal.
    let img = ids[0].to_string();
    let out = cli
        .on(&api, &["describe", &p, &img, "later", "--timeout", "30"])
        .await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("1 edits refused before this command"),
        "{}",
        text(&out)
    );
    assert_eq!(description(&store, product, ids[0]).await, "later");

    // `sync` reports every refused edit in the queue: that is its job.
    let out = cli.on(&api, &["sync", "--timeout", "30"]).await;
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(text(&out).contains("refused: edit #"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn timeouts_out_of_range_are_bad_usage_not_a_panic() {
    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, "POT", 1).await;
    let cli = Cli::new();
    let p = product.to_string();
    let img = ids[0].to_string();
    let huge = u64::MAX.to_string();
    for args in [
        vec!["describe", &p, &img, "x", "--timeout", &huge],
        vec!["sync", "--timeout", &huge],
        vec!["sync", "--timeout", "0"],
        vec!["sync", "--landing-window", &huge],
    ] {
        let out = cli.on(&api, &args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out));
    }
    assert_eq!(description(&store, product, ids[0]).await, "picture 0");

    let out = cli.run(&["describe", "--help"]).await;
    assert!(text(&out).contains("1 to 86400"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_failure_is_status_2_not_1() {
    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, "PAN", 1).await;
    let cli = Cli::new();
    let p = product.to_string();
    let img = ids[0].to_string();
    // The replica directory is a file: the local copy cannot be opened.
    let replica = cli.data.path().join("not-a-directory");
    std::fs::write(&replica, b"x").unwrap();
    let out = cli
        .run(&[
            "describe",
            &p,
            &img,
            "x",
            "--api",
            &api,
            "--replica-dir",
            replica.to_str().unwrap(),
        ])
        .await;
    assert_eq!(code(&out), 2, "{}", text(&out));

    // A file that is not a picture, as the README says.
    let files = tempfile::tempdir().unwrap();
    let bogus = files.path().join("notes.jpg");
    std::fs::write(&bogus, b"not a picture").unwrap();
    let out = cli.on(&api, &["add", &p, bogus.to_str().unwrap()]).await;
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_eq!(description(&store, product, ids[0]).await, "picture 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_are_handed_to_the_app_that_has_the_store_open() {
    use imagedesk::sync::{Engine, EngineConfig};

    let store = start().await;
    let api = store.server.api_url();
    let (product, ids) = product_with_images(&store, "BOX", 1).await;
    let cli = Cli::new();
    let p = product.to_string();
    let img = ids[0].to_string();

    // "The app": an engine that holds the replica, has pulled the store, and sends.
    let app = Engine::open(EngineConfig::in_dir(cli.replica()), client_for(&api))
        .await
        .unwrap();
    app.caught_up(Duration::from_secs(30)).await;
    assert_eq!(app.images(product).await.unwrap().len(), 1);

    let out = cli.on(&api, &["describe", &p, &img, "from the cli"]).await;
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("the app has this store open; it will send these edits"),
        "{}",
        text(&out)
    );
    assert_eq!(app.outbox().await.unwrap().len(), 1, "the edit is queued");

    // The app sends it (an edit queued by another process wakes it at its next round).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while description(&store, product, ids[0]).await != "from the cli" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the app did not send the edit"
        );
        app.retry_now();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.close().await;
}
