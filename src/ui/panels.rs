//! The side panels, tool bar and status bar.

use egui::RichText;

use super::command::Command;
use crate::sync::{Connection, LocalImage, ProductSummary, Status};

/// The product list; a click asks to show that product.
pub fn products_ui(
    ui: &mut egui::Ui,
    products: &[ProductSummary],
    filter: &mut String,
    selected: Option<i64>,
    commands: &mut Vec<Command>,
) {
    ui.heading("Products");
    let label = ui.label("Search products");
    ui.add(
        egui::TextEdit::singleline(filter)
            .hint_text("name, SKU or id")
            .desired_width(f32::INFINITY),
    )
    .labelled_by(label.id);
    ui.separator();
    let needle = filter.trim().to_lowercase();
    egui::ScrollArea::vertical().show(ui, |ui| {
        for product in products.iter().filter(|p| matches(p, &needle)) {
            let mut text = format!("{} ({})", product.name, product.image_count);
            if !product.has_thumbnail && product.image_count > 0 {
                text.push_str(" · no thumbnail");
            }
            if product.pending_edits > 0 {
                text.push_str(&format!(" · {} pending", product.pending_edits));
            }
            let response = ui.selectable_label(selected == Some(product.id), text);
            if response.clicked() {
                commands.push(Command::SelectProduct(product.id));
            }
        }
    });
}

fn matches(product: &ProductSummary, needle: &str) -> bool {
    needle.is_empty()
        || product.name.to_lowercase().contains(needle)
        || product.sku.to_lowercase().contains(needle)
        || product.id.to_string() == needle
}

/// The focused image's details: description editor, thumbnail, preview, replacement, facts.
pub fn details_ui(
    ui: &mut egui::Ui,
    image: &LocalImage,
    draft: &mut String,
    replace_path: &mut String,
    commands: &mut Vec<Command>,
) {
    ui.heading("Details");
    ui.separator();
    let label = ui.label("Description (alt text)");
    ui.add(egui::TextEdit::multiline(draft).desired_rows(3))
        .labelled_by(label.id);
    ui.horizontal(|ui| {
        let changed = *draft != image.description;
        if ui
            .add_enabled(changed, egui::Button::new("Save description"))
            .clicked()
        {
            commands.push(Command::SaveDescription {
                id: image.id,
                text: draft.clone(),
            });
        }
        if ui
            .add_enabled(!image.is_thumbnail, egui::Button::new("Set as thumbnail"))
            .clicked()
        {
            commands.push(Command::SetThumbnail(image.id));
        }
    });
    if ui
        .button("Preview")
        .on_hover_text("Show it large (double-click, Enter)")
        .clicked()
    {
        commands.push(Command::Preview(image.id));
    }
    ui.separator();
    let label = ui.label("Replacement file path");
    ui.add(egui::TextEdit::singleline(replace_path).desired_width(f32::INFINITY))
        .labelled_by(label.id);
    ui.horizontal(|ui| {
        if ui
            .button("Replace picture")
            .on_hover_text("Upload the file at this path in place of the picture, keeping its place and description")
            .clicked()
        {
            commands.push(match replace_path.trim() {
                "" => Command::ChooseReplacement(image.id),
                path => Command::Replace {
                    id: image.id,
                    path: path.into(),
                },
            });
        }
    });
    ui.separator();
    egui::Grid::new("image-facts")
        .num_columns(2)
        .show(ui, |ui| {
            if let (Some(w), Some(h)) = (image.width, image.height) {
                ui.label("Size");
                ui.label(format!("{w} × {h} px"));
                ui.end_row();
            }
            if let Some(bytes) = image.file_size {
                ui.label("File");
                ui.label(format!("{:.1} KiB", bytes as f64 / 1024.0));
                ui.end_row();
            }
            ui.label("Store id");
            ui.label(
                image
                    .server_id
                    .map_or_else(|| "not uploaded yet".to_owned(), |id| id.to_string()),
            )
            .on_hover_text(format!("Stored as {}", image.image_file));
            ui.end_row();
        });
    for (name, url) in [
        ("zoom", &image.zoom_url),
        ("standard", &image.standard_url),
        ("thumbnail", &image.thumbnail_url),
        ("tiny", &image.tiny_url),
    ] {
        if let Some(url) = url {
            ui.hyperlink_to(name, url);
        }
    }
}

pub fn status_ui(ui: &mut egui::Ui, status: &Status, store_images: Option<u64>) {
    ui.horizontal(|ui| {
        let (text, colour) = match status.connection {
            Connection::Online => ("online", egui::Color32::LIGHT_GREEN),
            Connection::Syncing => ("syncing", egui::Color32::LIGHT_BLUE),
            Connection::Offline => ("offline", egui::Color32::LIGHT_RED),
            Connection::Unknown => ("connecting", ui.visuals().weak_text_color()),
        };
        ui.label(RichText::new(text).color(colour));
        if status.paused {
            ui.label("(paused)");
        }
        ui.separator();
        ui.label(format!("{} pending", status.pending));
        if status.failed > 0 {
            ui.label(
                RichText::new(format!("{} failed", status.failed)).color(egui::Color32::LIGHT_RED),
            );
        }
        ui.separator();
        ui.label(match status.last_sync {
            Some(at) => format!("last sync {}", ago(at)),
            None => "not synced yet".to_owned(),
        });
        ui.separator();
        if let Some(count) = store_images {
            ui.label(format!("{count} images in the store"));
        }
        if let Some(error) = &status.last_error {
            ui.separator();
            ui.label(RichText::new(error).small()).on_hover_text(error);
        }
    });
}

/// "just now", "5 min ago", "2 h ago": coarse on purpose, so the bar does not tick every second.
fn ago(at: std::time::SystemTime) -> String {
    let secs = at.elapsed().map_or(0, |d| d.as_secs());
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}
