//! What floats over the window: the messages in the bottom-right corner (Undo toasts of held
//! deletes, conflicts, notices) and the "Delete all images?" question.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::command::Command;
use super::history::HeldDelete;
use super::notices::{Notice, Severity};
use super::session::{ConfirmDeleteAll, Pictured};
use crate::sync::{ConflictField, HeldConflict, OutboxEntry, RecordKind, UnreadableRecord};

/// The widest the message stack gets; narrower when the window is.
const MESSAGES_MAX_WIDTH: f32 = 560.0;

/// Toasts, held edits and notices float above the bottom-right corner, so that they never move
/// what is under the pointer. `conflicts` are the held edits to show; `product_name` names their
/// product; `pictures` holds their pictures by seq (see `StoreSession::conflict_pictures`).
pub fn messages_ui(
    ui: &mut egui::Ui,
    held: &[HeldDelete],
    conflicts: &[OutboxEntry],
    pictures: &HashMap<i64, (Pictured, Option<Pictured>)>,
    notices: &[Notice],
    product_name: impl Fn(i64) -> String,
    commands: &mut Vec<Command>,
) {
    if held.is_empty() && conflicts.is_empty() && notices.is_empty() {
        return;
    }
    // The stack is anchored at the right: its width must leave room on the left, or long
    // words run out of the window there.
    let width = MESSAGES_MAX_WIDTH
        .min(ui.ctx().content_rect().width() - 48.0)
        .max(120.0);
    egui::Area::new(egui::Id::unique("messages"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
        .order(egui::Order::Foreground)
        .show(ui.ctx(), |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.set_max_width(width);
                ui.set_width(width);
                held_deletes_ui(ui, held, commands);
                conflicts_ui(ui, conflicts, pictures, product_name, commands);
                notices_ui(ui, notices, commands);
            });
        });
}

/// The Undo toasts of deletes that have not gone to the engine yet.
fn held_deletes_ui(ui: &mut egui::Ui, held: &[HeldDelete], commands: &mut Vec<Command>) {
    for held in held {
        ui.horizontal_wrapped(|ui| {
            let count = held.ids.len();
            ui.label(format!(
                "Deleted {count} image{} of \"{}\".",
                if count == 1 { "" } else { "s" },
                held.product_name
            ));
            let left = held.until.saturating_duration_since(Instant::now());
            // The countdown ticks on screen: redraw when the next second begins.
            ui.ctx()
                .request_repaint_after(Duration::from_millis(u64::from(left.subsec_millis()) + 1));
            if ui
                .button(format!("Undo ({} s)", left.as_secs() + 1))
                .on_hover_text("Keep the images: the delete is not sent (Ctrl+Z)")
                .clicked()
            {
                commands.push(Command::UndoHeldDelete(held.ids.clone()));
            }
        });
    }
}

/// Side of a conflict's pictures, in points.
const CONFLICT_PICTURE: f32 = 48.0;

/// A picture of a conflict with its caption ("Image 2"), or the caption alone.
fn picture_ui(ui: &mut egui::Ui, picture: &Pictured, caption: &str) {
    ui.vertical(|ui| {
        match &picture.texture {
            Some(texture) => {
                ui.add(
                    egui::Image::new(texture)
                        .fit_to_exact_size(egui::vec2(CONFLICT_PICTURE, CONFLICT_PICTURE))
                        .maintain_aspect_ratio(true),
                );
            }
            None => {
                ui.allocate_exact_size(
                    egui::vec2(CONFLICT_PICTURE, CONFLICT_PICTURE),
                    egui::Sense::hover(),
                );
            }
        }
        ui.small(caption);
    });
}

fn image_words(picture: &Pictured) -> String {
    picture
        .position
        .map_or_else(|| "A picture".to_owned(), |at| format!("Image {at}"))
}

/// The two sides of a held edit next to each other: "Yours" and "The store's", as texts for a
/// description, as pictures for a thumbnail (and the picture itself beside the store's file
/// name for a replaced picture, whose earlier version only the store shows).
pub fn held_sides_ui(
    ui: &mut egui::Ui,
    held: &HeldConflict,
    pictures: Option<&(Pictured, Option<Pictured>)>,
) {
    let (mine, theirs) = pictures.cloned().unwrap_or_default();
    ui.horizontal_top(|ui| {
        for (heading, text, picture) in [
            ("Yours", &held.mine, Some(&mine)),
            ("The store's", &held.theirs, theirs.as_ref()),
        ] {
            ui.vertical(|ui| {
                ui.set_max_width(SIDE_WIDTH);
                ui.strong(heading);
                match held.field {
                    ConflictField::Description => {
                        ui.add(egui::Label::new(quoted(text)).wrap());
                    }
                    ConflictField::Thumbnail => {
                        let fallback = Pictured::default();
                        let picture = picture.unwrap_or(&fallback);
                        picture_ui(ui, picture, &image_words(picture));
                    }
                    ConflictField::Picture => {
                        if let Some(picture) = picture {
                            picture_ui(ui, picture, &image_words(picture));
                        }
                        ui.add(egui::Label::new(egui::RichText::new(text).small()).wrap());
                    }
                }
            });
        }
    });
}

