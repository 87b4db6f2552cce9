//! The "Copy to other products…" window: opened with the selected images (tile menu, details
//! panel, Ctrl+Shift+C), a search field over the product list (name or SKU; each keystroke asks
//! the engine for the first matches, `Backend::search_copy_targets`), a check box per product,
//! and Copy, which hands the pictures and the chosen products to `Engine::copy_images` on the
//! runtime (progress as `Message::CopyProgress`, the end as `Message::Copied`). Chosen products
//! stay chosen while the search changes.

use std::collections::BTreeMap;

use super::command::Command;
use crate::sync::{ImageId, ProductSummary};

/// Products listed per search (the first matches by name).
pub const MATCHES_SHOWN: u64 = 50;

#[derive(Debug, Default)]
pub struct CopyPicker {
    open: bool,
    /// The pictures to copy, in grid order, and the product they come from (not offered).
    images: Vec<ImageId>,
    source: Option<i64>,
    pub search: String,
    /// Answers older than this search are dropped.
    serial: u64,
    matches: Option<Vec<ProductSummary>>,
    /// Chosen products, with what the window calls them.
    chosen: BTreeMap<i64, String>,
    /// `(done, total)` while copying.
    progress: Option<(usize, usize)>,
}

impl CopyPicker {
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn images(&self) -> &[ImageId] {
        &self.images
    }

    pub fn chosen(&self) -> Vec<i64> {
        self.chosen.keys().copied().collect()
    }

    pub fn is_copying(&self) -> bool {
        self.progress.is_some()
    }

    /// Opens the window for `images` of `source`; returns the search to ask for.
    pub fn open(&mut self, images: Vec<ImageId>, source: Option<i64>) -> (u64, String) {
        *self = CopyPicker {
            open: true,
            images,
            source,
            ..CopyPicker::default()
        };
        self.next_search()
    }

    pub fn close(&mut self) {
        // A copy under way goes on; its end still says so in a notice.
        self.open = false;
    }

    /// The search field changed: the serial of the new search and its text.
    pub fn next_search(&mut self) -> (u64, String) {
        self.serial += 1;
        (self.serial, self.search.clone())
    }

    pub fn matches_arrived(&mut self, serial: u64, rows: Vec<ProductSummary>) {
        if serial == self.serial {
            self.matches = Some(rows);
        }
    }

    pub fn toggle(&mut self, product: i64) {
        if self.chosen.remove(&product).is_none() {
            let name = self
                .matches
                .iter()
                .flatten()
                .find(|p| p.id == product)
                .map_or_else(|| format!("product {product}"), target_name);
            self.chosen.insert(product, name);
        }
    }

    pub fn started(&mut self, total: usize) {
        self.progress = Some((0, total));
    }

    pub fn progressed(&mut self, done: usize, total: usize) {
        if self.progress.is_some() {
            self.progress = Some((done, total));
        }
    }

    /// The copy ended: with success the window closes; after an error it stays for a retry.
    pub fn finished(&mut self, ok: bool) {
        self.progress = None;
        if ok {
            self.open = false;
        }
    }

