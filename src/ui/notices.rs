//! The messages in the corner: each with a [`Severity`]; information and successes go away by
//! themselves after [`NOTICE_LIFETIME`], warnings and errors stay until dismissed (the user may
//! have looked away and must not miss them). The words are plain; a technical reason, when
//! there is one, is kept for "Details".

use std::time::{Duration, Instant};

use super::words;

/// How long information and successes stay on screen.
pub const NOTICE_LIFETIME: Duration = Duration::from_secs(6);

/// How much a notice matters, which decides its colour and whether it goes away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Success,
    Warning,
    Error,
}

impl Severity {
    /// Whether a notice of this severity leaves by itself after [`NOTICE_LIFETIME`].
    pub fn expires(self) -> bool {
        matches!(self, Severity::Info | Severity::Success)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: Severity,
    /// What happened, in plain words.
    pub text: String,
    /// The raw technical reason, shown under "Details".
    pub details: Option<String>,
    /// When it was shown; expiring notices leave [`NOTICE_LIFETIME`] later.
    pub since: Instant,
}

impl Notice {
    pub fn new(severity: Severity, text: impl Into<String>) -> Notice {
        Notice {
            severity,
            text: text.into(),
            details: None,
            since: Instant::now(),
        }
    }

    pub fn info(text: impl Into<String>) -> Notice {
        Notice::new(Severity::Info, text)
    }

    pub fn success(text: impl Into<String>) -> Notice {
        Notice::new(Severity::Success, text)
    }

    pub fn warning(text: impl Into<String>) -> Notice {
        Notice::new(Severity::Warning, text)
    }

    /// An error in plain words: "Could not X: <raw>" becomes what it means for the user, and
    /// the raw text moves to "Details".
    pub fn error(raw: impl Into<String>) -> Notice {
        let raw = raw.into();
        let technical = words::unreachable(&raw) || raw.contains("(HTTP ");
        if !technical {
            return Notice::new(Severity::Error, raw);
        }
        let doing = raw
            .strip_prefix("Could not ")
            .and_then(|rest| rest.split_once(": "))
            .map(|(what, _)| what);
        let text = if words::unreachable(&raw) {
            match doing {
                Some(what) => format!("Could not {what}: the store could not be reached."),
                None => "The store could not be reached.".to_owned(),
            }
        } else {
            format!("The store refused it: {}.", words::store_reason(&raw))
        };
        Notice {
            details: Some(raw),
            ..Notice::new(Severity::Error, text)
        }
    }

    /// The raw reason kept for "Details".
    pub fn with_details(mut self, raw: impl Into<String>) -> Notice {
        self.details = Some(raw.into());
        self
    }
}

/// The notices on screen, oldest first.
#[derive(Debug)]
pub struct Notices {
    list: Vec<Notice>,
    lifetime: Duration,
}

impl Default for Notices {
    fn default() -> Self {
        Notices::new(NOTICE_LIFETIME)
    }
}

impl Notices {
    /// `lifetime`: how long information and successes stay (tests shorten it).
    pub fn new(lifetime: Duration) -> Notices {
        Notices {
            list: Vec::new(),
            lifetime,
        }
    }

    pub fn push(&mut self, notice: Notice) {
        self.list.push(notice);
    }

    pub fn dismiss(&mut self, index: usize) {
        if index < self.list.len() {
            self.list.remove(index);
        }
    }

    pub fn list(&self) -> &[Notice] {
        &self.list
    }

    /// Drops the notices whose time is up; returns how long until the next one is.
    pub fn expire(&mut self, now: Instant) -> Option<Duration> {
        let lifetime = self.lifetime;
        self.list
            .retain(|n| !n.severity.expires() || now.duration_since(n.since) < lifetime);
        self.list
            .iter()
            .filter(|n| n.severity.expires())
            .map(|n| (n.since + lifetime).saturating_duration_since(now))
            .min()
    }
}

impl Extend<Notice> for Notices {
    fn extend<T: IntoIterator<Item = Notice>>(&mut self, iter: T) {
        self.list.extend(iter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn information_expires_and_errors_stay() {
        let mut notices = Notices::new(Duration::from_secs(5));
        let start = Instant::now();
        notices.push(Notice::success("Saved."));
        notices.push(Notice::error("Could not delete the images: disk full"));
        assert!(notices.expire(start).is_some());
        assert_eq!(notices.list().len(), 2);
        assert_eq!(notices.expire(start + Duration::from_secs(6)), None);
        assert_eq!(notices.list().len(), 1);
        assert_eq!(notices.list()[0].severity, Severity::Error);
    }

    #[test]
    fn technical_errors_are_said_plainly_with_the_raw_text_under_details() {
        let raw = "Could not add the file: could not reach the store: error sending request: \
                   tcp connect error: Connection refused (os error 111)";
        let notice = Notice::error(raw);
        assert_eq!(
            notice.text,
            "Could not add the file: the store could not be reached."
        );
        assert_eq!(notice.details.as_deref(), Some(raw));
        let refused = Notice::error(
            "Could not add the file: the store refused the request (HTTP 400): image_file is not a picture",
        );
        assert_eq!(
            refused.text,
            "The store refused it: picture file is not a picture."
        );
        assert_eq!(
            Notice::error("Type a URL first.").details,
            None,
            "plain words stay as they are"
        );
    }
}
