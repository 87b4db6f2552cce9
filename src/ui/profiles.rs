//! Saved store connections. The list (name, API root, user) is kept by eframe's persistence; a
//! token never is: it goes to a file of its own that only the user can read, written off the
//! UI thread by the backend. The dialog that edits them is `stores_dialog.rs`.

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

/// The store a window shows: what the Stores dialog marks "Connected" and what the undo history
/// is kept under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurrentStore {
    /// The store this app starts itself (its address changes between runs).
    Embedded,
    /// A store reached at `api_url`, called `name`.
    Remote { name: String, api_url: String },
}

impl CurrentStore {
    /// The store a profile describes.
    pub fn of(profile: &Profile) -> CurrentStore {
        CurrentStore::Remote {
            name: profile.name.clone(),
            api_url: profile.api_url.clone(),
        }
    }

    /// Whether `profile` describes this store (profiles are told apart by their API URL).
    pub fn is(&self, profile: &Profile) -> bool {
        matches!(self, CurrentStore::Remote { api_url, .. } if *api_url == profile.api_url)
    }

    /// Where its undo history is kept: named like its replica's directory, whose image ids the
    /// history names.
    pub fn key(&self) -> String {
        match self {
            CurrentStore::Embedded => "embedded".to_owned(),
            CurrentStore::Remote { api_url, .. } => profile_name(api_url),
        }
    }
}
