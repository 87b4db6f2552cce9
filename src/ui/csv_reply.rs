//! What the catalogue CSV window (`csv_import.rs`) and the runtime say to each other: `Backend`
//! carries these in `Message::CatalogueCsv` without importing the window.

use std::path::PathBuf;

use crate::sync::catalogue_csv::{CsvPlan, Problem};

/// Which of the two the window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvMode {
    /// "Export catalogue CSV…": every image of the local copy to a file.
    Export,
    /// "Import CSV…": a file read and planned, previewed, then applied.
    Import,
}

/// A finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub path: PathBuf,
    pub images: usize,
    pub products: usize,
    /// Pictures not in the store yet, left out (they have no id).
    pub unsent: usize,
}

/// Why a file could not be planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotPlanned {
    /// The file's own problems, each on its line: nothing can be applied.
    Problems(Vec<Problem>),
    /// The file or the local copy could not be read; the words say which.
    Failed(String),
}

/// Answers of the runtime to the window.
#[derive(Debug)]
pub enum CsvReply {
    Exported(Result<Exported, String>),
    Planned(Result<CsvPlan, NotPlanned>),
    /// The plan was queued: how many edits, or why it stopped (the adds are taken back then).
    Applied(Result<usize, String>),
}
