//! The desktop app (eframe/egui): draws the replica's state each frame and turns gestures into
//! engine edits. Drawing code emits [`Command`](command::Command)s that the app applies in one
//! place; everything about one store lives in a [`StoreSession`](session::StoreSession), whose
//! editing rules (`controller.rs`) know nothing of egui. Nothing here blocks: engine calls, disk
//! reads and writes and decoding run on the tokio runtime ([`backend`]) and come back as
//! messages, with `request_repaint()`.

mod alt_text;
mod app;
mod backend;
mod bulk_products;
mod catalogue;
mod command;
mod controller;
mod copy_picker;
mod counts;
mod csv_import;
mod csv_reply;
mod folder_import;
mod folder_plan;
mod grid;
mod history;
mod notices;
mod overlays;
mod panels;
mod pending;
mod plain_table;
mod preview;
mod product_header;
mod product_selection;
pub mod profiles;
mod recently_deleted;
mod reports;
mod session;
mod stores_dialog;
mod tiles;
mod typed_path;
mod words;

pub use app::ImageDeskApp;
pub use backend::Backend;
pub use command::View;
pub use notices::{NOTICE_LIFETIME, Notice, Severity};

/// Closes the window from outside the UI thread (a SIGTERM, say) the way the user would: the
/// app's `on_exit` runs (deletes held for Undo are handed to the engine) and `run_native`
/// returns, so the caller's clean-up runs too.
#[derive(Clone, Default)]
pub struct WindowCloser(std::sync::Arc<std::sync::OnceLock<egui::Context>>);

impl WindowCloser {
    fn attach(&self, ctx: &egui::Context) {
        let _ = self.0.set(ctx.clone());
    }

    /// Asks the window to close; `false` when there is no window yet.
    pub fn close(&self) -> bool {
        match self.0.get() {
            Some(ctx) => {
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx.request_repaint();
                true
            }
            None => false,
        }
    }
}

/// The app's icon: the picture the Debian package installs for the menu entry
/// (`assets/imagedesk.desktop`), shown by the window too.
pub const ICON_PNG: &[u8] = include_bytes!("../../assets/icons/imagedesk.png");

/// The window's icon. It is compiled in and checked by a test, so it always decodes; if it ever
/// did not, the window opens with the system's default icon rather than not at all.
pub fn window_icon() -> egui::IconData {
    eframe::icon_data::from_png_bytes(ICON_PNG).unwrap_or_else(|err| {
        tracing::warn!("the window icon could not be decoded: {err}");
        egui::IconData::default()
    })
}

/// Opens the window and runs until it is closed. The window's settings, the saved store
/// profiles and each store's undo history live in `<data dir>/app.ron` (eframe persistence).
///
/// `current` is the store opened from the command line: it joins the saved profiles (without its
/// token, which is saved only when the user types it in the Stores dialog).
pub fn run_native(
    backend: Backend,
    title: &str,
    current: Option<profiles::Profile>,
    closer: WindowCloser,
) -> eframe::Result {
    let persistence_path = backend.data_dir().map(|dir| dir.join("app.ron"));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(title)
            .with_app_id("imagedesk")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([720.0, 480.0])
            .with_icon(window_icon()),
        persistence_path,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "imagedesk",
        options,
        Box::new(move |cc| {
            closer.attach(&cc.egui_ctx);
            let mut saved = cc.storage.map(profiles::load).unwrap_or_default();
            if let Some(current) = current
                && !saved.iter().any(|p| p.api_url == current.api_url)
            {
                saved.push(current);
            }
            let app = ImageDeskApp::new(backend).with_profiles(saved);
            let app = match cc.storage {
                Some(storage) => app.with_saved_history(storage),
                None => app,
            };
            Ok(Box::new(app))
        }),
    )
}
