//! The store commands' arguments, as clap reads them. `main.rs` mounts [`StoreCommand`] beside
//! `serve`; every help text here is what `imagedesk <command> --help` shows.

use std::path::PathBuf;

use super::refs::{ImageList, ProductRef, image_id};

/// The longest `--timeout` (a day): larger deadlines overflow the clock.
const MAX_WAIT_S: u64 = 86_400;

/// The exit statuses of the commands that only read, for their `--help` (a macro: `concat!`
/// takes literals only).
macro_rules! exit_read {
    () => {
        "Exit status: 0 done; 1 the store answered with an error, or records could not be read (the numbers may be incomplete; the reasons are printed); 2 bad usage or a local failure (the local copy cannot be opened, the file cannot be written); 3 the store did not answer within --timeout: the numbers come from the local copy as it was, and say so."
    };
}

/// The exit statuses of `import` and `import-folder`, for their `--help`.
macro_rules! exit_import {
    () => {
        "Exit status: 0 done (or queued for the app, which has the store open and sends them; or, with --dry-run, nothing to report); 1 the store refused some of these edits (its reasons are printed), answered with an error, or records could not be read; 2 bad usage (a malformed file, an unknown product or image, a file that is not a picture), nothing queued; 3 the store did not answer and the edits wait in the queue (`imagedesk sync` sends them), or it did not answer a look-up and nothing was queued."
    };
}

fn timeout_range() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=MAX_WAIT_S)
}

/// Which store, shared by every store command.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Which store (default: the embedded store of the app)")]
pub struct StoreArgs {
    /// The store's API root, e.g. https://store.example/api/v2. Without --api and --store the
    /// command works on the embedded store: the running app's, or one started for the command
    /// over the app's data directory.
    #[arg(
        long,
        env = "IMAGEDESK_API",
        value_name = "URL",
        hide_env_values = true
    )]
    pub api: Option<String>,

    /// The store's API token (needed with --api).
    #[arg(long, env = "IMAGEDESK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// User name for HTTP Basic credentials (username:token); without it the token is sent as
    /// X-Auth-Token.
    #[arg(long)]
    pub user: Option<String>,

    /// A store saved in the desktop app ("Stores…" dialog), by its name; its address, user and
    /// token are the ones the app saved. Takes precedence over --api and IMAGEDESK_API.
    #[arg(long, value_name = "NAME")]
    pub store: Option<String>,

    /// Where the app keeps its data: saved stores, tokens, replicas, the embedded store
    /// (default: the platform data directory, e.g. ~/.local/share/imagedesk).
    #[arg(
        long,
        env = "IMAGEDESK_DATA_DIR",
        value_name = "DIR",
        hide_env_values = true
    )]
    pub data_dir: Option<PathBuf>,

    /// The local replica and queue to use instead of the app's for this store (the store's
    /// profile under the data directory).
    #[arg(long, value_name = "DIR")]
    pub replica_dir: Option<PathBuf>,
}

/// How an edit is sent.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Sending")]
pub struct SendArgs {
    /// Only queue the edits, without contacting the store; `imagedesk sync` (or the app) sends
    /// them later. The product and images must already be in the local copy of the store.
    /// While the app (or another command) has the store open, edits are always only queued,
    /// and the app sends them (exit status 0).
    #[arg(long)]
    pub offline: bool,

    /// How long to wait for the store to take the edits, 1 to 86400 (a day). Edits it has not
    /// taken by then stay queued (exit status 3).
    // Bounded: a deadline of now + u64::MAX seconds overflows the clock (a panic, not an exit
    // status), and no store is worth waiting more than a day for.
    #[arg(long, default_value_t = 60, value_name = "SECONDS", value_parser = timeout_range())]
    pub timeout: u64,
}

