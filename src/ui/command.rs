//! Everything the user can ask of the app, as one enum. Drawing code never changes the app: it
//! pushes [`Command`]s, and `ImageDeskApp::apply` carries each out, in one place.

use std::path::PathBuf;

pub use super::controller::MoveStep;
pub use super::csv_reply::CsvMode;
pub use super::grid::GridFilter;
use super::profiles::Profile;
use crate::sync::{DeletedId, ImageId, ProductSort};

/// What the centre of the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Images,
    Counts,
    /// The catalogue's findings (`imagedesk report`).
    Reports,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    // -- the window ----------------------------------------------------------------------------
    ShowView(View),
    OpenStoresDialog,
    /// Save a store's profile, and its token if one was typed.
    SaveStore {
        profile: Profile,
        token: String,
    },
    /// Save a store's profile (and token), then switch the window to it.
    SaveAndConnect {
        profile: Profile,
        token: String,
    },
    /// Switch the window to a saved store, with its saved token.
    ConnectSaved(Profile),
    ForgetStore(Profile),
    DismissNotice(usize),
    Quit,

    // -- the store shown -----------------------------------------------------------------------
    /// Pull the store now, and ask for its total.
    Refresh,
    /// Try the store again now with the queued edits, instead of waiting out the back-off.
    RetryNow,
    /// Open the list of every pending and failed edit (the status bar's counts).
    ShowPending,
    ClosePending,
    /// Open the "Recently deleted" window (the tool bar, Ctrl+Shift+D).
    ShowRecentlyDeleted,
    CloseRecentlyDeleted,
    /// Put a deleted picture back at its old place, with its description.
    RestoreDeleted(DeletedId),
    /// Remove a deleted picture's kept copy for good ("Delete now").
    ForgetDeleted(DeletedId),
    /// Send a failed edit again (its outbox sequence number).
    RetryEdit(i64),
    /// Drop a queued edit (its outbox sequence number); a refused add's tile goes with it.
    DiscardEdit(i64),
    /// Open the list of the store's records that could not be read.
    ShowUnreadable,
    CloseUnreadable,
    RecountStore,
    /// Show a product's images (from the product list or the counts table).
    SelectProduct(i64),
    /// The product list's search text changed (each keystroke).
    SearchProducts(String),
    /// Make the Reports view's report (again).
    RunReport,
    /// A click on a column header of the counts table.
    SortCounts(ProductSort),
    /// A click on a tile: `add` with Ctrl, `extend` with Shift.
    Click {
        id: ImageId,
        add: bool,
        extend: bool,
    },
    SelectAll,
    ClearSelection,
    /// Select an image and show it in the preview (a double-click, the preview's arrows).
    Open(ImageId),
    /// Show an image in the preview, leaving the selection as it is.
    Preview(ImageId),
    ClosePreview,
    /// A tile dropped in the gap before the tile at `slot` (the list's length: at the end),
    /// where the insertion line showed; with the selection if it is part of it.
    MoveTo {
        dragged: ImageId,
        slot: usize,
    },
    /// Alt+←, Alt+→, Home (or Alt+Home): the selection one place back, on, or first.
    MoveSelection(MoveStep),
    SaveDescription {
        id: ImageId,
        text: String,
    },
    SetThumbnail(ImageId),
    /// The alt-text prompt's "Save" (Enter): its descriptions go as describe edits.
    SaveAltText,
    /// The alt-text prompt's "Skip" (Esc): the new pictures stay without descriptions.
    SkipAltText,
    /// Show every image, or only those without a description (the grid's filter).
    SetGridFilter(GridFilter),
    /// The description editor lost the keyboard focus: save what was typed, if anything.
    CommitDescription,
    /// Describe every selected image from a pattern (`controller::fill_pattern`).
    DescribeSelection {
        pattern: String,
    },
    /// Escape in the description editor: drop what was typed.
    RevertDescription,
    Undo,
    Redo,
    DeleteSelection,
    /// Ask before deleting all images of the product shown.
    AskDeleteAll,
    ConfirmDeleteAll,
    CancelDeleteAll,
    /// The Undo button of a held delete's toast.
    UndoHeldDelete(Vec<ImageId>),
    /// "Keep mine" for a held edit (its outbox sequence number): it is sent now.
    KeepMine(i64),
    /// "Use the store's" for a held edit: it is dropped and the store's value stays.
    UseTheirs(i64),
    /// "Later" on a held edit's message: it goes; the Pending window still lists the edit.
    ConflictLater(i64),

    // -- adding and replacing pictures, exporting ----------------------------------------------
    /// Open the file dialog to add images to the product shown.
    ChooseFiles,
    /// Add the file typed in the "File path" field.
    AddFromPath,
    /// Add the image at the URL typed in the "Image URL" field.
    AddFromUrl,
    /// Files dropped on the window: added to the product shown.
    DropFiles(Vec<PathBuf>),
    /// Files chosen in the dialog for `product` (the one shown when it opened).
    AddFiles {
        product: i64,
        paths: Vec<PathBuf>,
    },
    Replace {
        id: ImageId,
        path: PathBuf,
    },
    /// Open the file dialog to pick a replacement picture.
    ChooseReplacement(ImageId),
    ExportCsv(PathBuf),
    /// Open the save dialog for the CSV.
    ChooseCsvPath,

    // -- importing a folder of pictures named by SKU ---------------------------------------------
    /// Open the "Import folder…" window (the tool bar).
    ShowFolderImport,
    /// Close it; an import under way goes on.
    CloseFolderImport,
    /// Read and match the folder typed in its field.
    ReadImportFolder,
    /// Queue the previewed pictures.
    ApplyFolderImport,
    /// Take back the pictures of the import not sent yet.
    CancelFolderImport,

    // -- the catalogue as CSV (export, and import with a preview) --------------------------------
    /// Open the catalogue CSV window to export or to import (the tool bar).
    ShowCatalogueCsv(CsvMode),
    /// Close it (Esc, Cancel): a plan not applied is dropped; an export or apply goes on.
    CloseCatalogueCsv,
    /// Its main button, or Enter in its path field: export to, or read and plan, the typed
    /// path; with none typed, the file dialog opens.
    SubmitCatalogueCsv,
    /// Open the file dialog for it.
    ChooseCatalogueCsv,
    /// The file dialog's answer for it.
    CatalogueCsvChosen(PathBuf),
    /// Queue the previewed edits.
    ApplyCsvImport,
    // -- bulk edits of several products; copies to other products ------------------------------
    /// A click on row `index` of the product list: plain (open the product), `add` with Ctrl
    /// (toggle it in the selection of several), `extend` with Shift (the rows between).
    ClickProduct {
        id: i64,
        index: u64,
        add: bool,
        extend: bool,
    },
    ClearProductSelection,
    /// Alt text from a pattern for every image of the selected products.
    DescribeProducts {
        pattern: String,
        only_missing: bool,
    },
    /// Ask before deleting every image of the selected products (counted first).
    AskDeleteProducts,
    ConfirmDeleteProducts,
    CancelDeleteProducts,
    /// Open "Copy to other products…" for the selection (or, from a tile's menu, for that
    /// image when it is not part of the selection).
    ShowCopyPicker(Option<ImageId>),
    /// The copy window's search field changed.
    SearchCopyTargets(String),
    /// A product ticked or unticked in the copy window.
    ToggleCopyTarget(i64),
    /// Copy the window's pictures to the ticked products.
    CopyToChosen,
    CloseCopyPicker,
}
