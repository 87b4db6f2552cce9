//! The "Recently deleted" window: pictures deleted in the last
//! [`RECENTLY_DELETED_DAYS`](crate::sync::RECENTLY_DELETED_DAYS) days, kept by the engine (see
//! `sync::trash`), each with a small picture, its product, its description, how long ago it
//! went and how long it is still kept, and "Restore" / "Delete now". Opened from the tool bar
//! (and Ctrl+Shift+D). The list and the pictures are read through the backend; the buttons push
//! [`Command`]s.

use std::collections::HashMap;
use std::time::SystemTime;

use egui::TextureHandle;

use super::command::Command;
use super::tiles::Loaded;
use crate::sync::{DeletedId, DeletedPicture, KeptCopy};

/// The side of an entry's picture in the list, in points.
const PICTURE_SIDE: f32 = 64.0;

/// A picture of the list, as far as it has come.
enum Picture {
    Loading,
    Ready(TextureHandle),
    /// No copy yet (the delete has not gone out), or it does not decode.
    None,
}

/// The window's state: whether it is open, the entries last read, and their pictures.
#[derive(Default)]
pub struct RecentlyDeleted {
    open: bool,
    /// `None` until the first read answered.
    entries: Option<Vec<DeletedPicture>>,
    pictures: HashMap<DeletedId, Picture>,
    /// Entries whose picture is to be asked for (taken by [`RecentlyDeleted::take_wanted`]).
    wanted: Vec<DeletedId>,
    /// Entries a Restore or Delete now was sent for: their buttons rest until the list is read
    /// again, so a double click does not restore twice.
    busy: Vec<DeletedId>,
}

impl RecentlyDeleted {
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn open(&mut self) {
        self.open = true;
    }

    pub fn close(&mut self) {
        self.open = false;
    }

    /// The entries last read (for tests and the window).
    pub fn entries(&self) -> &[DeletedPicture] {
        self.entries.as_deref().unwrap_or_default()
    }

    /// A fresh list from the engine. Pictures of entries that are gone are dropped; those of
    /// new entries, and of entries whose copy was made since, are wanted.
    pub fn set_entries(&mut self, entries: Vec<DeletedPicture>) {
        let previous: HashMap<DeletedId, KeptCopy> =
            self.entries().iter().map(|e| (e.id, e.copy)).collect();
        self.pictures
            .retain(|id, _| entries.iter().any(|e| e.id == *id));
        for entry in &entries {
            let copy_changed = previous.get(&entry.id).is_some_and(|c| *c != entry.copy);
            if entry.copy != KeptCopy::Pending
                && (copy_changed || !self.pictures.contains_key(&entry.id))
            {
                self.pictures.insert(entry.id, Picture::Loading);
                self.wanted.push(entry.id);
            }
        }
        self.busy.clear();
        self.entries = Some(entries);
    }

    /// A decoded picture arrived.
    pub fn picture_arrived(&mut self, ctx: &egui::Context, id: DeletedId, loaded: Loaded) {
        if !self.pictures.contains_key(&id) {
            return;
        }
        let picture = match loaded {
            Loaded::Picture(image) => Picture::Ready(ctx.load_texture(
                format!("recently-deleted-{}", id.0),
                image,
                egui::TextureOptions::LINEAR,
            )),
            Loaded::NoPicture | Loaded::Failed => Picture::None,
        };
        self.pictures.insert(id, picture);
    }

    /// Pictures to ask the backend for, once each.
    pub fn take_wanted(&mut self) -> Vec<DeletedId> {
        std::mem::take(&mut self.wanted)
    }

    /// A Restore or Delete now went out for `id`.
    pub fn mark_busy(&mut self, id: DeletedId) {
        self.busy.push(id);
    }

    /// Draws the window; `product_name` names a product the entry's own name does not.
    pub fn recently_deleted_ui(
        &self,
        ctx: &egui::Context,
        product_name: impl Fn(i64) -> String,
        commands: &mut Vec<Command>,
    ) {
        let mut open = self.open;
        let now = SystemTime::now();
        egui::Window::new("Recently deleted")
            .id(egui::Id::unique("recently-deleted"))
            .open(&mut open)
            .collapsible(false)
            .default_width(640.0)
            .pivot(egui::Align2::CENTER_TOP)
            .default_pos(ctx.content_rect().center_top() + egui::vec2(0.0, 80.0))
            .show(ctx, |ui| {
                ui.label(format!(
                    "Deleted pictures are kept on this computer for {} days. Restore puts one \
                     back in its old place, with its description.",
                    crate::sync::RECENTLY_DELETED_DAYS
                ));
                ui.separator();
                match &self.entries {
                    None => {
                        ui.label("Reading…");
                    }
                    Some(entries) if entries.is_empty() => {
                        ui.label("Nothing was deleted in the last 30 days.");
                    }
                    Some(entries) => {
                        egui::ScrollArea::vertical()
                            .max_height(420.0)
                            .show(ui, |ui| {
                                egui::Grid::new("recently-deleted-grid")
                                    .num_columns(3)
                                    .striped(true)
                                    .spacing([12.0, 8.0])
                                    .show(ui, |ui| {
                                        for entry in entries {
                                            self.entry_ui(ui, entry, now, &product_name, commands);
                                            ui.end_row();
                                        }
                                    });
                            });
                    }
                }
                if ui.button("Close").clicked() {
                    commands.push(Command::CloseRecentlyDeleted);
                }
            });
        if !open {
            commands.push(Command::CloseRecentlyDeleted);
        }
    }

