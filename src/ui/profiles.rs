//! Saved store connections and the dialog that edits them. The list (name, API root, user) is
//! kept by eframe's persistence; a token never is: it goes to a file of its own that only the
//! user can read, written off the UI thread by the backend.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sync::{StoreAddress, profile_name};

/// The key of the profile list in eframe's storage.
pub const STORAGE_KEY: &str = "imagedesk.profiles";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub api_url: String,
    /// For HTTP Basic credentials; `None` sends the token as X-Auth-Token.
    pub user: Option<String>,
}

impl Profile {
    /// Where to connect, with `token` (typed, or read from the profile's token file).
    pub fn address(&self, token: String) -> StoreAddress {
        StoreAddress {
            api_url: self.api_url.clone(),
            user: self.user.clone(),
            token,
        }
    }
}

/// Where a profile's token is kept (mode 0600).
pub fn token_path(data_dir: &Path, api_url: &str) -> PathBuf {
    data_dir
        .join("tokens")
        .join(format!("{}.token", profile_name(api_url)))
}

pub fn load(storage: &dyn eframe::Storage) -> Vec<Profile> {
    storage
        .get_string(STORAGE_KEY)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

pub fn save(storage: &mut dyn eframe::Storage, profiles: &[Profile]) {
    match serde_json::to_string(profiles) {
        Ok(text) => storage.set_string(STORAGE_KEY, text),
        Err(err) => tracing::error!("could not save the store profiles: {err}"),
    }
}

/// The dialog's form.
#[derive(Debug, Default)]
pub struct ConnectionForm {
    pub open: bool,
    pub name: String,
    pub api_url: String,
    pub user: String,
    pub token: String,
}

pub enum ConnectionAction {
    None,
    /// Save the form as a profile (and its token, if typed).
    Save(Profile, String),
    /// Connect to the form's store (saving it first).
    Connect(Profile, String),
    /// Connect to a saved profile with its saved token.
    ConnectSaved(Profile),
    Forget(Profile),
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

    pub fn connection_ui(&mut self, ctx: &egui::Context, profiles: &[Profile]) -> ConnectionAction {
        let mut action = ConnectionAction::None;
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
                            action = ConnectionAction::ConnectSaved(profile.clone());
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
                            action = ConnectionAction::Forget(profile.clone());
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
                        action = ConnectionAction::Save(profile, self.token.clone());
                    }
                    if ui
                        .add_enabled(profile.is_some(), egui::Button::new("Save and connect"))
                        .clicked()
                        && let Some(profile) = profile
                    {
                        action = ConnectionAction::Connect(profile, self.token.clone());
                    }
                });
            });
        self.open = open;
        if matches!(action, ConnectionAction::Connect(..)) {
            self.open = false;
        }
        action
    }
}
