//! `imagedesk import FILE.csv`: the export's columns read back as edits — what differs from the
//! store is changed, rows without an image id are added, nothing is deleted.
//!
//! The reading, the plan and the queuing are [`crate::sync::catalogue_csv`]'s (the app's
//! "Import CSV…" uses the same); this command refreshes the named products from the store
//! first, prints the plan with `--dry-run`, and turns a problem of the file into bad usage
//! naming its line (the first one; nothing is queued).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::args::ImportArgs;
use super::outcome::{CliError, UsageError};
use super::resolve::{self, Done, Resolved};
use crate::sync::catalogue_csv::{self, Planned, Problem, ProductRef};
use crate::sync::{Engine, LocalImage};

/// A problem with the file, named by its line where there is one.
fn bad(path: &Path, line: Option<u64>, reason: impl Into<String>) -> CliError {
    UsageError::BadFile {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
    .into()
}

/// The first of the file's problems (in line order), as the command reports it.
fn first(path: &Path, problems: Vec<Problem>) -> CliError {
    match problems.into_iter().next() {
        Some(problem) => bad(path, problem.line, problem.reason),
        None => bad(path, None, "the file could not be read"),
    }
}

/// Reads, checks and plans the file; queues the edits unless `--dry-run`.
pub async fn run(engine: &Engine, args: &ImportArgs) -> Result<Option<Done>, CliError> {
    let path = &args.file;
    let bytes =
        std::fs::read(path).map_err(|err| bad(path, None, format!("cannot be read: {err}")))?;
    let rows = catalogue_csv::read_rows(&bytes).map_err(|problems| first(path, problems))?;
    let mut resolved: Vec<Resolved> = Vec::new();
    let mut product_ids: HashMap<ProductRef, i64> = HashMap::new();
    let mut images: HashMap<i64, Vec<LocalImage>> = HashMap::new();
    for row in &rows {
        if product_ids.contains_key(&row.product) {
            continue;
        }
        let found = resolve::product(engine, &row.product, &args.send)
            .await
            .map_err(|err| match err {
                CliError::Usage(
                    UsageError::UnknownProduct(p) | UsageError::ProductNotInReplica(p),
                ) => bad(path, Some(row.line), format!("{p} is not on the store")),
                other => other,
            })?;
        product_ids.insert(row.product.clone(), found.id);
        if let std::collections::hash_map::Entry::Vacant(entry) = images.entry(found.id) {
            entry.insert(engine.images(found.id).await?);
            resolved.push(found);
        }
    }
    let folder = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let planned = catalogue_csv::plan(&rows, &product_ids, &images, &folder)
        .map_err(|problems| first(path, problems))?;
    if args.dry_run {
        for edit in &planned {
            println!("would queue: {}", edit.words());
        }
        println!(
            "{} edits from {} rows; nothing was queued (--dry-run)",
            planned.len(),
            rows.len()
        );
        return Ok(None);
    }
    let created = catalogue_csv::queue(engine, &planned, &images)
        .await
        .map_err(resolve::input)?;
    Ok(Some(Done {
        edits: planned.iter().map(Planned::words).collect(),
        created,
        products: resolved,
    }))
}
