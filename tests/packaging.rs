//! The app installed like a desktop app: its window icon, its menu entry and the Debian
//! package (`cargo deb`) that installs both with the binary must agree with one another.

use std::path::Path;
use std::process::Command;

const DESKTOP_ENTRY: &str = "assets/imagedesk.desktop";
const ICON: &str = "assets/icons/imagedesk.png";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

fn entry_value<'a>(entry: &'a str, key: &str) -> &'a str {
    entry
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("{DESKTOP_ENTRY} has no {key}"))
}

#[test]
fn the_window_icon_is_the_packaged_picture_and_decodes() {
    let icon = imagedesk::ui::window_icon();
    assert_eq!((icon.width, icon.height), (256, 256));
    assert_eq!(icon.rgba.len(), 256 * 256 * 4);
    let alpha = |x: usize, y: usize| icon.rgba[(y * 256 + x) * 4 + 3];
    assert_eq!(alpha(0, 0), 0, "rounded corners are transparent");
    assert_eq!(alpha(128, 128), 255, "the picture is opaque");
    let packaged = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(ICON)).unwrap();
    assert_eq!(imagedesk::ui::ICON_PNG, packaged.as_slice());
}

#[test]
fn the_menu_entry_is_valid_and_names_the_binary_and_icon_the_package_installs() {
    let status = Command::new("desktop-file-validate")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(DESKTOP_ENTRY))
        .status()
        .expect("desktop-file-validate (Debian's desktop-file-utils, installed by .ci/run)");
    assert!(
        status.success(),
        "{DESKTOP_ENTRY} is not a valid desktop entry"
    );
    let entry = read(DESKTOP_ENTRY);
    assert_eq!(entry_value(&entry, "Exec"), env!("CARGO_PKG_NAME"));
    assert_eq!(entry_value(&entry, "Icon"), "imagedesk");
    assert_eq!(
        entry_value(&entry, "StartupWMClass"),
        "imagedesk",
        "the window's app id (ui::run_native), so a desktop matches the window to its entry"
    );

    let manifest = read("Cargo.toml");
    let package = manifest
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("Cargo.toml has [package.metadata.deb]");
    for (source, destination) in [
        ("target/release/imagedesk", "usr/bin/"),
        (DESKTOP_ENTRY, "usr/share/applications/"),
        (ICON, "usr/share/icons/hicolor/256x256/apps/"),
    ] {
        assert!(
            package.contains(&format!("[\"{source}\", \"{destination}\"")),
            "the package installs {source} into {destination}"
        );
        if !source.starts_with("target/") {
            assert!(
                Path::new(env!("CARGO_MANIFEST_DIR")).join(source).is_file(),
                "{source} exists"
            );
        }
    }
}
