//! `imagedesk import-folder DIR`: pictures named by SKU (`SKU.jpg`, `SKU-2.jpg`, `SKU_3.png`)
//! added to the product with that SKU, after its images, in number order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::args::ImportFolderArgs;
use super::outcome::{CliError, UsageError};
use super::resolve::{self, Done, Resolved};
use super::rows::{Cell, Rows};
use crate::sync::sku_files::{self, file_name, matches};
use crate::sync::{Engine, ImageId};

/// The folder's files (not its subfolders), by name.
fn folder_files(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    sku_files::folder_files(dir).map_err(|err| {
        CliError::from(UsageError::BadFile {
            path: dir.to_owned(),
            line: None,
            reason: format!("the folder cannot be read: {err}"),
        })
    })
}

/// Plans (and unless `--dry-run`, queues) the folder's pictures.
pub async fn run(engine: &Engine, args: &ImportFolderArgs) -> Result<Option<Done>, CliError> {
    let files = folder_files(&args.dir)?;
    if !args.send.offline {
        resolve::first_pull(engine, std::time::Duration::from_secs(args.send.timeout)).await;
    }
    let products = engine.products().await?;
    let counts: HashMap<i64, usize> = products
        .iter()
        .map(|p| (p.id, usize::try_from(p.image_count).unwrap_or(usize::MAX)))
        .collect();
    let (planned, unmatched) = matches(&files, &products, &counts);
    // Each product is refreshed (its images counted as the store has them now) before the
    // positions are final.
    let mut resolved: Vec<Resolved> = Vec::new();
    let mut fresh_counts = counts.clone();
    for product_id in planned
        .iter()
        .map(|m| m.product_id)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let found =
            resolve::product(engine, &super::refs::ProductRef::Id(product_id), &args.send).await?;
        fresh_counts.insert(product_id, engine.images(product_id).await?.len());
        resolved.push(found);
    }
    let (planned, _) = matches(&files, &products, &fresh_counts);
    let table = Rows {
        columns: &["file", "product_id", "sku", "position"],
        rows: planned
            .iter()
            .map(|m| {
                vec![
                    Cell::text(file_name(&m.file)),
                    Cell::number(m.product_id),
                    Cell::text(&m.sku),
                    Cell::number(m.position as i64),
                ]
            })
            .collect(),
    };
    print!("{}", table.table());
    for (file, why) in &unmatched {
        println!("left alone: {}: {}", file_name(file), why.words());
    }
    if args.dry_run {
        println!(
            "{} pictures to add, {} files left alone; nothing was queued (--dry-run)",
            planned.len(),
            unmatched.len()
        );
        return Ok(None);
    }
    let mut created: Vec<(ImageId, String)> = Vec::new();
    for m in &planned {
        match engine.add_file(m.product_id, &m.file, "").await {
            Ok(id) => created.push((id, file_name(&m.file))),
            Err(err) => {
                resolve::take_back(engine, &created).await;
                return Err(resolve::input(err));
            }
        }
    }
    Ok(Some(Done {
        edits: planned
            .iter()
            .map(|m| {
                format!(
                    "add {} to product {} at position {}",
                    file_name(&m.file),
                    m.product_id,
                    m.position
                )
            })
            .collect(),
        created,
        products: resolved,
    }))
}
