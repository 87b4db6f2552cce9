//! The Stores dialog: saved stores (connect, edit, forget) and a form for a new one.

use super::command::Command;
use super::profiles::Profile;

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
                for profile in profiles {
                    ui.horizontal(|ui| {
                        ui.label(&profile.name).on_hover_text(&profile.api_url);
                        if ui
                            .small_button(format!("Connect to {}", profile.name))
                            .clicked()
                        {
                            action = Some(Command::ConnectSaved(profile.clone()));
                        }
                        if ui.small_button(format!("Edit {}", profile.name)).clicked() {
                            self.name = profile.name.clone();
                            self.api_url = profile.api_url.clone();
                            self.user = profile.user.clone().unwrap_or_default();
                            self.token.clear();
                        }
                        if ui
                            .small_button(format!("Forget {}", profile.name))
                            .clicked()
                        {
                            action = Some(Command::ForgetStore(profile.clone()));
                        }
                    });
                }
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
}
