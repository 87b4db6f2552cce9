//! The desktop app (eframe/egui): draws the replica's state each frame and turns gestures into
//! engine edits. Drawing code emits [`Command`](command::Command)s that the app applies in one
//! place; everything about one store lives in a [`StoreSession`](session::StoreSession), whose
//! editing rules (`controller.rs`) know nothing of egui. Nothing here blocks: engine calls, disk
//! reads and writes and decoding run on the tokio runtime ([`backend`]) and come back as
//! messages, with `request_repaint()`.

mod app;
mod backend;
mod catalogue;
mod command;
mod controller;
mod counts;
mod grid;
mod history;
mod notices;
mod overlays;
mod panels;
mod pending;
mod preview;
pub mod profiles;
mod session;
mod stores_dialog;
mod tiles;
mod words;

pub use app::ImageDeskApp;
pub use backend::Backend;
pub use command::View;
pub use notices::{NOTICE_LIFETIME, Notice, Severity};

/// Opens the window and runs until it is closed. The window's settings and the saved store
/// profiles live in `<data dir>/app.ron` (eframe persistence).
///
/// `current` is the store opened from the command line: it joins the saved profiles (without its
/// token, which is saved only when the user types it in the Stores dialog).
pub fn run_native(
    backend: Backend,
    title: &str,
    current: Option<profiles::Profile>,
) -> eframe::Result {
    let persistence_path = backend.data_dir().map(|dir| dir.join("app.ron"));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_app_id("imagedesk")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 480.0]),
        persistence_path,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "imagedesk",
        options,
        Box::new(|cc| {
            let mut saved = cc.storage.map(profiles::load).unwrap_or_default();
            if let Some(current) = current
                && !saved.iter().any(|p| p.api_url == current.api_url)
            {
                saved.push(current);
            }
            Ok(Box::new(ImageDeskApp::new(backend).with_profiles(saved)))
        }),
    )
}
