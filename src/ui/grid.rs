//! The thumbnail grid: only the visible rows are laid out, each tile is a drag source and a
//! drop target, and a click selects (Ctrl adds, Shift extends). A filter can show only the
//! images without a description; the tiles keep their real positions, and dragging rests while
//! it is on (see [`GridFilter`]).

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

/// How near the grid's top or bottom edge a drag starts scrolling it, and how fast.
const SCROLL_EDGE: f32 = 48.0;
const SCROLL_SPEED: f32 = 12.0;
/// The picture that follows the pointer during a drag.
const GHOST: f32 = 96.0;

/// Which of the product's images the grid shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GridFilter {
    #[default]
    All,
    /// Only the images with an empty description (no alt text). Dragging rests: a drop
    /// between two of a subset's tiles does not say where among the hidden ones it lands.
    MissingAltText,
}

impl GridFilter {
    pub fn keeps(self, image: &LocalImage) -> bool {
        match self {
            GridFilter::All => true,
            GridFilter::MissingAltText => lacks_alt_text(image),
        }
    }
}

/// Whether an image has no description for screen readers and search.
pub fn lacks_alt_text(image: &LocalImage) -> bool {
    image.description.trim().is_empty()
}

/// Why a tile cannot be dragged while the grid is filtered.
pub const NO_DRAG_FILTERED: &str = "Dragging is off while only the images without alt text are \
                                    shown: their order among the hidden ones would be a guess. \
                                    Show all images to reorder.";

/// Where a dragged tile would land: in the gap before the tile at `slot`, drawn as a line.
struct Insertion {
    slot: usize,
    line: [egui::Pos2; 2],
}

/// Draws the grid; a click, double-click or drop becomes a [`Command`]. While a tile is
/// dragged, a copy of it follows the pointer, a line shows where it will land, and the grid
/// scrolls when the pointer nears its top or bottom edge. `filter` picks the tiles drawn; each
/// keeps its place in `images` as its position.
pub fn grid_ui(
    ui: &mut egui::Ui,
    images: &[LocalImage],
    filter: GridFilter,
    selection: &BTreeSet<ImageId>,
    tiles: &mut TileCache,
    commands: &mut Vec<Command>,
) {
    let shown: Vec<(usize, &LocalImage)> = images
        .iter()
        .enumerate()
        .filter(|(_, image)| filter.keeps(image))
        .collect();
    if shown.is_empty() {
        ui.label("Every image has alt text.");
        return;
    }
    let draggable = filter == GridFilter::All;
    let columns = ((ui.available_width() + GAP) / (TILE + GAP))
        .floor()
        .max(1.0) as usize;
    let rows = shown.len().div_ceil(columns);
    let dragged = egui::DragAndDrop::payload::<ImageId>(ui.ctx())
        .map(|id| *id)
        .filter(|_| draggable);
    let pointer = ui.ctx().pointer_latest_pos();
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, TILE + CAPTION + GAP, rows, |ui, visible| {
            let mut insertion = None;
            for row in visible {
                ui.horizontal(|ui| {
                    ui.spacing_mut().item_spacing = Vec2::splat(GAP);
                    let start = row * columns;
                    let end = (start + columns).min(shown.len());
                    for &(index, image) in &shown[start..end] {
                        let selected = selection.contains(&image.id);
                        let drawn = tile_ui(ui, index, image, selected, draggable, tiles, pointer);
                        commands.extend(drawn.command);
                        if dragged.is_some() && drawn.insertion.is_some() {
                            insertion = drawn.insertion;
                        }
                    }
                });
                ui.add_space(GAP);
            }
            if let (Some(dragged), Some(pointer)) = (dragged, pointer) {
                if let Some(insertion) = &insertion {
                    ui.painter().line_segment(
                        insertion.line,
                        Stroke::new(SELECTED_STROKE, ui.visuals().selection.stroke.color),
                    );
                }
                auto_scroll_ui(ui, pointer);
                let count = if selection.contains(&dragged) {
                    selection.len()
                } else {
                    1
                };
                if let Some(image) = images.iter().find(|i| i.id == dragged) {
                    ghost_ui(ui, image, count, tiles, pointer);
                }
            }
        });
}

/// Scrolls the grid while a dragged tile is held near (or past) its top or bottom edge, so
/// that a tile can be dropped on a row that is not in view.
fn auto_scroll_ui(ui: &egui::Ui, pointer: egui::Pos2) {
    let view = ui.clip_rect();
    if !view.x_range().contains(pointer.x) {
        return;
    }
    let delta = if pointer.y > view.bottom() - SCROLL_EDGE {
        -SCROLL_SPEED
    } else if pointer.y < view.top() + SCROLL_EDGE {
        SCROLL_SPEED
    } else {
        return;
    };
    ui.scroll_with_delta_animation(Vec2::new(0.0, delta), egui::style::ScrollAnimation::none());
    ui.ctx().request_repaint();
}

