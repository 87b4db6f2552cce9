//! The thumbnail grid: only the visible rows are laid out, each tile is a drag source and a
//! drop target, and a click selects (Ctrl adds, Shift extends).

use std::collections::BTreeSet;

use egui::{Align2, Color32, FontId, Id, Rect, Role, Sense, Stroke, Vec2, WidgetInfo};

use super::command::Command;
use super::tiles::{Tile, TileCache};
use crate::sync::{ImageId, LocalImage, SyncState};

const TILE: f32 = 150.0;
const CAPTION: f32 = 38.0;
const GAP: f32 = 10.0;
const CAPTION_FONT: f32 = 12.0;
const CAPTION_ROWS: usize = 2;
/// Thick enough to tell a selected tile from the rest at a glance, in any theme.
const SELECTED_STROKE: f32 = 3.0;

/// Draws the grid; a click, double-click or drop becomes a [`Command`].
pub fn grid_ui(
    ui: &mut egui::Ui,
    images: &[LocalImage],
    selection: &BTreeSet<ImageId>,
    tiles: &mut TileCache,
    commands: &mut Vec<Command>,
) {
    let columns = ((ui.available_width() + GAP) / (TILE + GAP))
        .floor()
        .max(1.0) as usize;
    let rows = images.len().div_ceil(columns);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, TILE + CAPTION + GAP, rows, |ui, visible| {
            for row in visible {
                ui.horizontal(|ui| {
                    ui.spacing_mut().item_spacing = Vec2::splat(GAP);
                    let start = row * columns;
                    let end = (start + columns).min(images.len());
                    for (index, image) in images.iter().enumerate().take(end).skip(start) {
                        let selected = selection.contains(&image.id);
                        commands.extend(tile_ui(ui, index, image, selected, tiles));
                    }
                });
                ui.add_space(GAP);
            }
        });
}

fn tile_ui(
    ui: &mut egui::Ui,
    index: usize,
    image: &LocalImage,
    selected: bool,
    tiles: &mut TileCache,
) -> Option<Command> {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(TILE, TILE + CAPTION), Sense::hover());
    let response = ui.interact(
        rect,
        Id::unique(("tile", image.id)),
        Sense::click_and_drag(),
    );
    let label = tile_label(index, image);
    response.widget_info(|| WidgetInfo::labeled(Role::Button, true, &label));
    if response.drag_started() {
        response.dnd_set_drag_payload(image.id);
    }
    let picture = Rect::from_min_size(rect.min, Vec2::splat(TILE));
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals();
    painter.rect_filled(picture, 6.0, visuals.extreme_bg_color);
    match tiles.get(image) {
        Tile::Ready(texture) => {
            let size = texture.size_vec2();
            let scale = (TILE / size.x).min(TILE / size.y);
            let fitted = Rect::from_center_size(picture.center(), size * scale);
            egui::Image::new(texture).paint_at(ui, fitted);
        }
        Tile::Loading => {
            painter.text(
                picture.center(),
                Align2::CENTER_CENTER,
                "…",
                FontId::proportional(20.0),
                visuals.weak_text_color(),
            );
        }
        Tile::Missing => {
            painter.text(
                picture.center(),
                Align2::CENTER_CENTER,
                "no picture",
                FontId::proportional(12.0),
                visuals.weak_text_color(),
            );
        }
        // Not "no picture": there is one, the store did not answer; it loads when it does.
        Tile::Failed => {
            painter.text(
                picture.center(),
                Align2::CENTER_CENTER,
                "could not load",
                FontId::proportional(12.0),
                visuals.warn_fg_color,
            );
        }
    }
    if image.is_thumbnail {
        star(&painter, picture.left_top() + Vec2::new(14.0, 14.0), 9.0);
    }
    let badge = match &image.sync {
        SyncState::Synced => None,
        SyncState::Pending(_) => Some(Color32::LIGHT_BLUE),
        SyncState::Failed(_) => Some(Color32::LIGHT_RED),
    };
    if let Some(colour) = badge {
        painter.circle_filled(picture.right_top() + Vec2::new(-12.0, 12.0), 6.0, colour);
    }
    position_ui(ui, &painter, picture, index, image.id);
    caption_ui(ui, &painter, picture, image);
    // The selection outline is the theme's strongest accent, thick enough to read at a glance;
    // a drop target gets a thinner one in the same colour.
    let hovered_drop = response.dnd_hover_payload::<ImageId>().is_some();
    if selected || hovered_drop {
        let width = if selected { SELECTED_STROKE } else { 2.0 };
        painter.rect_stroke(
            picture,
            6.0,
            Stroke::new(width, visuals.selection.stroke.color),
            egui::StrokeKind::Inside,
        );
    }
    let response = match &image.sync {
        SyncState::Failed(reason) => response.on_hover_text(format!("Not synced: {reason}")),
        SyncState::Pending(n) => response.on_hover_text(format!("{n} edit(s) waiting to be sent")),
        SyncState::Synced => response,
    };
    if let Some(dragged) = response.dnd_release_payload::<ImageId>()
        && *dragged != image.id
    {
        return Some(Command::Move {
            dragged: *dragged,
            onto: image.id,
        });
    }
    if response.double_clicked() {
        return Some(Command::Open(image.id));
    }
    if response.clicked() {
        let modifiers = ui.input(|i| i.modifiers);
        return Some(Command::Click {
            id: image.id,
            add: modifiers.command,
            extend: modifiers.shift,
        });
    }
    None
}

