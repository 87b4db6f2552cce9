//! The desktop app (eframe/egui): draws the replica's state each frame and turns gestures into
//! engine edits. Nothing here blocks: engine calls, disk reads and decoding run on the tokio
//! runtime ([`backend`]) and come back as messages, with `request_repaint()`.

mod app;
mod backend;
mod counts;
mod grid;
mod history;
mod panels;
mod preview;
mod tiles;

pub use app::{ImageDeskApp, View};
pub use backend::Backend;

/// Opens the window and runs until it is closed.
pub fn run_native(backend: Backend, title: &str) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 480.0]),
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        title,
        options,
        Box::new(|_cc| Ok(Box::new(ImageDeskApp::new(backend)))),
    )
}