/// The commands that edit or sync one store.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum StoreCommand {
    /// Send the queued edits of a store, pull what changed, and exit.
    ///
    /// Edits are queued by the app, or by the other store commands with --offline or while the
    /// store was unreachable. Uses the same local replica as the app.
    #[command(after_help = concat!(
        "Example:\n  imagedesk sync --api https://store.example/api/v2 --token \"$TOKEN\" --timeout 120\n\n",
        "Exit status: 0 every queued edit reached the store; 1 some were refused (listed with the store's reasons), the store answered with an error, or records could not be read; 2 bad usage or a local failure (the local copy cannot be opened); 3 the store did not answer (or did not take every edit before --timeout): the edits wait in the queue."
    ))]
    Sync(SyncArgs),

    /// Add pictures (files or http(s) URLs) to a product, in the order given.
    #[command(after_help = concat!(
        "Examples:\n  imagedesk add 42 front.jpg back.jpg --description \"Red mug\" --thumbnail\n",
        "  imagedesk add sku:MUG-RED https://cdn.example/mug.jpg --position 1\n\n",
        "Exit status: 0 done (or queued for the app, which has the store open and sends them); 1 the store refused some of this command's edits (its reasons are printed), answered with an error, or records of the product could not be read; 2 bad usage (unknown product or image, a file that is not a picture or cannot be read) or a local failure (the local copy cannot be opened); 3 the store did not answer and the edits wait in the queue (`imagedesk sync` sends them), or it did not answer a look-up and nothing was queued."
    ))]
    Add(AddArgs),

    /// Set an image's description (its alt text).
    #[command(after_help = concat!(
        "Example:\n  imagedesk describe sku:MUG-RED 1234 \"Red mug, side view\"\n\n",
        "Exit status: 0 done (or queued for the app, which has the store open and sends them); 1 the store refused some of this command's edits (its reasons are printed), answered with an error, or records of the product could not be read; 2 bad usage (unknown product or image) or a local failure (the local copy cannot be opened); 3 the store did not answer and the edits wait in the queue (`imagedesk sync` sends them), or it did not answer a look-up and nothing was queued."
    ))]
    Describe(DescribeArgs),

    /// Make an image its product's thumbnail.
    #[command(after_help = concat!(
        "Example:\n  imagedesk thumbnail 42 1234\n\n",
        "Exit status: 0 done (or queued for the app, which has the store open and sends them); 1 the store refused some of this command's edits (its reasons are printed), answered with an error, or records of the product could not be read; 2 bad usage (unknown product or image) or a local failure (the local copy cannot be opened); 3 the store did not answer and the edits wait in the queue (`imagedesk sync` sends them), or it did not answer a look-up and nothing was queued."
    ))]
    Thumbnail(ThumbnailArgs),

    /// Put the listed images first, in that order; the others follow in their current order.
    ///
    /// Sent as the fewest sort_order writes the store's shift rule allows.
    #[command(after_help = concat!(
        "Example:\n  imagedesk reorder 42 1236,1234   # 1236 first, 1234 second, the rest after\n\n",
        "Exit status: 0 done (or queued for the app, which has the store open and sends them); 1 the store refused some of this command's edits (its reasons are printed), answered with an error, or records of the product could not be read; 2 bad usage (unknown product or image, a bad list) or a local failure (the local copy cannot be opened); 3 the store did not answer and the edits wait in the queue (`imagedesk sync` sends them), or it did not answer a look-up and nothing was queued."
    ))]
    Reorder(ReorderArgs),

    /// Delete images of a product, or all of them.
    #[command(after_help = concat!(
        "Examples:\n  imagedesk delete 42 1234 1235\n  imagedesk delete sku:MUG-RED --all\n\n",
        "Exit status: 0 done (or queued for the app, which has the store open and sends them); 1 the store refused some of this command's edits (its reasons are printed), answered with an error, or records of the product could not be read; 2 bad usage (unknown product or image) or a local failure (the local copy cannot be opened); 3 the store did not answer and the edits wait in the queue (`imagedesk sync` sends them), or it did not answer a look-up and nothing was queued."
    ))]
    Delete(DeleteArgs),

    /// One row per product: its image count, its thumbnail and its pending edits, then the
    /// store-wide total asked of the store.
    ///
    /// Columns: product_id, sku, name, images, thumbnail (the thumbnail's image id, empty when
    /// the product has none), pending (edits waiting to be sent). The last row is the total
    /// number of images in the store, asked of the store itself (or, when it cannot be
    /// reached, summed from the local copy, which the line then says). How fresh the numbers
    /// are goes to stderr, so that stdout stays machine-readable.
    #[command(after_help = concat!(
        "Examples:\n  imagedesk counts\n  imagedesk counts --only empty --format csv > products-without-images.csv\n",
        "  imagedesk counts --format json | jq '.products[] | select(.images > 10)'\n\n",
        exit_read!()
    ))]
    Counts(CountsArgs),

    /// Catalogue findings, one per row: products without images or without a thumbnail,
    /// images without alt text, originals too small to zoom, the same picture twice.
    ///
    /// Columns: kind, product_id, sku, image_id, detail. Kinds: no-images; no-thumbnail (the
    /// product has images, none is the thumbnail); no-alt-text (an empty description);
    /// too-small (the original's longer side is under 1280 px, the zoom box; only for stores
    /// that say the original's size); duplicate (the same picture twice in one product, also
    /// re-encoded or resized; the detail names the other image). Rows come by product, then
    /// kind in that order, then image.
    #[command(after_help = concat!(
        "Examples:\n  imagedesk report\n  imagedesk report --format csv > findings.csv\n\n",
        exit_read!()
    ))]
    Report(ReportArgs),

    /// Write every image of the store to a CSV file.
    ///
    /// Columns: product_id, sku, image_id, sort_order, is_thumbnail (true/false), description,
    /// source (the original picture's URL). RFC 4180, UTF-8, with a header row; the file is
    /// replaced whole (never half-written). Edit it and give it to `imagedesk import`.
    #[command(after_help = concat!(
        "Example:\n  imagedesk export images.csv\n\n",
        exit_read!()
    ))]
    Export(ExportArgs),

    /// Apply a CSV of the export's columns: change what differs, add rows without an image id.
    ///
    /// A row with an image_id changes that image where the file differs from the store: its
    /// description, its place (the listed images of a product take the places they hold now,
    /// ordered by the file's sort_order), the thumbnail (a row with is_thumbnail true). A row
    /// without an image_id adds its source (an http(s) URL, or a file path, relative to the CSV
    /// file's folder) after the product's images, with its description (and as the thumbnail
    /// when is_thumbnail is true). A product is named by product_id, or by sku when product_id
    /// is empty. Nothing is ever deleted. Every row is checked before anything is queued: one
    /// bad row (named by its line) and nothing changes.
    #[command(after_help = concat!(
        "Examples:\n  imagedesk export images.csv && $EDITOR images.csv\n",
        "  imagedesk import images.csv --dry-run   # prints the edits, queues nothing\n",
        "  imagedesk import images.csv\n\n",
        exit_import!()
    ))]
    Import(ImportArgs),

    /// Add the pictures of a folder to the products their file names name by SKU.
    ///
    /// `SKU.jpg`, `SKU-2.jpg`, `SKU_3.png`: the SKU (case ignored), then an optional number,
    /// which orders the files of one product (no number counts as 1). They are added after the
    /// product's images, in number order. Files that name no product's SKU (and files that are
    /// not pictures) are listed and left alone. The folder's subfolders are not read.
    #[command(after_help = concat!(
        "Examples:\n  imagedesk import-folder ~/shoot-2026-11 --dry-run\n",
        "  imagedesk import-folder ~/shoot-2026-11\n\n",
        exit_import!()
    ))]
    ImportFolder(ImportFolderArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct SyncArgs {
    #[command(flatten)]
    pub store: StoreArgs,

    /// Give up after this many seconds, 1 to 86400 (a day), if the store does not take every
    /// edit (they stay queued; exit status 3).
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = timeout_range())]
    pub timeout: u64,

    /// Do not send Idempotency-Key on creates (for a store that rejects the header); a create
    /// that may have landed is then looked for in the store's list before it is sent again.
    #[arg(long)]
    pub no_idempotency_keys: bool,

    /// With --no-idempotency-keys: how long a create whose answer was lost may still be running
    /// on the store, so how long to wait before looking for it (at most 86400, a day).
    #[arg(long, default_value_t = 30, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=MAX_WAIT_S))]
    pub landing_window: u64,
}

