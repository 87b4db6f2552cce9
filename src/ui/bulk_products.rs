//! Bulk edits of several products selected in the product list (`product_selection.rs`): alt
//! text from a pattern for every image of them, and deleting all their images after a
//! confirmation that counts the pictures. Both need every image of every product: the backend
//! reads them with `Engine::products_images` (products never read are read from the store
//! first, or the whole action is refused), and the answer comes back as
//! `Message::ProductsImages`. The edits are the ordinary ones: describe edits recorded for
//! Ctrl+Z, and deletes held for Undo then sent like any other (so "Recently deleted" keeps the
//! pictures).

use std::collections::HashSet;

use super::command::Command;
use super::controller::fill_pattern;
use crate::sync::{ImageId, LocalImage, ProductSummary};

/// What the products' images were read for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkPurpose {
    Describe { pattern: String, only_missing: bool },
    AskDelete,
}

/// A product and its images, as the engine read them for a bulk action.
pub type ProductImages = (ProductSummary, Vec<LocalImage>);

/// One product's part of a delete of all images of several products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDelete {
    pub product: i64,
    pub name: String,
    pub ids: Vec<ImageId>,
}

/// The panel's state: its fields, the work under way, the confirmation asked.
#[derive(Debug)]
pub struct BulkProducts {
    pub pattern: String,
    pub only_missing: bool,
    /// Waiting for the products' images ("Reading the products' images…").
    pub busy: bool,
    /// "Delete all N pictures of M products?" is asked.
    pub confirm: Option<Vec<ProductDelete>>,
}

impl Default for BulkProducts {
    fn default() -> Self {
        BulkProducts {
            pattern: "{product} — view {n}".to_owned(),
            only_missing: true,
            busy: false,
            confirm: None,
        }
    }
}

/// The descriptions a pattern gives the images of `products`: `(image, before, after)` for
/// each image whose text changes (with `only_missing`, only images without one). `{n}` is the
/// image's position in its own product; images in `held` (deletes waiting for Undo) are left
/// alone.
pub fn describe_changes(
    products: &[ProductImages],
    pattern: &str,
    only_missing: bool,
    held: &HashSet<ImageId>,
) -> Vec<(ImageId, String, String)> {
    let mut changes = Vec::new();
    for (summary, images) in products {
        let shown = images.iter().filter(|i| !held.contains(&i.id));
        for (at, image) in shown.enumerate() {
            if only_missing && !image.description.trim().is_empty() {
                continue;
            }
            let text = fill_pattern(pattern, &summary.name, &summary.sku, at + 1);
            if text != image.description {
                changes.push((image.id, image.description.clone(), text));
            }
        }
    }
    changes
}

/// Every image of `products` not already held for deletion, product by product (those with
/// none left out).
pub fn delete_plan(products: &[ProductImages], held: &HashSet<ImageId>) -> Vec<ProductDelete> {
    products
        .iter()
        .filter_map(|(summary, images)| {
            let ids: Vec<ImageId> = images
                .iter()
                .map(|i| i.id)
                .filter(|id| !held.contains(id))
                .collect();
            (!ids.is_empty()).then(|| ProductDelete {
                product: summary.id,
                name: summary.name.clone(),
                ids,
            })
        })
        .collect()
}

/// "7 pictures of 2 products".
pub fn pictures_of_products(plan: &[ProductDelete]) -> String {
    let pictures: usize = plan.iter().map(|p| p.ids.len()).sum();
    format!(
        "{pictures} {} of {} {}",
        if pictures == 1 { "picture" } else { "pictures" },
        plan.len(),
        if plan.len() == 1 {
            "product"
        } else {
            "products"
        }
    )
}

