//! The store commands: `imagedesk sync`, `add`, `describe`, `thumbnail`, `reorder`, `delete`,
//! and the catalogue-wide ones: `counts`, `report`, `export`, `import`, `import-folder`.
//!
//! Each works on one store (`--api`, `--store NAME`, or the embedded store) through the same
//! local replica and durable outbox as the desktop app, by way of [`crate::sync::Engine`]: an
//! edit is applied to the replica and queued in one transaction, then sent by the engine's
//! worker while the command waits (or only queued, with `--offline`). So a script, a support
//! person and the app never disagree about what is pending, and an interrupted command loses
//! nothing: the next `imagedesk sync` (or the app) sends what is left.
//!
//! - [`args`]: the clap arguments, which `main.rs` mounts as subcommands;
//! - `target`: which store, its credentials and its replica directory;
//! - `saved`: the stores saved in the app (`--store NAME`), read from the app's own files;
//! - [`refs`]: `PRODUCT` (`42` or `sku:ABC`) and `IMAGE` lists as typed values;
//! - `run`: a command over an engine; `outcome`: exit statuses and errors;
//! - `catalogue`: the whole catalogue read for `counts`, `report` and `export`, and how fresh
//!   it is; `rows`: their table / CSV / JSON output; `duplicates`: the report's same-picture
//!   pairs (perceptual hashes kept in the replica);
//! - `import` and `import_folder`: files read, checked and planned as edits before any is
//!   queued (`--dry-run` prints the plan).

pub mod args;
mod catalogue;
mod counts;
mod duplicates;
mod export;
mod import;
mod import_folder;
mod outcome;
pub mod refs;
mod report;
mod resolve;
mod rows;
mod run;
mod saved;
mod target;

pub use args::StoreCommand;
pub use outcome::{CliError, Exit, UsageError};
pub use run::run;
pub use saved::{SavedStoreError, saved_stores};