    pub fn copy_picker_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) {
        let mut open = self.open;
        let n = self.images.len();
        egui::Window::new("Copy to other products")
            .id(egui::Id::unique("copy-picker"))
            .open(&mut open)
            .collapsible(false)
            .default_width(420.0)
            .pivot(egui::Align2::CENTER_TOP)
            .default_pos(ctx.content_rect().center_top() + egui::vec2(0.0, 80.0))
            .show(ctx, |ui| {
                ui.label(format!(
                    "Copy {n} {} to the end of each product you tick, with {}.",
                    if n == 1 { "picture" } else { "pictures" },
                    if n == 1 {
                        "its description"
                    } else {
                        "their descriptions"
                    }
                ));
                let label = ui.label("Find products");
                let field = ui
                    .add(
                        egui::TextEdit::singleline(&mut self.search)
                            .hint_text("name or SKU")
                            .desired_width(f32::INFINITY),
                    )
                    .labelled_by(label.id);
                if field.changed() {
                    commands.push(Command::SearchCopyTargets(self.search.clone()));
                }
                egui::ScrollArea::vertical()
                    .max_height(260.0)
                    .auto_shrink([false, true])
                    .show(ui, |ui| match &self.matches {
                        None => {
                            ui.weak("Reading…");
                        }
                        Some(rows) => {
                            let offered: Vec<&ProductSummary> =
                                rows.iter().filter(|p| Some(p.id) != self.source).collect();
                            if offered.is_empty() {
                                ui.weak("No other product matches.");
                            }
                            for product in offered {
                                let mut ticked = self.chosen.contains_key(&product.id);
                                if ui.checkbox(&mut ticked, target_name(product)).changed() {
                                    commands.push(Command::ToggleCopyTarget(product.id));
                                }
                            }
                        }
                    });
                ui.separator();
                if self.chosen.is_empty() {
                    ui.weak("Tick the products to copy to.");
                } else {
                    let names: Vec<&str> = self.chosen.values().map(String::as_str).collect();
                    ui.label(format!("To: {}", names.join(", ")));
                }
                match self.progress {
                    Some((done, total)) => {
                        ui.add(
                            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                                .text(format!("Copying… {done} of {total} steps")),
                        );
                    }
                    None => {
                        let targets = self.chosen.len();
                        let text = match targets {
                            0 => "Copy".to_owned(),
                            1 => "Copy to 1 product".to_owned(),
                            t => format!("Copy to {t} products"),
                        };
                        if ui
                            .add_enabled(targets > 0 && n > 0, egui::Button::new(text))
                            .clicked()
                        {
                            commands.push(Command::CopyToChosen);
                        }
                    }
                }
            });
        if !open {
            commands.push(Command::CloseCopyPicker);
        }
    }
}

/// "Desk · SKU D-1" (or the name alone when it has no SKU).
fn target_name(product: &ProductSummary) -> String {
    if product.sku.is_empty() {
        product.name.clone()
    } else {
        format!("{} · SKU {}", product.name, product.sku)
    }
}

/// The notice after a copy.
pub fn copied_words(report: &crate::sync::CopyReport) -> String {
    let pictures = if report.pictures == 1 {
        "1 picture".to_owned()
    } else {
        format!("{} pictures", report.pictures)
    };
    let products = if report.products == 1 {
        "1 product".to_owned()
    } else {
        format!("{} products", report.products)
    };
    format!(
        "Copied {pictures} to {products} ({} new images, at the end of each product).",
        report.created.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: i64, name: &str, sku: &str) -> ProductSummary {
        ProductSummary {
            id,
            name: name.into(),
            sku: sku.into(),
            image_count: 0,
            has_thumbnail: false,
            pending_edits: 0,
        }
    }

    #[test]
    fn chosen_products_stay_chosen_across_searches_and_old_answers_are_dropped() {
        let mut picker = CopyPicker::default();
        let (first, _) = picker.open(vec![ImageId(1)], Some(9));
        picker.matches_arrived(
            first,
            vec![summary(2, "Desk", "D-1"), summary(3, "Chair", "")],
        );
        picker.toggle(2);
        picker.search = "cha".into();
        let (second, text) = picker.next_search();
        assert_eq!(text, "cha");
        picker.matches_arrived(first, vec![summary(7, "Old", "")]);
        picker.matches_arrived(second, vec![summary(3, "Chair", "")]);
        picker.toggle(3);
        assert_eq!(picker.chosen(), [2, 3]);
        assert_eq!(picker.chosen[&2], "Desk · SKU D-1");
        picker.toggle(2);
        assert_eq!(picker.chosen(), [3]);
        picker.started(3);
        picker.finished(false);
        assert!(picker.is_open(), "an error leaves the window for a retry");
        picker.finished(true);
        assert!(!picker.is_open());
    }
}