/// The thumbnail mark: a five-pointed star outline (drawn, so it needs no font glyph).
fn star(painter: &egui::Painter, centre: egui::Pos2, radius: f32) {
    let points: Vec<egui::Pos2> = (0..10)
        .map(|k| {
            let r = if k % 2 == 0 { radius } else { radius * 0.45 };
            let angle = std::f32::consts::PI * (k as f32 / 5.0) - std::f32::consts::FRAC_PI_2;
            centre + Vec2::new(angle.cos(), angle.sin()) * r
        })
        .collect();
    painter.add(egui::Shape::closed_line(
        points,
        Stroke::new(2.5, Color32::GOLD),
    ));
}

/// The tile's place in the product's order (1 is what shoppers see first), in a dark chip on
/// the picture's bottom-left corner so that it reads over any picture.
fn position_ui(ui: &egui::Ui, painter: &egui::Painter, picture: Rect, index: usize, id: ImageId) {
    let text = (index + 1).to_string();
    let galley = painter.layout_no_wrap(text.clone(), FontId::proportional(11.0), Color32::WHITE);
    let chip = Rect::from_min_size(
        picture.left_bottom() + Vec2::new(4.0, -4.0 - galley.size().y - 4.0),
        galley.size() + Vec2::new(10.0, 4.0),
    );
    painter.rect_filled(chip, 4.0, Color32::from_black_alpha(170));
    painter.galley(chip.min + Vec2::new(5.0, 2.0), galley, Color32::WHITE);
    // Its own node, so that the number the grid shows can be found by assistive technology.
    let node = ui.interact(chip, Id::unique(("tile-position", id)), Sense::hover());
    node.widget_info(|| WidgetInfo::labeled(Role::Label, true, format!("Position {text}")));
}

/// The description under the picture on up to two lines, cut with an ellipsis where the tile
/// ends: descriptions of one product often start alike ("Trail Running Shoe, view from the
/// left" / "… right"), and one line of a tile's width would cut them all at the same words.
fn caption_ui(ui: &egui::Ui, painter: &egui::Painter, picture: Rect, image: &LocalImage) {
    let visuals = ui.visuals();
    let (text, colour) = if image.description.is_empty() {
        ("(no description)".to_owned(), visuals.weak_text_color())
    } else {
        (image.description.clone(), visuals.text_color())
    };
    let mut job =
        egui::text::LayoutJob::simple_singleline(text, FontId::proportional(CAPTION_FONT), colour);
    job.wrap = egui::text::TextWrapping {
        max_width: TILE - 4.0,
        max_rows: CAPTION_ROWS,
        break_anywhere: false,
        overflow_character: Some('…'),
    };
    let galley = painter.layout_job(job);
    let shown = galley
        .rows
        .iter()
        .map(|row| row.glyphs.iter().map(|g| g.chr).collect::<String>())
        .map(|row| row.trim().to_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let at = picture.left_bottom() + Vec2::new(2.0, 4.0);
    let rect = Rect::from_min_size(at, galley.size());
    painter.galley(at, galley, colour);
    // The caption as drawn (with its ellipsis), for assistive technology and the tests; the
    // tile's own label carries the whole description.
    let node = ui.interact(rect, Id::unique(("tile-caption", image.id)), Sense::hover());
    node.widget_info(|| WidgetInfo::labeled(Role::Label, true, &shown));
}

/// What assistive technology (and the tests) call a tile.
pub fn tile_label(index: usize, image: &LocalImage) -> String {
    let mut label = format!("Image {}", index + 1);
    if !image.description.is_empty() {
        label.push_str(": ");
        label.push_str(&image.description);
    }
    if image.is_thumbnail {
        label.push_str(" (thumbnail)");
    }
    label
}
