//! `imagedesk counts`: one row per product, then the store-wide total.

use super::args::{CountsArgs, CountsFilter, OutputFormat};
use super::catalogue::{Catalogue, Freshness};
use super::outcome::{CliError, Exit};
use super::rows::{Cell, Rows, print};
use crate::sync::Engine;

pub const COLUMNS: &[&str] = &[
    "product_id",
    "sku",
    "name",
    "images",
    "thumbnail",
    "pending",
];

/// Where the total comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TotalFrom {
    /// `GET /products/images/count.json`, asked just now.
    Store,
    /// Summed from the local copy (offline, or the store did not answer the count).
    LocalCopy,
}

impl TotalFrom {
    fn words(self) -> &'static str {
        match self {
            TotalFrom::Store => "store",
            TotalFrom::LocalCopy => "local copy",
        }
    }
}

pub async fn run(
    engine: &Engine,
    args: &CountsArgs,
    catalogue: Catalogue,
) -> Result<Exit, CliError> {
    let (total, from) = total(engine, &catalogue).await;
    let mut rows = rows(&catalogue, args.only);
    // The JSON document carries the total in fields of its own; the table and the CSV end
    // with it as a last row (SPEC §3: "then the store-wide total").
    if args.format != OutputFormat::Json {
        let pending: u64 = catalogue.products.iter().map(|p| p.pending_edits).sum();
        rows.rows.push(vec![
            Cell::Empty,
            Cell::Empty,
            Cell::text(format!("total ({})", from.words())),
            Cell::number(total),
            Cell::Empty,
            Cell::number(pending),
        ]);
    }
    let bytes = rows
        .render(
            args.format,
            "products",
            vec![
                ("total_images", total.into()),
                ("total_from", from.words().into()),
                ("read_from_store", catalogue.freshness.is_current().into()),
            ],
        )
        .map_err(|err| CliError::Setup {
            context: "could not write the counts",
            source: err.into(),
        })?;
    print(&bytes).map_err(|err| CliError::Setup {
        context: "could not write the counts",
        source: err.into(),
    })?;
    eprintln!("{}", catalogue.freshness.sentence());
    Ok(catalogue.exit())
}

/// The images of the whole store: asked of the store when it was just read (the replica may
/// lag behind another client's writes by a round), else the local sum.
async fn total(engine: &Engine, catalogue: &Catalogue) -> (u64, TotalFrom) {
    let local: u64 = catalogue.products.iter().map(|p| p.image_count).sum();
    if catalogue.freshness != Freshness::FromStore {
        return (local, TotalFrom::LocalCopy);
    }
    match engine.store_image_count().await {
        Ok(count) => (count, TotalFrom::Store),
        Err(err) => {
            eprintln!(
                "note: the store did not answer the total ({err}); summed from the local copy"
            );
            (local, TotalFrom::LocalCopy)
        }
    }
}

fn rows(catalogue: &Catalogue, only: Option<CountsFilter>) -> Rows {
    let rows: Vec<Vec<Cell>> = catalogue
        .products
        .iter()
        .filter(|p| match only {
            None => true,
            Some(CountsFilter::Empty) => p.image_count == 0,
            Some(CountsFilter::NoThumbnail) => p.image_count > 0 && !p.has_thumbnail,
        })
        .map(|p| {
            let thumbnail = catalogue
                .images_of(p.id)
                .iter()
                .find(|i| i.is_thumbnail)
                .and_then(|i| i.server_id);
            vec![
                Cell::number(p.id),
                Cell::text(&p.sku),
                Cell::text(&p.name),
                Cell::number(p.image_count),
                Cell::maybe(thumbnail),
                Cell::number(p.pending_edits),
            ]
        })
        .collect();
    Rows {
        columns: COLUMNS,
        rows,
    }
}
