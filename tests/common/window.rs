//! Helpers of the real-window tests (window_smoke, window_signals): an Xvfb display, the app's
//! process, xdotool, and waiting. Needs Debian's xvfb and xdotool (`.ci/run` installs them).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the process when the test ends, however it ends.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is missing: install Debian's xvfb, xauth, xdotool and imagemagick (.ci/run does)"
    );
}

pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A virtual X display of 1280×800 on the first free number of `numbers` (others may be in
/// use on this machine); dropped, it stops.
pub fn start_xvfb(numbers: std::ops::Range<u32>) -> (String, Running) {
    require("Xvfb");
    let number = numbers
        .into_iter()
        .find(|n| {
            !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
        })
        .expect("a free X display number");
    let display = format!(":{number}");
    let xvfb = Running(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts"),
    );
    wait_for("Xvfb", Duration::from_secs(20), || {
        Path::new(&format!("/tmp/.X11-unix/X{number}"))
            .exists()
            .then_some(())
    });
    (display, xvfb)
}

pub fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .output()
        .expect("xdotool runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The app on the embedded default, with its data in `data` and its log in `data/app.log`.
pub fn start_app(display: &str, data: &Path) -> Running {
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

/// The embedded store's API root and token, once the app has published them.
pub fn embedded_store(data: &Path) -> (String, String) {
    let connection = data.join(imagedesk::desktop::CONNECTION_FILE);
    wait_for("the embedded store", Duration::from_secs(60), || {
        let text = std::fs::read_to_string(&connection).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            json["api_url"].as_str()?.to_owned(),
            json["token"].as_str()?.to_owned(),
        ))
    })
}

/// The app's window id, once it is mapped.
pub fn wait_for_window(display: &str) -> String {
    wait_for("the window", Duration::from_secs(60), || {
        let found = xdotool(display, &["search", "--name", "imagedesk"]);
        found.split_whitespace().next().map(str::to_owned)
    })
}