#[derive(clap::Args, Debug, Clone)]
pub struct AddArgs {
    /// The product: its id, or sku:SKU.
    pub product: ProductRef,

    /// Picture files, or http(s) URLs the store downloads; added in this order, after the
    /// product's images (see --position).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,

    /// The description (alt text) of every added picture.
    #[arg(long, default_value = "", value_name = "TEXT")]
    pub description: String,

    /// Make the first added picture the product's thumbnail.
    #[arg(long)]
    pub thumbnail: bool,

    /// Put the added pictures at this position, counting from 1 (1 = first); past the end
    /// means last.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub position: Option<u32>,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DescribeArgs {
    /// The product: its id, or sku:SKU.
    pub product: ProductRef,

    /// The store's image id.
    #[arg(value_parser = image_id)]
    pub image: i64,

    /// The new description (alt text); "" clears it.
    pub text: String,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ThumbnailArgs {
    /// The product: its id, or sku:SKU.
    pub product: ProductRef,

    /// The store's id of the image that becomes the thumbnail.
    #[arg(value_parser = image_id)]
    pub image: i64,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ReorderArgs {
    /// The product: its id, or sku:SKU.
    pub product: ProductRef,

    /// Store image ids separated by commas, each once: these come first, in this order.
    #[arg(value_name = "IMAGE,IMAGE,…")]
    pub order: ImageList,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct DeleteArgs {
    /// The product: its id, or sku:SKU.
    pub product: ProductRef,

    /// The store's ids of the images to delete (all or none: an unknown id deletes nothing).
    #[arg(value_parser = image_id, value_name = "IMAGE", required_unless_present = "all", conflicts_with = "all")]
    pub images: Vec<i64>,

    /// Delete every image of the product.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// How a command that reads the whole catalogue gets it.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Reading")]
pub struct ReadArgs {
    /// Do not contact the store: use the local copy as it is (what the last sync, or the app,
    /// read). The output says how old it is.
    #[arg(long)]
    pub offline: bool,

    /// How long to wait for the store, 1 to 86400 (a day). The first run on a large store
    /// reads every product's images; a later run reads only what changed. When the time is
    /// up, what was read so far is used and the command says how many products it lacks
    /// (exit status 3).
    #[arg(long, default_value_t = 600, value_name = "SECONDS", value_parser = timeout_range())]
    pub timeout: u64,
}

/// How a command prints its rows.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON document; its fields are stable across versions (new ones may be added).
    Json,
}

/// Which products `counts` lists.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountsFilter {
    /// Products without images.
    Empty,
    /// Products that have images but no thumbnail.
    NoThumbnail,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CountsArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    /// List only these products (the total stays the whole store's).
    #[arg(long, value_enum)]
    pub only: Option<CountsFilter>,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    /// The CSV file to write (replaced if it exists).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,

    #[command(flatten)]
    pub read: ReadArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// The CSV file to read (the columns of `imagedesk export`).
    #[arg(value_name = "FILE.csv")]
    pub file: PathBuf,

    /// Print the edits the file would queue, and queue nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct ImportFolderArgs {
    /// The folder of pictures named by SKU.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print which file goes to which product and position, and queue nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub send: SendArgs,

    #[command(flatten)]
    pub store: StoreArgs,
}

impl StoreArgs {
    /// Takes what was given before the command name (`imagedesk --api URL sync`, the app's
    /// own flags) where the command itself did not say, rather than silently working on the
    /// embedded store.
    pub fn inherit(
        &mut self,
        api: Option<String>,
        token: Option<String>,
        user: Option<String>,
        data_dir: Option<PathBuf>,
    ) {
        if self.api.is_none() && self.store.is_none() {
            self.api = api;
            self.user = self.user.take().or(user);
        }
        self.token = self.token.take().or(token);
        self.data_dir = self.data_dir.take().or(data_dir);
    }
}

impl StoreCommand {
    pub fn store_mut(&mut self) -> &mut StoreArgs {
        match self {
            StoreCommand::Sync(a) => &mut a.store,
            StoreCommand::Add(a) => &mut a.store,
            StoreCommand::Describe(a) => &mut a.store,
            StoreCommand::Thumbnail(a) => &mut a.store,
            StoreCommand::Reorder(a) => &mut a.store,
            StoreCommand::Delete(a) => &mut a.store,
            StoreCommand::Counts(a) => &mut a.store,
            StoreCommand::Report(a) => &mut a.store,
            StoreCommand::Export(a) => &mut a.store,
            StoreCommand::Import(a) => &mut a.store,
            StoreCommand::ImportFolder(a) => &mut a.store,
        }
    }

    pub fn store(&self) -> &StoreArgs {
        match self {
            StoreCommand::Sync(a) => &a.store,
            StoreCommand::Add(a) => &a.store,
            StoreCommand::Describe(a) => &a.store,
            StoreCommand::Thumbnail(a) => &a.store,
            StoreCommand::Reorder(a) => &a.store,
            StoreCommand::Delete(a) => &a.store,
            StoreCommand::Counts(a) => &a.store,
            StoreCommand::Report(a) => &a.store,
            StoreCommand::Export(a) => &a.store,
            StoreCommand::Import(a) => &a.store,
            StoreCommand::ImportFolder(a) => &a.store,
        }
    }

    /// Makes an edit command only queue its edits, as with `--offline`: another engine (the
    /// app) holds the replica and sends them.
    pub(crate) fn queue_only(&mut self) {
        if let Some(send) = self.send_mut() {
            send.offline = true;
        }
    }

    fn send_mut(&mut self) -> Option<&mut SendArgs> {
        match self {
            StoreCommand::Sync(_)
            | StoreCommand::Counts(_)
            | StoreCommand::Report(_)
            | StoreCommand::Export(_) => None,
            StoreCommand::Import(a) => Some(&mut a.send),
            StoreCommand::ImportFolder(a) => Some(&mut a.send),
            StoreCommand::Add(a) => Some(&mut a.send),
            StoreCommand::Describe(a) => Some(&mut a.send),
            StoreCommand::Thumbnail(a) => Some(&mut a.send),
            StoreCommand::Reorder(a) => Some(&mut a.send),
            StoreCommand::Delete(a) => Some(&mut a.send),
        }
    }

    /// How a command that reads the whole catalogue gets it; `None` for the others.
    pub fn read(&self) -> Option<&ReadArgs> {
        match self {
            StoreCommand::Counts(a) => Some(&a.read),
            StoreCommand::Report(a) => Some(&a.read),
            StoreCommand::Export(a) => Some(&a.read),
            _ => None,
        }
    }

    /// How edits are sent; `None` for `sync`, which only sends, and the commands that read.
    pub fn send(&self) -> Option<&SendArgs> {
        match self {
            StoreCommand::Sync(_)
            | StoreCommand::Counts(_)
            | StoreCommand::Report(_)
            | StoreCommand::Export(_) => None,
            StoreCommand::Import(a) => Some(&a.send),
            StoreCommand::ImportFolder(a) => Some(&a.send),
            StoreCommand::Add(a) => Some(&a.send),
            StoreCommand::Describe(a) => Some(&a.send),
            StoreCommand::Thumbnail(a) => Some(&a.send),
            StoreCommand::Reorder(a) => Some(&a.send),
            StoreCommand::Delete(a) => Some(&a.send),
        }
    }
}
