//! The alt-text prompt: after pictures are added (chosen, dropped, typed or by URL), a panel
//! under the grid asks for their descriptions. A picture without one is silent to a shopper
//! using a screen reader and invisible to search, and the moment of adding is when the user
//! knows what each picture shows.
//!
//! It never blocks: it is a panel docked under the grid, not a window over it, so it covers no
//! tile and catches no drop; rows that arrive while something is dragged wait until the drag
//! ends, so the grid does not shrink under the pointer; it takes the keyboard focus only when
//! the user clicks into it. A second add while it is open adds rows and keeps what was typed.
//! "Save" sends each description as an ordinary describe edit (undo and the outbox treat it as
//! any other description); "Skip" leaves the pictures without one.

use std::path::Path;

use egui::{Align2, FontId, Rect, Sense, Vec2};

use super::command::Command;
use super::tiles::{Tile, TileCache};
use crate::sync::{ImageId, LocalImage};

/// The side of a row's picture.
const THUMB: f32 = 48.0;
/// The rows' scroll area stops growing here, so that many files leave the grid its room.
const MAX_ROWS_HEIGHT: f32 = 180.0;

/// Why the prompt asks, in one line.
pub const WHY: &str = "Shoppers using screen readers hear this text instead of seeing the \
                       picture, and search engines read it.";

/// An image an add made, with the name the user knows it by (the file's, or the URL's last
/// part) until its tile can be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPicture {
    pub id: ImageId,
    pub name: String,
}

impl NewPicture {
    pub fn from_path(id: ImageId, path: &Path) -> NewPicture {
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        NewPicture { id, name }
    }

    pub fn from_url(id: ImageId, url: &str) -> NewPicture {
        let trimmed = url.split(['?', '#']).next().unwrap_or(url);
        let name = trimmed
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|last| !last.is_empty())
            .unwrap_or(url);
        NewPicture {
            id,
            name: name.to_owned(),
        }
    }
}

/// One picture waiting for its description, with what is typed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRow {
    pub id: ImageId,
    pub name: String,
    /// Prefilled with a suggestion; what "Save" sends.
    pub text: String,
}

/// The prompt's rows: those shown, and those that arrived during a drag.
#[derive(Debug, Default)]
pub struct AltTextPrompt {
    rows: Vec<PromptRow>,
    waiting: Vec<PromptRow>,
}

impl AltTextPrompt {
    /// New pictures of `product_name`, the first of them at `first_position` (1-based) of the
    /// product's order: each gets a row suggesting "Name — view N". A picture already asked
    /// about keeps its row and what was typed in it.
    pub fn add(&mut self, product_name: &str, first_position: usize, pictures: Vec<NewPicture>) {
        let mut position = first_position;
        for picture in pictures {
            let known = self
                .rows
                .iter()
                .chain(&self.waiting)
                .any(|r| r.id == picture.id);
            if known {
                continue;
            }
            self.waiting.push(PromptRow {
                id: picture.id,
                name: picture.name,
                text: suggestion(product_name, position),
            });
            position += 1;
        }
    }

    /// Shows the rows that waited, unless something is being dragged now.
    pub fn settle(&mut self, dragging: bool) {
        if !dragging {
            self.rows.append(&mut self.waiting);
        }
    }

    /// "Save": the descriptions to send (blank ones are left out), and the prompt closes.
    pub fn take_descriptions(&mut self) -> Vec<(ImageId, String)> {
        self.settle(false);
        std::mem::take(&mut self.rows)
            .into_iter()
            .map(|row| (row.id, row.text.trim().to_owned()))
            .filter(|(_, text)| !text.is_empty())
            .collect()
    }

    /// "Skip": the pictures stay without descriptions, and the prompt closes.
    pub fn skip(&mut self) {
        self.rows.clear();
        self.waiting.clear();
    }
}

/// What a new picture's field starts with: the product's name and the picture's place.
pub fn suggestion(product_name: &str, position: usize) -> String {
    format!("{product_name} — view {position}")
}

/// Whether the pointer carries something now: a tile, a scroll bar, files from outside.
fn dragging(ctx: &egui::Context) -> bool {
    egui::DragAndDrop::has_any_payload(ctx)
        || ctx.dragged_id().is_some()
        || ctx.input(|i| !i.raw.hovered_files.is_empty())
}