    fn entry_ui(
        &self,
        ui: &mut egui::Ui,
        entry: &DeletedPicture,
        now: SystemTime,
        product_name: &impl Fn(i64) -> String,
        commands: &mut Vec<Command>,
    ) {
        let side = egui::vec2(PICTURE_SIDE, PICTURE_SIDE);
        match self.pictures.get(&entry.id) {
            Some(Picture::Ready(texture)) => {
                ui.add(egui::Image::new(texture).fit_to_exact_size(side));
            }
            Some(Picture::Loading) => {
                ui.add_sized(side, egui::Spinner::new());
            }
            Some(Picture::None) | None => {
                ui.add_sized(side, egui::Label::new("No picture"));
            }
        }
        ui.vertical(|ui| {
            let product = entry
                .product_name
                .clone()
                .unwrap_or_else(|| product_name(entry.product_id));
            ui.strong(product);
            if entry.description.is_empty() {
                ui.weak("(no description)");
            } else {
                ui.label(&entry.description);
            }
            ui.weak(format!(
                "{} · {} · place {}",
                days_ago_words(entry.days_ago(now)),
                days_left_words(entry.days_left(now)),
                entry.position + 1
            ));
            if let Some(said) = copy_words(entry.copy) {
                ui.weak(said);
            }
        });
        let busy = self.busy.contains(&entry.id);
        let ready = entry.copy != KeptCopy::Pending;
        ui.horizontal(|ui| {
            if ui
                .add_enabled(ready && !busy, egui::Button::new("Restore"))
                .on_hover_text("Put the picture back in its old place, with its description")
                .on_disabled_hover_text(if busy {
                    "On its way"
                } else {
                    "The copy is made when the delete reaches the store"
                })
                .clicked()
            {
                commands.push(Command::RestoreDeleted(entry.id));
            }
            if ui
                .add_enabled(!busy, egui::Button::new("Delete now"))
                .on_hover_text("Remove the kept copy for good; it cannot be restored after this")
                .clicked()
            {
                commands.push(Command::ForgetDeleted(entry.id));
            }
        });
    }
}

/// "deleted today", "deleted yesterday", "deleted 3 days ago".
pub fn days_ago_words(days: u64) -> String {
    match days {
        0 => "deleted today".into(),
        1 => "deleted yesterday".into(),
        n => format!("deleted {n} days ago"),
    }
}

/// "kept for 27 more days", "kept until tomorrow", "kept until the end of today".
pub fn days_left_words(days: u64) -> String {
    match days {
        0 => "kept until later today".into(),
        1 => "kept for 1 more day".into(),
        n => format!("kept for {n} more days"),
    }
}

/// What the user should know about the copy kept, if anything.
fn copy_words(copy: KeptCopy) -> Option<&'static str> {
    match copy {
        KeptCopy::Original | KeptCopy::Upload => None,
        KeptCopy::Pending => Some("Its copy is made when the delete reaches the store."),
        KeptCopy::Smaller => Some("Only a smaller copy could be kept."),
    }
}

/// The notice after a restore, in plain words.
pub fn restored_words(description: &str, product: &str, position: usize) -> String {
    let what = if description.is_empty() {
        "the picture".to_owned()
    } else {
        format!("\"{description}\"")
    };
    format!(
        "Restored {what} to {product}, at place {}. It goes to the store with the next sync.",
        position + 1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_plain_words() {
        assert_eq!(days_ago_words(0), "deleted today");
        assert_eq!(days_ago_words(3), "deleted 3 days ago");
        assert_eq!(days_left_words(27), "kept for 27 more days");
        assert_eq!(days_left_words(1), "kept for 1 more day");
    }

    #[test]
    fn a_restore_is_told_with_its_place_counted_from_one() {
        assert_eq!(
            restored_words("front", "Blue mug", 1),
            "Restored \"front\" to Blue mug, at place 2. It goes to the store with the next sync."
        );
        assert!(restored_words("", "Mug", 0).starts_with("Restored the picture to Mug"));
    }

    #[test]
    fn only_a_copy_worth_knowing_about_is_mentioned() {
        assert_eq!(copy_words(KeptCopy::Original), None);
        assert!(copy_words(KeptCopy::Smaller).is_some());
    }
}
