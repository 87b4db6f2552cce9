//! What the "Import folder…" window and the runtime say to each other (`folder_import.rs`
//! draws the window; `Backend` carries these in `Message::FolderImport`): where the files
//! come from, the plan the folder was matched into, and the runtime's answers.

use std::path::PathBuf;

use crate::sync::ImageId;
use crate::sync::sku_files::Unmatched;

/// Where the files to import come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Folder(PathBuf),
    /// Files dropped on the window while no product was shown.
    Dropped(Vec<PathBuf>),
    /// Files dropped on the window while the product `shown` was shown: those named by a
    /// product's SKU go to that product, those named by none to the product shown.
    DroppedOn {
        files: Vec<PathBuf>,
        shown: i64,
    },
}

/// A file going to a product, at a position counted from 1 after the product's images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub file: PathBuf,
    pub product_id: i64,
    pub product_name: String,
    pub sku: String,
    pub position: usize,
    /// Whether its name gave the product; `false`: dropped on the product shown and named by
    /// no product's SKU, it goes to the product shown.
    pub named_by_sku: bool,
}

/// The preview: the files to add, in the order they will be added, and those left alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
    pub left_alone: Vec<(PathBuf, Unmatched)>,
}

/// Answers of the runtime to the window.
#[derive(Debug)]
pub enum Reply {
    /// The folder read and matched, or why it could not be.
    Planned(Result<Plan, String>),
    /// The planned file at `index` was handed to the engine.
    Queued {
        index: usize,
        result: Result<ImageId, String>,
    },
    /// The apply stopped at `index` because of Cancel: it and the files after it were never
    /// handed to the engine.
    Stopped {
        index: usize,
    },
    /// The import's images the store has now (their create was sent).
    InStore(Vec<ImageId>),
    /// Images whose create was taken back.
    Cancelled(Vec<ImageId>),
    Error(String),
    /// Files dropped on the product shown, none named by another product's SKU: they are
    /// added to the product shown, as any drop is.
    AddToShown {
        product: i64,
        files: Vec<PathBuf>,
    },
    /// Files dropped on the product shown, some named by other products' SKUs: the preview
    /// opens with them.
    DropPlanned(Plan),
}
