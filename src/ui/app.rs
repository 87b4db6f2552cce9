//! The app's state and its frame: it reads what the backend sent, draws, and turns gestures
//! into edits. It never waits: edits return at once and their effect comes back as events.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use egui::Key;

use super::backend::{Backend, Message};
use super::grid::{GridAction, grid_ui};
use super::panels::{DetailsAction, details_ui, products_ui, status_ui};
use super::tiles::TileCache;
use crate::sync::{ConflictField, Event, ImageId, LocalImage, ProductSummary, Status};

/// Texture memory the grid may hold (decoded RGBA tiles).
const TILE_BUDGET_BYTES: usize = 192 * 1024 * 1024;

pub struct ImageDeskApp {
    backend: Backend,
    started: bool,
    products: Vec<ProductSummary>,
    product_filter: String,
    product: Option<i64>,
    images: Vec<LocalImage>,
    selection: BTreeSet<ImageId>,
    focus: Option<ImageId>,
    draft: String,
    add_path: String,
    add_url: String,
    status: Status,
    tiles: TileCache,
    uploads: HashMap<ImageId, (u64, u64)>,
    notices: Vec<String>,
}

impl ImageDeskApp {
    pub fn new(backend: Backend) -> ImageDeskApp {
        ImageDeskApp {
            backend,
            started: false,
            products: Vec::new(),
            product_filter: String::new(),
            product: None,
            images: Vec::new(),
            selection: BTreeSet::new(),
            focus: None,
            draft: String::new(),
            add_path: String::new(),
            add_url: String::new(),
            status: Status::default(),
            tiles: TileCache::new(TILE_BUDGET_BYTES),
            uploads: HashMap::new(),
            notices: Vec::new(),
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The images shown, in order (for tests and the status bar).
    pub fn images(&self) -> &[LocalImage] {
        &self.images
    }

    pub fn selected_product(&self) -> Option<i64> {
        self.product
    }

    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Texture memory the grid holds now.
    pub fn texture_bytes(&self) -> usize {
        self.tiles.texture_bytes()
    }

    /// Draws one frame. `eframe::App::ui` calls this; tests call it through egui_kittest.
    pub fn show_ui(&mut self, ui: &mut egui::Ui) {
        if !self.started {
            self.started = true;
            self.backend.attach(ui.ctx());
            self.backend.load_products();
        }
        for message in self.backend.poll() {
            self.handle(ui.ctx(), message);
        }
        self.shortcuts(ui);
        self.dropped_files(ui);

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| {
            let total = self.products.iter().map(|p| p.image_count).sum();
            status_ui(ui, &self.status, Some(total));
        });
        egui::Panel::left("products")
            .default_size(240.0)
            .show(ui, |ui| {
                let picked =
                    products_ui(ui, &self.products, &mut self.product_filter, self.product);
                if let Some(product) = picked {
                    self.select_product(product);
                }
            });
        egui::Panel::right("details")
            .default_size(280.0)
            .show(ui, |ui| self.details_panel_ui(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            if self.product.is_none() {
                ui.label("Choose a product on the left.");
                return;
            }
            if self.images.is_empty() {
                ui.label(
                    "This product has no images yet. Add files or a URL above, or drop files here.",
                );
                return;
            }
            let action = grid_ui(
                ui,
                &self.images,
                &self.selection,
                &mut self.tiles,
                &self.backend,
            );
            self.grid_action(action, ui.input(|i| i.modifiers));
        });
    }

    fn handle(&mut self, ctx: &egui::Context, message: Message) {
        match message {
            Message::Products(products) => {
                self.products = products;
                if self.product.is_none()
                    && let Some(first) = self.products.first().map(|p| p.id)
                {
                    self.select_product(first);
                }
            }
            Message::Images { product_id, images } => {
                if Some(product_id) == self.product {
                    self.selection
                        .retain(|id| images.iter().any(|i| i.id == *id));
                    self.images = images;
                    if self
                        .focus
                        .is_some_and(|f| !self.images.iter().any(|i| i.id == f))
                    {
                        self.focus = None;
                    }
                }
            }
            Message::Tile { id, key, image } => self.tiles.insert(ctx, id, &key, image),
            Message::Status(status) => self.status = status,
            Message::Event(event) => self.event(event),
            Message::Error(text) => self.notices.push(text),
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::ProductsChanged => self.backend.load_products(),
            Event::ImagesChanged { product_id } => {
                self.backend.load_products();
                if Some(product_id) == self.product {
                    self.backend.load_images(product_id);
                }
            }
            Event::Conflict(conflict) => {
                let field = match conflict.field {
                    ConflictField::Description => "description",
                    ConflictField::Picture => "picture",
                    ConflictField::Thumbnail => "thumbnail",
                };
                self.notices.push(format!(
                    "The store changed the {field} of image {} too: kept yours (\"{}\"), the store had \"{}\".",
                    conflict.image, conflict.local, conflict.server
                ));
            }
            Event::EditsDropped {
                image,
                edits,
                reason,
                ..
            } => self.notices.push(format!(
                "{edits} edit(s) of image {image} were dropped: {reason}."
            )),
            Event::EditFailed { kind, message, .. } => {
                self.notices
                    .push(format!("The store refused \"{kind}\": {message}"));
            }
            Event::UploadProgress { image, sent, total } => {
                self.uploads.insert(image, (sent, total));
            }
            Event::StatusChanged => {}
        }
    }

    fn select_product(&mut self, product: i64) {
        if self.product != Some(product) {
            self.product = Some(product);
            self.images.clear();
            self.selection.clear();
            self.focus = None;
        }
        self.backend.load_images(product);
    }

    fn focused_image(&self) -> Option<&LocalImage> {
        let focus = self.focus?;
        self.images.iter().find(|i| i.id == focus)
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            if ui
                .button("Refresh")
                .on_hover_text("Pull the store now (F5)")
                .clicked()
            {
                self.backend.engine().refresh();
            }
            let any = !self.selection.is_empty();
            if ui
                .add_enabled(any, egui::Button::new("Delete selected"))
                .on_hover_text("Delete the selected images (Delete)")
                .clicked()
            {
                self.delete_selection();
            }
            ui.separator();
            let label = ui.label("File path");
            ui.add(egui::TextEdit::singleline(&mut self.add_path).desired_width(220.0))
                .labelled_by(label.id);
            if ui.button("Add file").clicked() {
                self.add_from_path();
            }
            ui.separator();
            let label = ui.label("Image URL");
            ui.add(egui::TextEdit::singleline(&mut self.add_url).desired_width(220.0))
                .labelled_by(label.id);
            if ui.button("Add from URL").clicked() {
                self.add_from_url();
            }
        });
        let uploading: Vec<(u64, u64)> = self
            .uploads
            .iter()
            .filter(|(id, _)| {
                self.images
                    .iter()
                    .any(|i| i.id == **id && i.server_id.is_none())
            })
            .map(|(_, p)| *p)
            .collect();
        for (sent, total) in uploading {
            ui.add(
                egui::ProgressBar::new(sent as f32 / total.max(1) as f32)
                    .show_percentage()
                    .text(format!("Uploading {} KiB", total / 1024)),
            );
        }
        let mut dismissed = None;
        for (n, notice) in self.notices.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, notice);
                if ui.small_button("Dismiss").clicked() {
                    dismissed = Some(n);
                }
            });
        }
        if let Some(n) = dismissed {
            self.notices.remove(n);
        }
    }

    fn details_panel_ui(&mut self, ui: &mut egui::Ui) {
        let Some(image) = self.focused_image().cloned() else {
            ui.label("Click an image to see its details.");
            return;
        };
        match details_ui(ui, &image, &mut self.draft) {
            DetailsAction::None => {}
            DetailsAction::SaveDescription(text) => {
                let id = image.id;
                self.backend
                    .edit("save the description", move |e| async move {
                        e.describe(id, &text).await
                    });
            }
            DetailsAction::SetThumbnail => {
                let id = image.id;
                self.backend.edit("set the thumbnail", move |e| async move {
                    e.set_thumbnail(id).await
                });
            }
        }
    }

    fn grid_action(&mut self, action: GridAction, _modifiers: egui::Modifiers) {
        match action {
            GridAction::None => {}
            GridAction::Select { id, add, extend } => self.click(id, add, extend),
            GridAction::Open(id) => self.click(id, false, false),
            GridAction::Move { dragged, onto } => self.move_onto(dragged, onto),
        }
    }

    fn click(&mut self, id: ImageId, add: bool, extend: bool) {
        if extend && let Some(anchor) = self.focus {
            let position = |x: ImageId| self.images.iter().position(|i| i.id == x);
            if let (Some(a), Some(b)) = (position(anchor), position(id)) {
                let (lo, hi) = (a.min(b), a.max(b));
                self.selection
                    .extend(self.images[lo..=hi].iter().map(|i| i.id));
            }
        } else if add {
            if !self.selection.remove(&id) {
                self.selection.insert(id);
            }
        } else {
            self.selection.clear();
            self.selection.insert(id);
        }
        if self.focus != Some(id) {
            self.focus = Some(id);
            self.draft = self
                .focused_image()
                .map(|i| i.description.clone())
                .unwrap_or_default();
        }
    }

    /// Drops the dragged tile (with the rest of the selection, if it is part of it) onto
    /// another: moving forward lands after the target, moving back lands before it.
    fn move_onto(&mut self, dragged: ImageId, onto: ImageId) {
        let Some(product) = self.product else { return };
        let order: Vec<ImageId> = self.images.iter().map(|i| i.id).collect();
        let moving: Vec<ImageId> = if self.selection.contains(&dragged) {
            order
                .iter()
                .copied()
                .filter(|id| self.selection.contains(id))
                .collect()
        } else {
            vec![dragged]
        };
        if moving.contains(&onto) {
            return;
        }
        let from = order.iter().position(|id| *id == dragged).unwrap_or(0);
        let target = order.iter().position(|id| *id == onto).unwrap_or(0);
        let rest: Vec<ImageId> = order
            .iter()
            .copied()
            .filter(|id| !moving.contains(id))
            .collect();
        let Some(at) = rest.iter().position(|id| *id == onto) else {
            return;
        };
        let index = if target > from { at + 1 } else { at };
        self.backend.edit("move the images", move |e| async move {
            e.move_images(product, &moving, index).await
        });
    }

    fn delete_selection(&mut self) {
        let ids: Vec<ImageId> = self.selection.iter().copied().collect();
        if ids.is_empty() {
            return;
        }
        self.selection.clear();
        self.backend.edit(
            "delete the images",
            move |e| async move { e.delete(&ids).await },
        );
    }

    fn add_from_path(&mut self) {
        let Some(product) = self.product else { return };
        let path = self.add_path.trim();
        if path.is_empty() {
            self.notices
                .push("Type the path of an image file first.".into());
            return;
        }
        self.backend.add_files(product, vec![PathBuf::from(path)]);
        self.add_path.clear();
    }

    fn add_from_url(&mut self) {
        let Some(product) = self.product else { return };
        let url = self.add_url.trim().to_owned();
        if url.is_empty() {
            self.notices.push("Type the URL of an image first.".into());
            return;
        }
        self.backend
            .edit("add the image from its URL", move |e| async move {
                e.add_url(product, &url, "").await.map(drop)
            });
        self.add_url.clear();
    }

    fn shortcuts(&mut self, ui: &mut egui::Ui) {
        // Keys typed into a text field belong to the field.
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let (refresh, delete, all, escape) = ui.input(|i| {
            (
                i.key_pressed(Key::F5),
                i.key_pressed(Key::Delete),
                i.modifiers.command && i.key_pressed(Key::A),
                i.key_pressed(Key::Escape),
            )
        });
        if refresh {
            self.backend.engine().refresh();
        }
        if delete {
            self.delete_selection();
        }
        if all {
            self.selection = self.images.iter().map(|i| i.id).collect();
        }
        if escape {
            self.selection.clear();
        }
    }

    fn dropped_files(&mut self, ui: &mut egui::Ui) {
        let paths: Vec<PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if paths.is_empty() {
            return;
        }
        match self.product {
            Some(product) => self.backend.add_files(product, paths),
            None => self
                .notices
                .push("Choose a product before dropping files.".into()),
        }
    }
}

impl eframe::App for ImageDeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show_ui(ui);
    }
}
