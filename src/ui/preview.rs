//! The zoomed preview: a modal over the window with the image's largest picture. Arrow keys
//! step through the product's images; Esc or a click outside closes it.

use egui::{Key, TextureHandle, TextureOptions};

use super::command::Command;
use super::tiles::Loaded;
use crate::sync::{ImageId, LocalImage};

pub struct Preview {
    pub id: ImageId,
    texture: Option<TextureHandle>,
    /// There is no picture to show (none yet, or it does not decode).
    missing: bool,
    /// The picture could not be fetched; the session asks again when the store answers.
    failed: bool,
    /// The pass it opened in: the click that opened it must not count as a click outside.
    opened_in_pass: Option<u64>,
}

impl Preview {
    pub fn new(id: ImageId) -> Preview {
        Preview {
            id,
            texture: None,
            missing: false,
            failed: false,
            opened_in_pass: None,
        }
    }

    /// The decoded picture arrived (or why there is none).
    pub fn loaded(&mut self, ctx: &egui::Context, id: ImageId, picture: Loaded) {
        if id != self.id {
            return;
        }
        match picture {
            Loaded::Picture(image) => {
                self.texture =
                    Some(ctx.load_texture(format!("preview-{id}"), image, TextureOptions::LINEAR));
            }
            Loaded::NoPicture => self.missing = true,
            Loaded::Failed => self.failed = true,
        }
    }

    /// Whether the picture is shown.
    pub fn ready(&self) -> bool {
        self.texture.is_some()
    }

    /// Whether the picture could not be fetched and is worth asking for again.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// The picture is being asked for again: show the spinner meanwhile.
    pub fn asking_again(&mut self) {
        self.failed = false;
    }

    /// Draws the preview; stepping to another image or closing becomes a [`Command`].
    pub fn preview_ui(
        &mut self,
        ui: &mut egui::Ui,
        images: &[LocalImage],
        commands: &mut Vec<Command>,
    ) {
        let pass = ui.ctx().cumulative_pass_nr();
        let first_pass = *self.opened_in_pass.get_or_insert(pass) == pass;
        let index = images.iter().position(|i| i.id == self.id);
        let step = |by: isize| -> Option<ImageId> {
            let at = index? as isize + by;
            usize::try_from(at)
                .ok()
                .and_then(|at| images.get(at))
                .map(|i| i.id)
        };
        let (previous, next) = (step(-1), step(1));
        let mut action = None;
        let screen = ui.ctx().content_rect().size();
        let modal = egui::Modal::new(egui::Id::unique("preview")).show(ui.ctx(), |ui| {
            let title = match index {
                Some(n) => {
                    let description = &images[n].description;
                    format!("Image {} of {}: {description}", n + 1, images.len())
                }
                None => "Image".to_owned(),
            };
            ui.label(egui::RichText::new(title).strong());
            let room = egui::Vec2::new(screen.x * 0.8, screen.y * 0.75);
            match &self.texture {
                Some(texture) => {
                    let size = texture.size_vec2();
                    let scale = (room.x / size.x).min(room.y / size.y).min(1.0);
                    ui.add(egui::Image::new(texture).fit_to_exact_size(size * scale));
                }
                None if self.missing => {
                    ui.label("This image has no picture that can be shown.");
                }
                None if self.failed => {
                    ui.label(
                        "This picture could not be loaded: the store did not answer. \
                         It is fetched again when the store answers.",
                    );
                }
                None => {
                    ui.add(egui::Spinner::new().size(32.0));
                }
            }
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(previous.is_some(), egui::Button::new("Previous"))
                    .on_hover_text("Left arrow")
                    .clicked()
                    && let Some(id) = previous
                {
                    action = Some(Command::Open(id));
                }
                if ui
                    .add_enabled(next.is_some(), egui::Button::new("Next"))
                    .on_hover_text("Right arrow")
                    .clicked()
                    && let Some(id) = next
                {
                    action = Some(Command::Open(id));
                }
                if ui.button("Close").on_hover_text("Esc").clicked() {
                    action = Some(Command::ClosePreview);
                }
            });
        });
        let (left, right) = ui.input(|i| {
            (
                i.key_pressed(Key::ArrowLeft),
                i.key_pressed(Key::ArrowRight),
            )
        });
        if left && let Some(id) = previous {
            action = Some(Command::Open(id));
        }
        if right && let Some(id) = next {
            action = Some(Command::Open(id));
        }
        if modal.should_close() && !first_pass {
            action = Some(Command::ClosePreview);
        }
        commands.extend(action);
    }
}
