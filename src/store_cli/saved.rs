//! The stores saved in the desktop app, for `--store NAME`.
//!
//! The app keeps the list in eframe's storage, `<data dir>/app.ron` (a RON map of strings),
//! under [`STORAGE_KEY`] as JSON, and each token in a file of its own ([`token_path`]). This
//! reads the same files rather than going through eframe, whose storage type is private to it
//! and which would pull a window system into a command line tool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::ui::profiles::{Profile, STORAGE_KEY, token_path};

/// The app's storage file under the data directory (set by `ui::run_native`).
pub const APP_STORAGE_FILE: &str = "app.ron";

#[derive(Debug, thiserror::Error)]
pub enum SavedStoreError {
    #[error("could not read the app's saved stores in {path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// The stores saved in the app, in its order; none when the app never saved any.
pub fn saved_stores(data_dir: &Path) -> Result<Vec<Profile>, SavedStoreError> {
    let path = data_dir.join(APP_STORAGE_FILE);
    let failed = |message: String| SavedStoreError::Read {
        path: path.clone(),
        message,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(failed(err.to_string())),
    };
    let storage: HashMap<String, String> =
        ron::from_str(&text).map_err(|e| failed(e.to_string()))?;
    match storage.get(STORAGE_KEY) {
        Some(json) => serde_json::from_str(json).map_err(|e| failed(e.to_string())),
        None => Ok(Vec::new()),
    }
}

/// The token the app saved for `profile`, if any.
pub fn saved_token(data_dir: &Path, profile: &Profile) -> Result<String, PathBuf> {
    let path = token_path(data_dir, &profile.api_url);
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => {
            Ok(token.trim_end_matches(['\r', '\n']).to_owned())
        }
        _ => Err(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_eframe_writes() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = vec![Profile {
            name: "Shop".into(),
            api_url: "https://shop.example/api/v2".into(),
            user: Some("admin".into()),
        }];
        let mut kv = HashMap::new();
        kv.insert(
            STORAGE_KEY.to_owned(),
            serde_json::to_string(&profiles).unwrap(),
        );
        kv.insert("egui".to_owned(), "(\"x\\\"y\")".to_owned());
        // As eframe's FileStorage writes it.
        let text = ron::ser::to_string_pretty(&kv, ron::ser::PrettyConfig::default()).unwrap();
        std::fs::write(dir.path().join(APP_STORAGE_FILE), text).unwrap();
        assert_eq!(saved_stores(dir.path()).unwrap(), profiles);
        assert!(saved_stores(&dir.path().join("none")).unwrap().is_empty());
    }
}