impl BulkProducts {
    /// The centre of the window while several products are selected. `names`: the selected
    /// products' names as far as the list holds them.
    pub fn bulk_products_ui(
        &mut self,
        ui: &mut egui::Ui,
        names: &[String],
        count: usize,
        commands: &mut Vec<Command>,
    ) {
        ui.heading(format!("Edit {count} products at once"));
        ui.label(
            egui::RichText::new(
                "Ctrl+click a product to add or remove it, Shift+click to take a range; a plain click opens one product.",
            )
            .small()
            .color(ui.visuals().weak_text_color()),
        );
        if !names.is_empty() {
            ui.label(names.join(", "));
        }
        if ui.button("Clear the selection").clicked() {
            commands.push(Command::ClearProductSelection);
        }
        ui.separator();
        ui.strong("Alt text from a pattern");
        let label = ui.label("Pattern for every image of these products");
        let field = ui
            .add(egui::TextEdit::singleline(&mut self.pattern).desired_width(360.0))
            .labelled_by(label.id)
            .on_hover_text(super::controller::PATTERN_HELP);
        ui.checkbox(&mut self.only_missing, "Only images without alt text");
        let ready = !self.pattern.trim().is_empty() && !self.busy;
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let apply = ui
            .add_enabled(ready, egui::Button::new("Describe their images"))
            .on_hover_text(super::controller::PATTERN_HELP);
        if (apply.clicked() || entered) && ready {
            commands.push(Command::DescribeProducts {
                pattern: self.pattern.clone(),
                only_missing: self.only_missing,
            });
        }
        ui.separator();
        if ui
            .add_enabled(
                !self.busy,
                egui::Button::new(format!("Delete all images of {count} products…")),
            )
            .on_hover_text("Asks first, with the number of pictures")
            .clicked()
        {
            commands.push(Command::AskDeleteProducts);
        }
        if self.busy {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading the products' images…");
            });
        }
    }

    /// "Delete all 7 pictures of 2 products?" with each product's count.
    pub fn confirm_delete_products_ui(
        &self,
        ctx: &egui::Context,
        grace_secs: u64,
        commands: &mut Vec<Command>,
    ) {
        let Some(plan) = &self.confirm else { return };
        egui::Window::new("Delete all images of these products?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                ui.label(format!(
                    "Delete all {}?",
                    pictures_of_products(plan)
                ));
                for part in plan {
                    let n = part.ids.len();
                    ui.label(format!(
                        "{} — {n} {}",
                        part.name,
                        if n == 1 { "picture" } else { "pictures" }
                    ));
                }
                ui.label(format!(
                    "Undo brings them back within {grace_secs} s; after that, \"Recently deleted\" keeps them for 30 days."
                ));
                ui.horizontal(|ui| {
                    if ui
                        .button(format!("Delete {}", pictures_of_products(plan)))
                        .clicked()
                    {
                        commands.push(Command::ConfirmDeleteProducts);
                    }
                    if ui.button("Cancel").clicked() {
                        commands.push(Command::CancelDeleteProducts);
                    }
                });
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64, name: &str, descriptions: &[&str]) -> ProductImages {
        let images = descriptions
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut image = LocalImage::example(id * 10 + i as i64, id);
                image.description = (*d).to_owned();
                image
            })
            .collect();
        (
            ProductSummary {
                id,
                name: name.to_owned(),
                sku: format!("S-{id}"),
                image_count: descriptions.len() as u64,
                has_thumbnail: false,
                pending_edits: 0,
            },
            images,
        )
    }

    #[test]
    fn a_pattern_numbers_images_within_their_own_product_and_skips_described_ones() {
        let products = [
            product(1, "Lamp", &["", "kept", ""]),
            product(2, "Desk", &["", "Desk — view 2"]),
        ];
        let none = HashSet::new();
        let only_missing = describe_changes(&products, "{product} — view {n}", true, &none);
        let texts: Vec<&str> = only_missing.iter().map(|(_, _, t)| t.as_str()).collect();
        assert_eq!(texts, ["Lamp — view 1", "Lamp — view 3", "Desk — view 1"]);
        let all = describe_changes(&products, "{product} — view {n} ({sku})", false, &none);
        assert_eq!(all.len(), 5);
        assert_eq!(
            all[1],
            (ImageId(11), "kept".into(), "Lamp — view 2 (S-1)".into())
        );
        // Unchanged texts send nothing.
        let same = describe_changes(&products, "{product} — view {n}", false, &none);
        assert!(same.iter().all(|(id, _, _)| *id != ImageId(21)));
        // A held delete's image is neither described nor counted.
        let held = HashSet::from([ImageId(10)]);
        let texts: Vec<String> = describe_changes(&products, "v{n}", true, &held)
            .into_iter()
            .map(|(_, _, t)| t)
            .collect();
        assert_eq!(texts, ["v2", "v1"]);
    }

    #[test]
    fn a_delete_plan_counts_pictures_per_product_and_leaves_empty_ones_out() {
        let products = [
            product(1, "Lamp", &["", "", ""]),
            product(2, "Desk", &[]),
            product(3, "Chair", &["x"]),
        ];
        let plan = delete_plan(&products, &HashSet::from([ImageId(12)]));
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].ids, [ImageId(10), ImageId(11)]);
        assert_eq!(pictures_of_products(&plan), "3 pictures of 2 products");
        assert_eq!(pictures_of_products(&plan[1..]), "1 picture of 1 product");
    }
}
