//! Paths typed by hand into the app's fields. The app is started from a menu as often as from a
//! shell, so its working directory means nothing to the person typing: `~` is their home, and
//! a relative path is taken from their home too, as a file dialog would start there.

use std::path::{Path, PathBuf};

/// The path `text` names, for the person whose home is `home`.
pub fn resolve_in(text: &str, home: Option<&Path>) -> PathBuf {
    let text = text.trim();
    let Some(home) = home else {
        return PathBuf::from(text);
    };
    if text == "~" {
        return home.to_path_buf();
    }
    if let Some(rest) = text.strip_prefix("~/") {
        return home.join(rest);
    }
    let path = Path::new(text);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        home.join(path)
    }
}

/// The path `text` names, from the current user's home directory.
pub fn resolve(text: &str) -> PathBuf {
    let dirs = directories::BaseDirs::new();
    resolve_in(text, dirs.as_ref().map(directories::BaseDirs::home_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_and_relative_paths_start_at_home_and_absolute_ones_stay() {
        let home = Path::new("/home/ann");
        assert_eq!(resolve_in("~", Some(home)), home);
        assert_eq!(
            resolve_in(" ~/exports/counts.csv ", Some(home)),
            home.join("exports/counts.csv")
        );
        assert_eq!(
            resolve_in("counts.csv", Some(home)),
            home.join("counts.csv")
        );
        assert_eq!(
            resolve_in("/tmp/counts.csv", Some(home)),
            Path::new("/tmp/counts.csv")
        );
        // `~user` is not expanded (it names someone else's home): taken as a name.
        assert_eq!(resolve_in("~bob/x", Some(home)), home.join("~bob/x"));
        assert_eq!(resolve_in("counts.csv", None), Path::new("counts.csv"));
    }
}