/// The dragged tile's picture, half transparent, following the pointer above everything
/// (with how many images move, when a selection does).
fn ghost_ui(
    ui: &egui::Ui,
    image: &LocalImage,
    count: usize,
    tiles: &mut TileCache,
    pointer: egui::Pos2,
) {
    let painter = ui.ctx().layer_painter(egui::LayerId::new(
        egui::Order::Tooltip,
        Id::unique("grid-drag-ghost"),
    ));
    let frame = Rect::from_min_size(pointer + Vec2::new(8.0, 8.0), Vec2::splat(GHOST));
    painter.rect_filled(
        frame,
        6.0,
        ui.visuals().extreme_bg_color.gamma_multiply(0.7),
    );
    if let Tile::Ready(texture) = tiles.get(image) {
        let size = texture.size_vec2();
        let scale = (GHOST / size.x).min(GHOST / size.y);
        let fitted = Rect::from_center_size(frame.center(), size * scale);
        let uv = Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
        painter.image(texture.id(), fitted, uv, Color32::from_white_alpha(160));
    }
    if count > 1 {
        let centre = frame.right_top();
        painter.circle_filled(centre, 11.0, ui.visuals().selection.bg_fill);
        painter.text(
            centre,
            Align2::CENTER_CENTER,
            count.to_string(),
            FontId::proportional(12.0),
            Color32::WHITE,
        );
    }
}

/// What drawing a tile gave: a gesture, and where a drag over it would land.
struct Drawn {
    command: Option<Command>,
    insertion: Option<Insertion>,
}

fn tile_ui(
    ui: &mut egui::Ui,
    index: usize,
    image: &LocalImage,
    selected: bool,
    draggable: bool,
    tiles: &mut TileCache,
    pointer: Option<egui::Pos2>,
) -> Drawn {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(TILE, TILE + CAPTION), Sense::hover());
    let sense = if draggable {
        Sense::click_and_drag()
    } else {
        Sense::click()
    };
    let response = ui.interact(rect, Id::unique(("tile", image.id)), sense);
    let label = tile_label(index, image);
    response.widget_info(|| WidgetInfo::labeled(Role::Button, true, &label));
    if draggable && response.drag_started() {
        response.dnd_set_drag_payload(image.id);
    }
    // Before or after this tile, by which half of it the pointer is over.
    let insertion = pointer.filter(|p| draggable && rect.contains(*p)).map(|p| {
        let after = p.x >= rect.center().x;
        let x = if after {
            rect.right() + GAP / 2.0
        } else {
            rect.left() - GAP / 2.0
        };
        Insertion {
            slot: index + usize::from(after),
            line: [egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())],
        }
    });
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
    // The selection outline is the theme's strongest accent, thick enough to read at a glance.
    // (A drop target has no outline: the insertion line says where a drop lands.)
    if selected {
        painter.rect_stroke(
            picture,
            6.0,
            Stroke::new(SELECTED_STROKE, visuals.selection.stroke.color),
            egui::StrokeKind::Inside,
        );
    }
    let response = match super::tiles::sync_hint(&image.sync) {
        Some(hint) => response.on_hover_text(hint),
        None => response,
    };
    let response = if draggable {
        response
    } else {
        response.on_hover_text(NO_DRAG_FILTERED)
    };
    let mut command = None;
    response.context_menu(|ui| {
        if ui
            .button("Move to first")
            .on_hover_text("The first image is the one shoppers see first (Home)")
            .clicked()
        {
            command = Some(Command::MoveTo {
                dragged: image.id,
                slot: 0,
            });
            ui.close();
        }
        if ui
            .button("Copy to other products…")
            .on_hover_text("Add copies of this picture (with the selection, if it is part of it) to other products (Ctrl+Shift+C)")
            .clicked()
        {
            command = Some(Command::ShowCopyPicker(Some(image.id)));
            ui.close();
        }
    });
    if let Some(dragged) = response
        .dnd_release_payload::<ImageId>()
        .filter(|_| draggable)
        && let Some(insertion) = &insertion
    {
        command = Some(Command::MoveTo {
            dragged: *dragged,
            slot: insertion.slot,
        });
    } else if response.double_clicked() {
        command = Some(Command::Open(image.id));
    } else if response.clicked() {
        let modifiers = ui.input(|i| i.modifiers);
        command = Some(Command::Click {
            id: image.id,
            add: modifiers.command,
            extend: modifiers.shift,
        });
    }
    Drawn { command, insertion }
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