/// Width of one side of a held edit.
const SIDE_WIDTH: f32 = 220.0;

fn quoted(text: &str) -> String {
    if text.is_empty() {
        "(empty)".to_owned()
    } else {
        format!("\u{201c}{text}\u{201d}")
    }
}

/// What a held edit is about, in words: "The description of image 2 of \"Lamp\"".
pub fn held_subject(field: ConflictField, image: &str, product: &str) -> String {
    match field {
        ConflictField::Description => format!("The description of {image} of \"{product}\""),
        ConflictField::Picture => format!("The picture of {image} of \"{product}\""),
        ConflictField::Thumbnail => format!("The thumbnail of \"{product}\""),
    }
}

/// The held edits' messages: both sides, "Keep mine", "Use the store's", and "Later".
fn conflicts_ui(
    ui: &mut egui::Ui,
    conflicts: &[OutboxEntry],
    pictures: &HashMap<i64, (Pictured, Option<Pictured>)>,
    product_name: impl Fn(i64) -> String,
    commands: &mut Vec<Command>,
) {
    for entry in conflicts {
        let Some(held) = &entry.held else { continue };
        let sides = pictures.get(&entry.seq);
        let image = sides.map_or_else(
            || "a picture".to_owned(),
            |(mine, _)| image_words(mine).to_lowercase(),
        );
        let product = product_name(entry.product_id);
        ui.vertical(|ui| {
            ui.add(
                egui::Label::new(
                    egui::RichText::new(format!(
                        "{} was changed on the store too. Yours is not sent until you choose.",
                        held_subject(held.field, &image, &product)
                    ))
                    .color(ui.visuals().warn_fg_color),
                )
                .wrap(),
            );
            held_sides_ui(ui, held, sides);
            choice_ui(ui, entry.seq, commands);
            if ui
                .small_button("Later")
                .on_hover_text("Hide this message; the Pending window still lists the change")
                .clicked()
            {
                commands.push(Command::ConflictLater(entry.seq));
            }
        });
        ui.separator();
    }
}

/// "Keep mine" and "Use the store's" for the held edit `seq`.
pub fn choice_ui(ui: &mut egui::Ui, seq: i64, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        if ui
            .small_button("Keep mine")
            .on_hover_text("Send your change: it replaces the store's")
            .clicked()
        {
            commands.push(Command::KeepMine(seq));
        }
        if ui
            .small_button("Use the store's")
            .on_hover_text("Drop your change: the store's stays")
            .clicked()
        {
            commands.push(Command::UseTheirs(seq));
        }
    });
}

/// The colour of a notice of `severity`.
fn severity_colour(ui: &egui::Ui, severity: Severity) -> egui::Color32 {
    let visuals = ui.visuals();
    match severity {
        Severity::Info => visuals.text_color(),
        Severity::Success => {
            if visuals.dark_mode {
                egui::Color32::LIGHT_GREEN
            } else {
                egui::Color32::DARK_GREEN
            }
        }
        Severity::Warning => visuals.warn_fg_color,
        Severity::Error => visuals.error_fg_color,
    }
}

fn notices_ui(ui: &mut egui::Ui, notices: &[Notice], commands: &mut Vec<Command>) {
    for (index, notice) in notices.iter().enumerate() {
        ui.horizontal(|ui| {
            let dismiss = ui.small_button("Dismiss");
            if dismiss.clicked() {
                commands.push(Command::DismissNotice(index));
            }
            ui.vertical(|ui| {
                let colour = severity_colour(ui, notice.severity);
                ui.add(egui::Label::new(egui::RichText::new(&notice.text).color(colour)).wrap());
                if let Some(details) = &notice.details {
                    egui::CollapsingHeader::new("Details")
                        .id_salt(("notice-details", index, &notice.text))
                        .show(ui, |ui| {
                            ui.add(
                                egui::Label::new(egui::RichText::new(details).small().monospace())
                                    .wrap(),
                            );
                        });
                }
            });
        });
    }
}

