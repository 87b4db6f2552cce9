//! The line above the grid: which product is shown (name, SKU, how many images) and how many
//! images are selected, so that a merchant with many similar products knows where they are;
//! and the "Missing alt text" filter with how many images lack a description.

use egui::RichText;

use super::command::{Command, GridFilter};
use crate::sync::ProductSummary;

/// Draws the header. `product` is `None` while the product's row has not been read yet: the
/// count is still shown, from the images drawn.
pub fn product_header_ui(
    ui: &mut egui::Ui,
    product: Option<&ProductSummary>,
    images: usize,
    selected: usize,
) {
    ui.horizontal(|ui| {
        if let Some(product) = product {
            ui.heading(product.name.as_str());
            let sku = if product.sku.is_empty() {
                "No SKU".to_owned()
            } else {
                format!("SKU {}", product.sku)
            };
            ui.label(RichText::new(sku).weak());
        }
        ui.label(image_count(images));
        // One selected image is what the details panel shows; more need saying.
        if selected > 1 {
            ui.label(RichText::new(format!("{selected} selected")).strong());
        }
    });
    ui.add_space(4.0);
}

/// The "Missing alt text" toggle and how many images lack a description ("3 without alt
/// text"); a click shows only those, another shows all again.
pub fn alt_text_filter_ui(
    ui: &mut egui::Ui,
    filter: GridFilter,
    missing: usize,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let on = filter == GridFilter::MissingAltText;
        if ui
            .selectable_label(on, "Missing alt text")
            .on_hover_text(if on {
                "Show all images again"
            } else {
                "Show only the images without a description (dragging rests while filtered)"
            })
            .clicked()
        {
            commands.push(Command::SetGridFilter(if on {
                GridFilter::All
            } else {
                GridFilter::MissingAltText
            }));
        }
        ui.label(missing_count(missing));
    });
    ui.add_space(4.0);
}

fn missing_count(n: usize) -> String {
    match n {
        0 => "Every image has alt text".to_owned(),
        n => format!("{n} without alt text"),
    }
}

fn image_count(n: usize) -> String {
    match n {
        1 => "1 image".to_owned(),
        n => format!("{n} images"),
    }
}
