//! The "Pending" window: every edit the engine still holds (waiting to be sent, held because the
//! store changed the same thing, or refused by the store), with its product, what it does, why
//! it waits, and its buttons: Discard for a waiting edit, "Keep mine" / "Use the store's" (both
//! sides shown) for a held one, Retry / Discard for a refused one. Opened from the status bar's
//! pending and failed counts.

use std::collections::HashMap;

use super::command::Command;
use super::overlays::{choice_ui, held_sides_ui};
use super::session::Pictured;
use super::words;
use crate::sync::{EditKind, ImageId, OutboxEntry};

/// A queued edit's kind, as the user did it.
pub fn edit_in_words(kind: Option<EditKind>) -> &'static str {
    match kind {
        Some(EditKind::Create) => "Add a picture",
        Some(EditKind::Describe) => "Change a description",
        Some(EditKind::SetThumbnail) => "Choose the thumbnail",
        Some(EditKind::Reorder) => "Change the order",
        Some(EditKind::Replace) => "Replace a picture",
        Some(EditKind::Delete) => "Delete pictures",
        Some(EditKind::DeleteAll) => "Delete all pictures",
        // Queued by a newer imagedesk: it is never sent, only discarded.
        None => "A change this version cannot read",
    }
}

/// The window; `product_name` and `image_name` say which product and picture an edit is about,
/// `pictures` the pictures of held edits by seq (see `StoreSession::conflict_pictures`).
pub fn pending_ui(
    ctx: &egui::Context,
    outbox: &[OutboxEntry],
    pictures: &HashMap<i64, (Pictured, Option<Pictured>)>,
    product_name: impl Fn(i64) -> String,
    image_name: impl Fn(ImageId) -> String,
    commands: &mut Vec<Command>,
) {
    let mut open = true;
    egui::Window::new("Pending changes")
        .id(egui::Id::unique("pending-changes"))
        .open(&mut open)
        .collapsible(false)
        .default_width(640.0)
        // Near the top: the notices in the bottom-right corner (which often explain these
        // edits) stay visible and do not cover its buttons.
        .pivot(egui::Align2::CENTER_TOP)
        .default_pos(ctx.content_rect().center_top() + egui::vec2(0.0, 80.0))
        .show(ctx, |ui| {
            let failed = outbox.iter().filter(|e| e.failed.is_some()).count();
            let held = outbox.iter().filter(|e| e.held.is_some()).count();
            ui.label(format!(
                "{} waiting to be sent, {held} held for your choice, {failed} refused by the store.",
                outbox.len() - failed - held
            ));
            ui.separator();
            if outbox.is_empty() {
                ui.label("Nothing waits: every change reached the store.");
            }
            egui::ScrollArea::vertical()
                .max_height(360.0)
                .show(ui, |ui| {
                    egui::Grid::new("pending-grid")
                        .num_columns(4)
                        .striped(true)
                        .show(ui, |ui| {
                            for heading in ["Product", "Change", "Why it waits", ""] {
                                ui.strong(heading);
                            }
                            ui.end_row();
                            for entry in outbox {
                                entry_ui(
                                    ui,
                                    entry,
                                    pictures,
                                    &product_name,
                                    &image_name,
                                    commands,
                                );
                                ui.end_row();
                            }
                        });
                });
            if ui.button("Close").clicked() {
                commands.push(Command::ClosePending);
            }
        });
    if !open {
        commands.push(Command::ClosePending);
    }
}

fn entry_ui(
    ui: &mut egui::Ui,
    entry: &OutboxEntry,
    pictures: &HashMap<i64, (Pictured, Option<Pictured>)>,
    product_name: &impl Fn(i64) -> String,
    image_name: &impl Fn(ImageId) -> String,
    commands: &mut Vec<Command>,
) {
    ui.label(product_name(entry.product_id));
    let what = edit_in_words(entry.kind);
    ui.label(match entry.image {
        Some(image) => format!("{what} ({})", image_name(image)),
        None => what.to_owned(),
    });
    if let Some(held) = &entry.held {
        ui.vertical(|ui| {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "Held: the store changed it too. Which one stays?",
            );
            held_sides_ui(ui, held, pictures.get(&entry.seq));
        });
        choice_ui(ui, entry.seq, commands);
        return;
    }
    match &entry.failed {
        Some(raw) => {
            let said = if words::unreachable(raw) {
                "The store could not be reached.".to_owned()
            } else {
                format!("Refused: {}.", words::store_reason(raw))
            };
            ui.colored_label(ui.visuals().error_fg_color, said)
                .on_hover_text(raw);
        }
        None => {
            ui.label("Waiting to be sent");
        }
    }
    ui.horizontal(|ui| {
        if entry.failed.is_some()
            && entry.kind.is_some()
            && ui
                .small_button("Retry")
                .on_hover_text("Send it to the store again")
                .clicked()
        {
            commands.push(Command::RetryEdit(entry.seq));
        }
        if ui
            .small_button("Discard")
            .on_hover_text("Give up this change; the store's value comes back")
            .clicked()
        {
            commands.push(Command::DiscardEdit(entry.seq));
        }
    });
}

#[cfg(test)]
mod tests {
    use egui_kittest::kittest::Queryable as _;

    use super::*;
    use crate::sync::{ConflictField, HeldConflict};

    fn entry(seq: i64, held: Option<HeldConflict>, failed: Option<&str>) -> OutboxEntry {
        OutboxEntry {
            seq,
            kind: Some(EditKind::Describe),
            product_id: 7,
            image: Some(ImageId(seq)),
            failed: failed.map(str::to_owned),
            held,
        }
    }

    #[test]
    fn a_held_edit_shows_both_texts_and_offers_keep_mine_and_use_the_stores() {
        let outbox = vec![
            entry(
                1,
                Some(HeldConflict {
                    field: ConflictField::Description,
                    mine: "my words".into(),
                    theirs: "their words".into(),
                    theirs_modified: None,
                }),
                None,
            ),
            entry(2, None, None),
            entry(3, None, Some("too long")),
        ];
        let pictures = HashMap::new();
        let mut harness = egui_kittest::Harness::new_ui_state(
            |ui, commands: &mut Vec<Command>| {
                pending_ui(
                    ui.ctx(),
                    &outbox,
                    &pictures,
                    |id| format!("Lamp #{id}"),
                    |image| format!("image {}", image.0),
                    commands,
                );
            },
            Vec::new(),
        );
        harness.run();
        harness
            .get_by_label("1 waiting to be sent, 1 held for your choice, 1 refused by the store.");
        harness.get_by_label("Yours");
        harness.get_by_label("The store's");
        harness.get_by_label("\u{201c}my words\u{201d}");
        harness.get_by_label("\u{201c}their words\u{201d}");
        assert_eq!(
            harness.query_all_by_label("Discard").count(),
            2,
            "the waiting and the refused edit; the held one is decided by the choice"
        );
        harness.get_by_label("Keep mine").click();
        harness.run();
        harness.get_by_label("Use the store's").click();
        harness.run();
        harness.get_by_label("Retry").click();
        harness.run();
        assert_eq!(
            harness.state(),
            &[
                Command::KeepMine(1),
                Command::UseTheirs(1),
                Command::RetryEdit(3)
            ]
        );
    }
}
