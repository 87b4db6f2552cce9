//! The real binary under Xvfb, stopped by SIGTERM as a session's end or `kill` stops it: it
//! must close like its close button does — exit 0, remove the embedded store's connection file
//! and hand the deletes still waiting for Undo to its queue, so they reach the store (here at
//! the next start, since the store lives in the same process). Needs Debian's xvfb and xdotool.

mod common;

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use common::window::{
    Running, embedded_store, start_app, start_xvfb, wait_for, wait_for_window, xdotool,
};
use imagedesk::api::{Client, Credentials};

/// The embedded store of the app whose data is in `data`.
fn store_of(data: &Path) -> Client {
    let (api_url, token) = embedded_store(data);
    Client::new(&api_url, Credentials::Token(token)).unwrap()
}

/// A key chord slow enough for egui to see (one `xdotool key` is over before a frame).
fn chord(display: &str, window: &str, modifier: Option<&str>, key: &str) {
    xdotool(display, &["windowfocus", "--sync", window]);
    if let Some(m) = modifier {
        xdotool(display, &["keydown", m]);
    }
    std::thread::sleep(Duration::from_millis(150));
    xdotool(display, &["keydown", key]);
    std::thread::sleep(Duration::from_millis(150));
    xdotool(display, &["keyup", key]);
    if let Some(m) = modifier {
        xdotool(display, &["keyup", m]);
    }
    std::thread::sleep(Duration::from_millis(300));
}

fn exit_within(app: &mut Running, limit: Duration) -> ExitStatus {
    wait_for("the app to exit", limit, || app.0.try_wait().unwrap())
}

#[test]
fn sigterm_closes_like_the_close_button_and_hands_over_held_deletes() {
    common::window::require("xdotool");
    // Far from window_smoke's numbers, in case another X server holds the low ones.
    let (display, _xvfb) = start_xvfb(140..260);
    let data = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();

    let mut app = start_app(&display, data.path());
    let client = store_of(data.path());
    let product = runtime.block_on(client.list_all_products()).unwrap()[0].id;
    let images = runtime.block_on(client.list_all_images(product)).unwrap();
    assert!(!images.is_empty(), "the first demo product has pictures");
    let window = wait_for_window(&display);
    // Give the grid its first frames with the product shown.
    std::thread::sleep(Duration::from_secs(3));
    // Select every image of the shown product and delete them: held for Undo (8 s).
    chord(&display, &window, Some("ctrl"), "a");
    chord(&display, &window, None, "Delete");

    let pid = app.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = exit_within(&mut app, Duration::from_secs(30));
    assert!(status.success(), "SIGTERM ends the app with {status:?}");
    assert!(
        !data
            .path()
            .join(imagedesk::desktop::CONNECTION_FILE)
            .exists(),
        "the connection file is removed"
    );

    // The next start sends what the closing app handed to its queue.
    let mut again = start_app(&display, data.path());
    let client = store_of(data.path());
    let left = wait_for("the held deletes to land", Duration::from_secs(60), || {
        let left = runtime.block_on(client.list_all_images(product)).ok()?;
        left.is_empty().then_some(left)
    });
    assert!(left.is_empty());
    let _ = Command::new("kill")
        .args(["-TERM", &again.0.id().to_string()])
        .status();
    let status = exit_within(&mut again, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
}