/// Draws the prompt docked at the bottom of `ui` (the grid's area), when it has rows to show.
/// `images`: the product shown, for the rows' tiles.
pub fn alt_text_ui(
    ui: &mut egui::Ui,
    prompt: &mut AltTextPrompt,
    images: &[LocalImage],
    tiles: &mut TileCache,
    commands: &mut Vec<Command>,
) {
    prompt.settle(dragging(ui.ctx()));
    if prompt.rows.is_empty() {
        return;
    }
    egui::Panel::bottom("alt-text-prompt")
        .resizable(false)
        .show(ui, |ui| {
            ui.add_space(4.0);
            ui.heading("Describe the new pictures");
            ui.label(egui::RichText::new(WHY).weak());
            egui::ScrollArea::vertical()
                .max_height(MAX_ROWS_HEIGHT)
                .auto_shrink([false, true])
                .show(ui, |ui| {
                    for row in &mut prompt.rows {
                        row_ui(ui, row, images, tiles, commands);
                    }
                });
            ui.horizontal(|ui| {
                if ui
                    .button("Save descriptions")
                    .on_hover_text("Send these descriptions to the store (Enter in a field)")
                    .clicked()
                {
                    commands.push(Command::SaveAltText);
                }
                if ui
                    .button("Skip")
                    .on_hover_text("Leave the new pictures without descriptions (Esc in a field)")
                    .clicked()
                {
                    commands.push(Command::SkipAltText);
                }
            });
            ui.add_space(4.0);
        });
}

/// One picture: its tile when the grid has it (else a placeholder), its name, its field.
fn row_ui(
    ui: &mut egui::Ui,
    row: &mut PromptRow,
    images: &[LocalImage],
    tiles: &mut TileCache,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let (rect, _) = ui.allocate_exact_size(Vec2::splat(THUMB), Sense::hover());
        ui.painter()
            .rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        let tile = images
            .iter()
            .find(|i| i.id == row.id)
            .map(|image| tiles.get(image));
        match tile {
            Some(Tile::Ready(texture)) => {
                let size = texture.size_vec2();
                let scale = (THUMB / size.x).min(THUMB / size.y);
                egui::Image::new(texture)
                    .paint_at(ui, Rect::from_center_size(rect.center(), size * scale));
            }
            _ => {
                ui.painter().text(
                    rect.center(),
                    Align2::CENTER_CENTER,
                    "…",
                    FontId::proportional(16.0),
                    ui.visuals().weak_text_color(),
                );
            }
        }
        let label = ui.label(row.name.as_str());
        let field = ui
            .add(egui::TextEdit::singleline(&mut row.text).desired_width(f32::INFINITY))
            .labelled_by(label.id);
        // Enter and Esc in a field act for the whole prompt, as its buttons say.
        if field.lost_focus() {
            let (enter, escape) = ui.input(|i| {
                (
                    i.key_pressed(egui::Key::Enter),
                    i.key_pressed(egui::Key::Escape),
                )
            });
            if enter {
                commands.push(Command::SaveAltText);
            } else if escape {
                commands.push(Command::SkipAltText);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(n: i64, name: &str) -> NewPicture {
        NewPicture {
            id: ImageId(n),
            name: name.to_owned(),
        }
    }

    #[test]
    fn names_come_from_the_file_or_the_urls_last_part() {
        let id = ImageId(1);
        assert_eq!(
            NewPicture::from_path(id, Path::new("/tmp/new lamp.jpg")).name,
            "new lamp.jpg"
        );
        assert_eq!(
            NewPicture::from_url(id, "https://example.com/a/shelf.jpg?w=2").name,
            "shelf.jpg"
        );
        assert_eq!(
            NewPicture::from_url(id, "https://example.com/").name,
            "example.com"
        );
    }

    #[test]
    fn a_second_add_keeps_typed_text_and_rows_wait_out_a_drag() {
        let mut prompt = AltTextPrompt::default();
        prompt.add("Lamp", 4, vec![picture(1, "a.jpg")]);
        prompt.settle(false);
        assert_eq!(prompt.rows[0].text, "Lamp — view 4");
        prompt.rows[0].text = "Lamp, lit".to_owned();
        // Added again (a repeated message) and another picture, during a drag.
        prompt.add("Lamp", 5, vec![picture(1, "a.jpg"), picture(2, "b.jpg")]);
        prompt.settle(true);
        assert_eq!(prompt.rows.len(), 1, "the grid does not change mid-drag");
        prompt.settle(false);
        let texts: Vec<&str> = prompt.rows.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, ["Lamp, lit", "Lamp — view 5"]);
    }

    #[test]
    fn save_sends_the_non_blank_descriptions_and_skip_sends_none() {
        let mut prompt = AltTextPrompt::default();
        prompt.add("Lamp", 1, vec![picture(1, "a.jpg"), picture(2, "b.jpg")]);
        prompt.settle(false);
        prompt.rows[1].text = "  ".to_owned();
        assert_eq!(
            prompt.take_descriptions(),
            [(ImageId(1), "Lamp — view 1".to_owned())]
        );
        assert!(prompt.rows.is_empty() && prompt.waiting.is_empty());
        prompt.add("Lamp", 3, vec![picture(3, "c.jpg")]);
        prompt.skip();
        assert!(prompt.rows.is_empty() && prompt.waiting.is_empty());
        assert!(prompt.take_descriptions().is_empty());
    }
}