/// "Delete all images?" with the product's name and count; `grace` is how long Undo works.
pub fn confirm_delete_all_ui(
    ui: &mut egui::Ui,
    confirm: &ConfirmDeleteAll,
    grace: Duration,
    commands: &mut Vec<Command>,
) {
    let mut decided = None;
    let modal = egui::Modal::new(egui::Id::unique("confirm-delete-all")).show(ui.ctx(), |ui| {
        ui.heading("Delete all images?");
        ui.label(format!(
            "This deletes all {} images of \"{}\" from the store. You can undo it for {} seconds; after that they are gone.",
            confirm.count,
            confirm.name,
            grace.as_secs()
        ));
        ui.horizontal(|ui| {
            if ui
                .button(format!("Delete all {} images", confirm.count))
                .clicked()
            {
                decided = Some(Command::ConfirmDeleteAll);
            }
            if ui.button("Cancel").clicked() {
                decided = Some(Command::CancelDeleteAll);
            }
        });
    });
    if modal.should_close() {
        decided = Some(Command::CancelDeleteAll);
    }
    commands.extend(decided);
}

/// The store's records that could not be read (skipped by the pulls): product, image, field and
/// the store's value, so the user can find and fix them on the store.
pub fn unreadable_ui(
    ctx: &egui::Context,
    records: &[UnreadableRecord],
    product_name: impl Fn(i64) -> String,
    commands: &mut Vec<Command>,
) {
    let mut open = true;
    egui::Window::new("Records that could not be read")
        .id(egui::Id::unique("unreadable-records"))
        .open(&mut open)
        .collapsible(false)
        .default_width(560.0)
        // Centred, not at the top left where it would hide the tool bar (Refresh).
        .pivot(egui::Align2::CENTER_CENTER)
        .default_pos(ctx.content_rect().center())
        .show(ctx, |ui| {
            ui.label(
                "The store sent these records in a form imagedesk cannot read; they are left \
                 out until they are fixed on the store.",
            );
            ui.separator();
            if records.is_empty() {
                ui.label("None now.");
            }
            egui::ScrollArea::vertical()
                .max_height(320.0)
                .show(ui, |ui| {
                    egui::Grid::new("unreadable-grid")
                        .num_columns(4)
                        .striped(true)
                        .show(ui, |ui| {
                            for heading in ["Product", "Image", "Field", "The store's value"] {
                                ui.strong(heading);
                            }
                            ui.end_row();
                            for record in records {
                                ui.label(record.product_id.map_or_else(
                                    || "unknown".to_owned(),
                                    |id| format!("{} ({id})", product_name(id)),
                                ));
                                ui.label(match (record.kind, record.id) {
                                    (RecordKind::Image, Some(id)) => id.to_string(),
                                    (RecordKind::Image, None) => "unknown".to_owned(),
                                    (RecordKind::Product, _) => "—".to_owned(),
                                });
                                ui.label(record.field.as_deref().unwrap_or("(the record)"));
                                ui.label(record.value.to_string())
                                    .on_hover_text(&record.reason);
                                ui.end_row();
                            }
                        });
                });
            if ui.button("Close").clicked() {
                commands.push(Command::CloseUnreadable);
            }
        });
    if !open {
        commands.push(Command::CloseUnreadable);
    }
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::sync::FieldValue;

    #[test]
    fn the_unreadable_records_list_product_image_field_and_the_stores_value() {
        let records = vec![
            UnreadableRecord {
                kind: RecordKind::Image,
                product_id: Some(7),
                id: Some(42),
                field: Some("sort_order".into()),
                value: FieldValue::Json("\"first\"".into()),
                reason: "an integer".into(),
            },
            UnreadableRecord {
                kind: RecordKind::Product,
                product_id: None,
                id: None,
                field: Some("id".into()),
                value: FieldValue::Missing,
                reason: "an integer".into(),
            },
        ];
        let mut harness = egui_kittest::Harness::new_ui_state(
            |ui, commands: &mut Vec<Command>| {
                unreadable_ui(ui.ctx(), &records, |id| format!("Lamp #{id}"), commands);
            },
            Vec::new(),
        );
        harness.run();
        for text in [
            "Lamp #7 (7)",
            "42",
            "sort_order",
            "\"first\"",
            "missing",
            "unknown",
        ] {
            harness.get_by_label(text);
        }
        harness.get_by_label("Close").click();
        harness.run();
        assert_eq!(harness.state(), &[Command::CloseUnreadable]);
    }
}
