//! How a store command ends: its exit status, and the errors that decide it.

use std::path::PathBuf;

use super::refs::ProductRef;
use crate::sync::{ConflictField, OutboxEntry, SyncError};

/// The exit statuses of the store commands (SPEC §3), so scripts can tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every edit reached the store (or, with `--offline`, was queued).
    Done,
    /// The store answered but refused some edits (its reasons were printed), answered with an
    /// error every time, or some of its records could not be read. For an edit command, only
    /// its own edits count: edits refused in earlier sessions are `imagedesk sync`'s to report.
    Refused,
    /// Something on this machine failed (the replica, the embedded store). Shares status 2
    /// with bad usage: SPEC §3 keeps 1 for what the store said and 3 for a store that did not
    /// answer, and a script must not retry or discard edits because of a local failure.
    Failed,
    /// Bad usage: an unknown product or image, a malformed argument, a file that is not a
    /// picture or cannot be read.
    Usage,
    /// The store never answered (or did not take every edit in time); the edits wait in the
    /// queue for the next `imagedesk sync` or the app.
    Unreachable,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Done => 0,
            Exit::Refused => 1,
            Exit::Usage | Exit::Failed => 2,
            Exit::Unreachable => 3,
        }
    }
}

/// The line a command prints for an edit held because the store changed the same field too
/// (SPEC §3: like a refusal, it needs a person, so the command exits 1).
pub fn held_in_words(entry: &OutboxEntry) -> String {
    let kind = entry
        .kind
        .map_or_else(|| "edit".to_owned(), |k| k.to_string());
    let Some(held) = &entry.held else {
        return format!(
            "held: edit #{} ({kind}, product {})",
            entry.seq, entry.product_id
        );
    };
    let sides = match held.field {
        ConflictField::Description => {
            format!("yours: \"{}\", the store's: \"{}\"", held.mine, held.theirs)
        }
        ConflictField::Picture => {
            format!("your picture: {}, the store's: {}", held.mine, held.theirs)
        }
        ConflictField::Thumbnail => "the store chose another image as the thumbnail".to_owned(),
    };
    format!(
        "held: edit #{} ({kind}, product {}): the store changed it too since this edit was made ({sides}); it is not sent until you choose in the app's Pending window (Keep mine or Use the store's)",
        entry.seq, entry.product_id
    )
}

/// Something named on the command line that is not there, or cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("--api needs a token: pass --token or set IMAGEDESK_TOKEN")]
    MissingToken,
    #[error("no store named '{name}' is saved in the app (saved: {})", list_or_none(.known))]
    UnknownStore { name: String, known: Vec<String> },
    #[error(
        "the app has no token saved for store '{name}' ({path}); save it in the app's Stores dialog, or use --api and --token"
    )]
    NoSavedToken { name: String, path: PathBuf },
    #[error("{0} is not on the store")]
    UnknownProduct(ProductRef),
    #[error("image {image} is not an image of product {product} on the store")]
    UnknownImage { product: i64, image: i64 },
    #[error(
        "{0} is not in the local copy of the store; run the command once without --offline, or `imagedesk sync`, so that it is"
    )]
    ProductNotInReplica(ProductRef),
    #[error(
        "image {image} of product {product} is not in the local copy of the store; run the command once without --offline, or `imagedesk sync`, so that it is"
    )]
    ImageNotInReplica { product: i64, image: i64 },
    /// The engine refused the input before queueing anything: a file that is not a picture,
    /// a URL that is not http(s), a missing file.
    #[error("{0}")]
    Input(SyncError),
    #[error("{0}")]
    InvalidAddress(crate::api::ApiError),
    /// A file or folder named on the command line that cannot be used as it is (`import`,
    /// `import-folder`): where, and why, so it can be fixed.
    #[error("{}", at_line(path, *line, reason))]
    BadFile {
        path: PathBuf,
        line: Option<u64>,
        reason: String,
    },
}

fn at_line(path: &std::path::Path, line: Option<u64>, reason: &str) -> String {
    match line {
        Some(line) => format!(
            "{}, line {line}: {reason}; nothing was queued",
            path.display()
        ),
        None => format!("{}: {reason}; nothing was queued", path.display()),
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Why a store command stopped early.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// No answer from the store where one was needed (to look a product up); what the store
    /// or the network said.
    #[error("the store could not be reached: {0}")]
    Unreachable(String),
    /// The store did not answer while the command looked up what it names, and the local
    /// copy does not know it either: nothing was queued.
    #[error("the store could not be reached to look up {what} ({error}); nothing was queued")]
    UnreachableLookup { what: String, error: String },
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("{context}: {source:#}")]
    Setup {
        context: &'static str,
        source: anyhow::Error,
    },
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Unreachable(_) | CliError::UnreachableLookup { .. } => Exit::Unreachable,
            CliError::Sync(SyncError::UnknownProduct(_) | SyncError::UnknownImage(_)) => {
                Exit::Usage
            }
            CliError::Sync(_) | CliError::Setup { .. } => Exit::Failed,
        }
    }
}

/// A record of the store that could not be read, as the commands print it: which record, which
/// field, the store's value and why.
pub fn unreadable_in_words(record: &crate::api::UnreadableRecord) -> String {
    let or_unknown = |id: Option<i64>| id.map_or_else(|| "?".to_owned(), |id| id.to_string());
    format!(
        "unreadable: {} {} of product {}: field {} = {} ({})",
        record.kind,
        or_unknown(record.id),
        or_unknown(record.product_id),
        record.field.as_deref().unwrap_or("(the record)"),
        record.value,
        record.reason
    )
}
