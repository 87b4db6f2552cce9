//! The Stores dialog: saved stores (connect, edit, forget) and a form for a new one.

use super::command::Command;
use super::profiles::{CurrentStore, Profile};

/// The dialog's form.
#[derive(Debug, Default)]
pub struct ConnectionForm {
    pub open: bool,
    pub name: String,
    pub api_url: String,
    pub user: String,
    pub token: String,
}

impl ConnectionForm {
    fn profile(&self) -> Option<Profile> {
        let api_url = self.api_url.trim();
        if api_url.is_empty() {
            return None;
        }
        let name = match self.name.trim() {
            "" => api_url.to_owned(),
            name => name.to_owned(),
        };
        let user = Some(self.user.trim().to_owned()).filter(|u| !u.is_empty());
        Some(Profile {
            name,
            api_url: api_url.to_owned(),
            user,
        })
    }

    /// The Stores dialog; what the user asked for is pushed to `commands`.
    pub fn connection_ui(
        &mut self,
        ctx: &egui::Context,
        profiles: &[Profile],
        current: Option<&CurrentStore>,
        commands: &mut Vec<Command>,
    ) {
        let mut action = None;
        let mut open = self.open;
        egui::Window::new("Stores")
            .open(&mut open)
            .collapsible(false)
            .default_width(460.0)
            .show(ctx, |ui| {
                ui.label("Saved stores");
                if profiles.is_empty() {
                    ui.weak("None yet: fill in the form below.");
                }
                if let Some(line) = unsaved_current(profiles, current) {
                    ui.weak(line);
                }
                egui::Grid::new("saved-stores")
                    .num_columns(3)
                    .striped(true)
                    .spacing([16.0, 6.0])
                    .show(ui, |ui| {
                        for profile in profiles {
                            let is_current = current.is_some_and(|c| c.is(profile));
                            if let Some(row) = self.store_row_ui(ui, profile, is_current) {
                                action = Some(row);
                            }
                            ui.end_row();
                        }
                    });
                ui.separator();
                egui::Grid::new("connection-form")
                    .num_columns(2)
                    .show(ui, |ui| {
                        for (label, value, hint, secret) in [
                            ("Store name", &mut self.name, "My shop", false),
                            (
                                "API URL",
                                &mut self.api_url,
                                "https://store.example/api/v2",
                                false,
                            ),
                            ("User (optional)", &mut self.user, "for Basic auth", false),
                            ("Token", &mut self.token, "kept in a private file", true),
                        ] {
                            let label = ui.label(label);
                            ui.add(
                                egui::TextEdit::singleline(value)
                                    .hint_text(hint)
                                    .password(secret)
                                    .desired_width(300.0),
                            )
                            .labelled_by(label.id);
                            ui.end_row();
                        }
                    });
                ui.horizontal(|ui| {
                    let profile = self.profile();
                    if ui
                        .add_enabled(profile.is_some(), egui::Button::new("Save store"))
                        .clicked()
                        && let Some(profile) = profile.clone()
                    {
                        action = Some(Command::SaveStore {
                            profile,
                            token: self.token.clone(),
                        });
                    }
                    if ui
                        .add_enabled(profile.is_some(), egui::Button::new("Save and connect"))
                        .clicked()
                        && let Some(profile) = profile
                    {
                        action = Some(Command::SaveAndConnect {
                            profile,
                            token: self.token.clone(),
                        });
                    }
                });
            });
        self.open = open;
        if matches!(
            action,
            Some(Command::SaveAndConnect { .. } | Command::ConnectSaved(_))
        ) {
            self.open = false;
        }
        commands.extend(action);
    }

    /// One saved store as a row of the list: its name, its URL (once, small), whether the
    /// window shows it, and what can be done with it.
    fn store_row_ui(
        &mut self,
        ui: &mut egui::Ui,
        profile: &Profile,
        is_current: bool,
    ) -> Option<Command> {
        let mut action = None;
        ui.vertical(|ui| {
            ui.strong(&profile.name);
            ui.label(egui::RichText::new(&profile.api_url).small().weak());
        });
        if is_current {
            connected_ui(ui);
        } else {
            ui.label("");
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!is_current, egui::Button::new("Connect"))
                .on_hover_text(format!("Show {} in this window", profile.name))
                .on_disabled_hover_text("This window shows this store")
                .clicked()
            {
                action = Some(Command::ConnectSaved(profile.clone()));
            }
            if ui
                .button("Edit")
                .on_hover_text("Fill in the form below with this store")
                .clicked()
            {
                self.name = profile.name.clone();
                self.api_url = profile.api_url.clone();
                self.user = profile.user.clone().unwrap_or_default();
                self.token.clear();
            }
            if ui
                .button("Forget")
                .on_hover_text("Remove this store and its saved token")
                .clicked()
            {
                action = Some(Command::ForgetStore(profile.clone()));
            }
        });
        action
    }
}

/// The mark of the store the window shows: a drawn dot (no font has to carry a check mark)
/// and the word.
fn connected_ui(ui: &mut egui::Ui) {
    let colour = ui.visuals().selection.stroke.color;
    ui.horizontal(|ui| {
        let (dot, _) = ui.allocate_exact_size(egui::vec2(10.0, 10.0), egui::Sense::hover());
        ui.painter().circle_filled(dot.center(), 4.0, colour);
        ui.label(egui::RichText::new("Connected").strong().color(colour));
    });
}

/// A line about the store shown when no saved store is it (the built-in one, or one forgotten).
fn unsaved_current(profiles: &[Profile], current: Option<&CurrentStore>) -> Option<String> {
    match current? {
        CurrentStore::Embedded => Some("Connected now: the built-in demo store.".to_owned()),
        remote @ CurrentStore::Remote { name, .. } => (!profiles.iter().any(|p| remote.is(p)))
            .then(|| format!("Connected now: {name} (not saved).")),
    }
}
