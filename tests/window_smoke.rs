//! The real binary in a real X window (Xvfb), on the embedded default: the demo store must be
//! drawn (a screenshot that is not blank), and a pointer drag made with `xdotool` must change
//! the order on the store, read back over HTTP. Needs Debian's xvfb, xdotool and imagemagick
//! (`.ci/run` installs them).

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::window::{
    embedded_store, require, start_app, start_xvfb, wait_for, wait_for_window, xdotool,
};
use imagedesk::api::{Client, Credentials};

/// Where the grid's first tile is drawn in a 1280×800 window: right of the product list, below
/// the two-row tool bar. Tiles are 150 px with 10 px gaps (src/ui/grid.rs).
const FIRST_TILE_CENTRE: (i32, i32) = (323, 131);
const TILE_STEP: i32 = 160;

fn screenshot(display: &str, to: &Path) -> image::RgbImage {
    let status = Command::new("import")
        .args(["-window", "root"])
        .arg(to)
        .env("DISPLAY", display)
        .status()
        .expect("imagemagick's import runs");
    assert!(status.success(), "import failed");
    image::open(to).expect("a PNG screenshot").to_rgb8()
}

/// Distinct colours in a region: a blank or flat window has a handful, pictures thousands.
fn colours(shot: &image::RgbImage, x: u32, y: u32, w: u32, h: u32) -> usize {
    let mut seen = HashSet::new();
    for yy in y..(y + h).min(shot.height()) {
        for xx in x..(x + w).min(shot.width()) {
            seen.insert(shot.get_pixel(xx, yy).0);
        }
    }
    seen.len()
}

#[test]
fn the_real_window_shows_the_demo_store_and_an_xdotool_drag_reorders_it() {
    for tool in ["xdotool", "import"] {
        require(tool);
    }
    let (display, _xvfb) = start_xvfb(90..200);
    let data = tempfile::tempdir().unwrap();
    let mut app = start_app(&display, data.path());
    let (api_url, token) = embedded_store(data.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = Client::new(&api_url, Credentials::Token(token)).unwrap();
    let product = runtime.block_on(client.list_all_products()).unwrap()[0].id;
    let before: Vec<i64> = runtime
        .block_on(client.list_all_images(product))
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert!(before.len() >= 3, "the first demo product has pictures");

    let window = wait_for_window(&display);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot_path = shots.join("imagedesk-window.png");
    let (x, y) = FIRST_TILE_CENTRE;
    let shot = wait_for("the tiles to be drawn", Duration::from_secs(60), || {
        let shot = screenshot(&display, &shot_path);
        let third = (x + 2 * TILE_STEP - 75) as u32;
        let tiles_drawn = colours(&shot, (x - 75) as u32, (y - 75) as u32, 150, 150) > 500
            && colours(&shot, third, (y - 75) as u32, 150, 150) > 500;
        tiles_drawn.then_some(shot)
    });
    let whole = colours(&shot, 0, 0, shot.width(), shot.height());
    assert!(whole > 2000, "the window is drawn ({whole} colours)");
    if let Ok(copy) = std::env::var("IMAGEDESK_SCREENSHOT_TO") {
        std::fs::copy(&shot_path, copy).unwrap();
    }

    // Drag the first tile onto the third, as a person would: press, move in steps, release.
    let to = x + 2 * TILE_STEP;
    let mut args: Vec<String> = vec![
        "mousemove".into(),
        x.to_string(),
        y.to_string(),
        "sleep".into(),
        "0.3".into(),
        "mousedown".into(),
        "1".into(),
        "sleep".into(),
        "0.3".into(),
    ];
    for step in 1..=6 {
        let xx = x + (to - x) * step / 6;
        args.extend([
            "mousemove".into(),
            xx.to_string(),
            y.to_string(),
            "sleep".into(),
            "0.2".into(),
        ]);
    }
    args.extend(["sleep".into(), "0.3".into(), "mouseup".into(), "1".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    xdotool(&display, &args);

    let mut expected = before.clone();
    let first = expected.remove(0);
    expected.insert(2, first);
    wait_for("the store's new order", Duration::from_secs(30), || {
        let now: Vec<i64> = runtime
            .block_on(client.list_all_images(product))
            .ok()?
            .iter()
            .map(|i| i.id)
            .collect();
        (now == expected).then_some(())
    });

    // Ctrl+Q closes the window; the app shuts its store down and exits cleanly. (Xvfb has no
    // window manager to give the window the keyboard focus, so it is given by hand.)
    xdotool(&display, &["windowfocus", "--sync", &window]);
    xdotool(&display, &["key", "ctrl+q"]);
    let status = wait_for("the app to exit", Duration::from_secs(30), || {
        app.0.try_wait().ok().flatten()
    });
    assert!(status.success(), "exit status {status}");
    assert!(
        !data
            .path()
            .join(imagedesk::desktop::CONNECTION_FILE)
            .exists(),
        "the connection file is removed on exit"
    );
}
