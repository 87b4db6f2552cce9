//! The real binary under Xvfb, stopped by SIGTERM as a session's end or `kill` stops it: it
//! must close like its close button does — exit 0, remove the embedded store's connection file
//! and hand the deletes still waiting for Undo to its queue, so they reach the store (here at
//! the next start, since the store lives in the same process). Needs Debian's xvfb and xdotool.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use imagedesk::api::{Client, Credentials};

/// Kills the process when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_display() -> u32 {
    // Far from window_smoke's range start, in case another X server holds the low numbers.
    (140..260)
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free X display number")
}

fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool runs (Debian's xdotool; .ci/run installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn start_app(display: &str, data: &Path) -> Running {
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(data.join("app.log"))
        .unwrap();
    Running(
        Command::new(env!("CARGO_BIN_EXE_imagedesk"))
            .env("DISPLAY", display)
            .env_remove("WAYLAND_DISPLAY")
            .env("IMAGEDESK_DATA_DIR", data)
            .env("WINIT_X11_SCALE_FACTOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the app starts"),
    )
}

/// The embedded store's address and token, once the app has published them.
fn store_of(data: &Path) -> Client {
    let connection = data.join(imagedesk::desktop::CONNECTION_FILE);
    let (api_url, token) = wait_for("the embedded store", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&connection).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            json["api_url"].as_str()?.to_owned(),
            json["token"].as_str()?.to_owned(),
        ))
    });
    Client::new(&api_url, Credentials::Token(token)).unwrap()
}

fn wait_for_window(display: &str) -> String {
    wait_for("the window", Duration::from_secs(60), || {
        let found = xdotool(display, &["search", "--name", "imagedesk"]);
        found.split_whitespace().next().map(str::to_owned)
    })
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
    let number = free_display();
    let display = format!(":{number}");
    let _xvfb = Running(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts (Debian's xvfb; .ci/run installs it)"),
    );
    wait_for("Xvfb", Duration::from_secs(20), || {
        Path::new(&format!("/tmp/.X11-unix/X{number}"))
            .exists()
            .then_some(())
    });
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
