//! The whole catalogue as the commands that read it see it (`counts`, `report`, `export`): the
//! replica brought up to date with the store first (unless `--offline`), and a plain account
//! of how fresh it is.

use std::collections::BTreeMap;
use std::time::Duration;

use super::args::ReadArgs;
use super::outcome::{CliError, Exit, unreadable_in_words};
use crate::sync::{Connection, Engine, LocalImage, ProductSummary};

/// Where the numbers come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Every product was read from the store during this command.
    FromStore,
    /// The local copy, not refreshed: `--offline`.
    Offline,
    /// The local copy the app is keeping up to date (it has the store open).
    AppsCopy,
    /// The store did not answer; the local copy as it was.
    Unreachable(String),
    /// The store answered, but `unread` products' images were not read before the time-out.
    Partial { unread: u64 },
}

impl Freshness {
    /// The sentence on stderr.
    pub fn sentence(&self) -> String {
        let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
        match self {
            Freshness::FromStore => format!("read from the store just now ({now})"),
            Freshness::Offline => {
                "from the local copy, not refreshed (--offline); `imagedesk sync` refreshes it"
                    .to_owned()
            }
            Freshness::AppsCopy => {
                "from the local copy of the app, which has the store open and keeps it up to date"
                    .to_owned()
            }
            Freshness::Unreachable(error) => {
                format!("the store could not be reached ({error}): from the local copy as it was")
            }
            Freshness::Partial { unread } => format!(
                "the images of {unread} products were not read before --timeout: they are counted as the local copy had them; run the command again to go on"
            ),
        }
    }

    /// Whether the store itself was read just now.
    pub fn is_current(&self) -> bool {
        *self == Freshness::FromStore
    }

    /// The exit status this freshness calls for (SPEC §3: 3 when the store did not answer).
    pub fn exit(&self) -> Exit {
        match self {
            Freshness::FromStore | Freshness::Offline | Freshness::AppsCopy => Exit::Done,
            Freshness::Unreachable(_) | Freshness::Partial { .. } => Exit::Unreachable,
        }
    }
}

/// Products and their images, by product id.
pub struct Catalogue {
    pub products: Vec<ProductSummary>,
    /// Each product's visible images in display order.
    pub images: BTreeMap<i64, Vec<LocalImage>>,
    pub freshness: Freshness,
    /// Records of the store that could not be read (printed on stderr; exit status 1).
    pub unreadable: usize,
}

impl Catalogue {
    pub fn images_of(&self, product_id: i64) -> &[LocalImage] {
        self.images.get(&product_id).map_or(&[], Vec::as_slice)
    }

    /// The exit status: the freshness's, else 1 when records could not be read.
    pub fn exit(&self) -> Exit {
        match self.freshness.exit() {
            Exit::Done if self.unreadable > 0 => Exit::Refused,
            other => other,
        }
    }
}

/// Reads the catalogue. `handed_over`: the app holds the replica (the engine is offline).
pub async fn read(
    engine: &Engine,
    args: &ReadArgs,
    handed_over: bool,
) -> Result<Catalogue, CliError> {
    let freshness = if handed_over {
        Freshness::AppsCopy
    } else if args.offline {
        Freshness::Offline
    } else {
        let status = engine.caught_up(Duration::from_secs(args.timeout)).await;
        let unread = engine.products_unread().await?;
        if status.last_sync.is_none() {
            Freshness::Unreachable(
                status
                    .last_error
                    .unwrap_or_else(|| "no answer within --timeout".to_owned()),
            )
        } else if status.connection == Connection::Offline {
            Freshness::Unreachable(
                status
                    .last_error
                    .unwrap_or_else(|| "the connection was lost".to_owned()),
            )
        } else if unread > 0 {
            Freshness::Partial { unread }
        } else {
            Freshness::FromStore
        }
    };
    let unreadable = engine.unreadable();
    for record in &unreadable {
        eprintln!("{}", unreadable_in_words(record));
    }
    let products = engine.products().await?;
    let mut images: BTreeMap<i64, Vec<LocalImage>> = BTreeMap::new();
    for image in engine.catalogue_images().await? {
        images.entry(image.product_id).or_default().push(image);
    }
    Ok(Catalogue {
        products,
        images,
        freshness,
        unreadable: unreadable.len(),
    })
}
