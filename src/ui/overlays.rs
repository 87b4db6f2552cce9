//! What floats over the window: the messages in the bottom-right corner (Undo toasts of held
//! deletes, conflicts, notices) and the "Delete all images?" question.

use std::time::{Duration, Instant};

use super::command::Command;
use super::history::HeldDelete;
use super::session::ConfirmDeleteAll;
use crate::sync::{Conflict, ConflictField, RecordKind, UnreadableRecord};

/// Toasts, conflicts and notices float above the bottom-right corner, so that they never move
/// what is under the pointer. `product_name` names a conflict's product.
pub fn messages_ui(
    ui: &mut egui::Ui,
    held: &[HeldDelete],
    conflicts: &[Conflict],
    notices: &[String],
    product_name: impl Fn(i64) -> String,
    commands: &mut Vec<Command>,
) {
    if held.is_empty() && conflicts.is_empty() && notices.is_empty() {
        return;
    }
    egui::Area::new(egui::Id::unique("messages"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
        .order(egui::Order::Foreground)
        .show(ui.ctx(), |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.set_max_width(560.0);
                held_deletes_ui(ui, held, commands);
                conflicts_ui(ui, conflicts, product_name, commands);
                notices_ui(ui, notices, commands);
            });
        });
}

/// The Undo toasts of deletes that have not gone to the engine yet.
fn held_deletes_ui(ui: &mut egui::Ui, held: &[HeldDelete], commands: &mut Vec<Command>) {
    for held in held {
        ui.horizontal(|ui| {
            let count = held.ids.len();
            ui.label(format!(
                "Deleted {count} image{} of \"{}\".",
                if count == 1 { "" } else { "s" },
                held.product_name
            ));
            let left = held.until.saturating_duration_since(Instant::now());
            if ui
                .button("Undo delete")
                .on_hover_text(format!("{} s left to undo (Ctrl+Z)", left.as_secs() + 1))
                .clicked()
            {
                commands.push(Command::UndoHeldDelete(held.ids.clone()));
            }
        });
    }
}

fn conflicts_ui(
    ui: &mut egui::Ui,
    conflicts: &[Conflict],
    product_name: impl Fn(i64) -> String,
    commands: &mut Vec<Command>,
) {
    for (index, conflict) in conflicts.iter().enumerate() {
        ui.horizontal_wrapped(|ui| {
            let (what, choice) = match conflict.field {
                ConflictField::Description => ("description", true),
                ConflictField::Thumbnail => ("thumbnail", true),
                // The store's earlier picture is gone once yours replaced it.
                ConflictField::Picture => ("picture", false),
            };
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "Image {} of \"{}\": the store changed its {what} to \"{}\" while you changed it to \"{}\". Yours was kept.",
                    conflict.image,
                    product_name(conflict.product_id),
                    conflict.server,
                    conflict.local
                ),
            );
            if ui.small_button("Keep mine").clicked() {
                commands.push(Command::SettleConflict {
                    index,
                    take_store: false,
                });
            }
            if choice && ui.small_button("Use the store's").clicked() {
                commands.push(Command::SettleConflict {
                    index,
                    take_store: true,
                });
            }
        });
    }
}

fn notices_ui(ui: &mut egui::Ui, notices: &[String], commands: &mut Vec<Command>) {
    for (index, notice) in notices.iter().enumerate() {
        ui.horizontal(|ui| {
            ui.colored_label(ui.visuals().warn_fg_color, notice);
            if ui.small_button("Dismiss").clicked() {
                commands.push(Command::DismissNotice(index));
            }
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
