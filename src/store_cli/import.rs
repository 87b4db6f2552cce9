//! `imagedesk import FILE.csv`: the export's columns read back as edits — what differs from the
//! store is changed, rows without an image id are added, nothing is deleted.
//!
//! The whole file is read and checked, and every edit planned, before anything is queued: a bad
//! row names its line and nothing changes. `--dry-run` prints the plan and stops there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::args::ImportArgs;
use super::outcome::{CliError, UsageError};
use super::refs::ProductRef;
use super::resolve::{self, Done, Resolved};
use crate::sync::{Engine, ImageId, LocalImage};

/// One data row of the file, as written (line numbers count the header as line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u64,
    pub product: ProductRef,
    pub image_id: Option<i64>,
    pub sort_order: Option<i64>,
    pub is_thumbnail: Option<bool>,
    /// `None` when the file has no description column (then descriptions are left alone).
    pub description: Option<String>,
    pub source: Option<String>,
}

/// Where a picture to add comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Url(String),
}

impl Source {
    fn shown(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Url(url) => url.clone(),
        }
    }
}

/// One edit the file asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Describe {
        product_id: i64,
        image: ImageId,
        image_id: i64,
        text: String,
    },
    Thumbnail {
        product_id: i64,
        image: ImageId,
        image_id: i64,
    },
    /// The product's whole new order (the images it has now).
    Reorder {
        product_id: i64,
        order: Vec<ImageId>,
        shown: Vec<i64>,
    },
    Add {
        product_id: i64,
        source: Source,
        description: String,
        thumbnail: bool,
    },
}

impl Planned {
    /// The edit in words, as `--dry-run` and the summary print it.
    pub fn words(&self) -> String {
        match self {
            Planned::Describe {
                product_id,
                image_id,
                text,
                ..
            } => format!("describe image {image_id} of product {product_id}: {text:?}"),
            Planned::Thumbnail {
                product_id,
                image_id,
                ..
            } => format!("make image {image_id} the thumbnail of product {product_id}"),
            Planned::Reorder {
                product_id, shown, ..
            } => {
                let ids: Vec<String> = shown.iter().map(i64::to_string).collect();
                format!("reorder product {product_id}: {}", ids.join(", "))
            }
            Planned::Add {
                product_id,
                source,
                thumbnail,
                ..
            } => format!(
                "add {} to product {product_id}{}",
                source.shown(),
                if *thumbnail { " as its thumbnail" } else { "" }
            ),
        }
    }
}

/// A problem with the file, named by its line where there is one.
fn bad(path: &Path, line: Option<u64>, reason: impl Into<String>) -> CliError {
    UsageError::BadFile {
        path: path.to_owned(),
        line,
        reason: reason.into(),
    }
    .into()
}

/// Reads the file's rows. The header names the columns (any order); `product_id` or `sku`, and
/// `image_id` or `source`, must be among them; an unknown column is refused (a typo would
/// otherwise be ignored silently).
pub fn read_rows(path: &Path, bytes: &[u8]) -> Result<Vec<Row>, CliError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|err| bad(path, Some(1), csv_reason(&err)))?
        .clone();
    let mut column: HashMap<&str, usize> = HashMap::new();
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let Some(known) = super::export::COLUMNS.iter().find(|c| **c == name) else {
            return Err(bad(
                path,
                Some(1),
                format!(
                    "unknown column {name:?}; the columns are {}",
                    super::export::COLUMNS.join(", ")
                ),
            ));
        };
        if column.insert(known, index).is_some() {
            return Err(bad(
                path,
                Some(1),
                format!("the column {name:?} is there twice"),
            ));
        }
    }
    if !column.contains_key("product_id") && !column.contains_key("sku") {
        return Err(bad(path, Some(1), "a product_id or a sku column is needed"));
    }
    if !column.contains_key("image_id") && !column.contains_key("source") {
        return Err(bad(
            path,
            Some(1),
            "an image_id or a source column is needed",
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| {
            let line = err.position().map(|p| line_at(bytes, p.byte()));
            bad(path, line, csv_reason(&err))
        })?;
        let line = record.position().map_or(0, |p| line_at(bytes, p.byte()));
        let field = |name: &str| {
            column
                .get(name)
                .and_then(|&i| record.get(i))
                .map(str::to_owned)
        };
        let number = |name: &str| -> Result<Option<i64>, CliError> {
            match field(name).as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(text) => text.parse::<i64>().map(Some).map_err(|_| {
                    bad(
                        path,
                        Some(line),
                        format!("{name} {text:?} is not a whole number"),
                    )
                }),
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let product = match (number("product_id")?, field("sku")) {
            (Some(id), _) if id > 0 => ProductRef::Id(id),
            (Some(id), _) => {
                return Err(bad(
                    path,
                    Some(line),
                    format!("product_id {id} is not a product id"),
                ));
            }
            (None, Some(sku)) if !sku.trim().is_empty() => ProductRef::Sku(sku.trim().to_owned()),
            _ => {
                return Err(bad(
                    path,
                    Some(line),
                    "the row names no product (product_id or sku)",
                ));
            }
        };
        let image_id = number("image_id")?;
        if image_id.is_some_and(|id| id <= 0) {
            return Err(bad(path, Some(line), "image_id must be a positive number"));
        }
        let sort_order = number("sort_order")?;
        let is_thumbnail = match field("is_thumbnail").as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(parse_bool(text).ok_or_else(|| {
                bad(
                    path,
                    Some(line),
                    format!("is_thumbnail {text:?} is neither true nor false"),
                )
            })?),
        };
        let source = field("source").filter(|s| !s.trim().is_empty());
        if image_id.is_none() && source.is_none() {
            return Err(bad(
                path,
                Some(line),
                "a row without an image_id adds a picture: it needs a source (a file or an http(s) URL)",
            ));
        }
        rows.push(Row {
            line,
            product,
            image_id,
            sort_order,
            is_thumbnail,
            description: field("description"),
            source,
        });
    }
    Ok(rows)
}

/// The line (from 1) a record starting at byte `at` is on. Counted here rather than taken from
/// the CSV reader's position, which lags a line behind with CRLF line ends (the reader stops at
/// the `\r`, and the `\n` opens the next record).
fn line_at(bytes: &[u8], at: u64) -> u64 {
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(bytes.len());
    let start = at
        + bytes[at..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
    1 + bytes[..start].iter().filter(|&&b| b == b'\n').count() as u64
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn csv_reason(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text".to_owned(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        _ => err.to_string(),
    }
}

/// The edits the rows ask for, given each product's images now (display order).
/// `folder`: where relative file paths are found (the CSV file's folder).
pub fn plan(
    path: &Path,
    rows: &[Row],
    product_ids: &HashMap<ProductRef, i64>,
    images: &HashMap<i64, Vec<LocalImage>>,
    folder: &Path,
) -> Result<Vec<Planned>, CliError> {
    let mut describes = Vec::new();
    let mut thumbnails = Vec::new();
    let mut adds = Vec::new();
    let mut seen: HashMap<i64, u64> = HashMap::new();
    let mut thumbnail_rows: HashMap<i64, u64> = HashMap::new();
    // Per product: (sort_order, line, image) of the rows that place an image.
    let mut placed: BTreeMap<i64, Vec<(i64, u64, ImageId)>> = BTreeMap::new();
    for row in rows {
        let Some(&product_id) = product_ids.get(&row.product) else {
            return Err(bad(
                path,
                Some(row.line),
                format!("{} is not on the store", row.product),
            ));
        };
        if row.is_thumbnail == Some(true)
            && let Some(first) = thumbnail_rows.insert(product_id, row.line)
        {
            return Err(bad(
                path,
                Some(row.line),
                format!(
                    "line {first} already makes the thumbnail of product {product_id}; a product has one"
                ),
            ));
        }
        let current = images.get(&product_id).map_or(&[][..], Vec::as_slice);
        let Some(image_id) = row.image_id else {
            let source = source(path, row, folder)?;
            adds.push(Planned::Add {
                product_id,
                source,
                description: row.description.clone().unwrap_or_default(),
                thumbnail: row.is_thumbnail == Some(true),
            });
            continue;
        };
        if let Some(first) = seen.insert(image_id, row.line) {
            return Err(bad(
                path,
                Some(row.line),
                format!("image {image_id} is on line {first} too"),
            ));
        }
        let Some(image) = current.iter().find(|i| i.server_id == Some(image_id)) else {
            return Err(bad(
                path,
                Some(row.line),
                format!("image {image_id} is not an image of product {product_id} on the store"),
            ));
        };
        if let Some(text) = &row.description
            && *text != image.description
        {
            describes.push(Planned::Describe {
                product_id,
                image: image.id,
                image_id,
                text: text.clone(),
            });
        }
        if row.is_thumbnail == Some(true) && !image.is_thumbnail {
            thumbnails.push(Planned::Thumbnail {
                product_id,
                image: image.id,
                image_id,
            });
        }
        if let Some(sort_order) = row.sort_order {
            placed
                .entry(product_id)
                .or_default()
                .push((sort_order, row.line, image.id));
        }
    }
    let mut reorders = Vec::new();
    for (product_id, mut listed) in placed {
        let current = images.get(&product_id).map_or(&[][..], Vec::as_slice);
        if let Some(order) = new_order(current, &mut listed) {
            let shown = order
                .iter()
                .filter_map(|id| current.iter().find(|i| i.id == *id))
                .map(|i| i.server_id.unwrap_or_default())
                .collect();
            reorders.push(Planned::Reorder {
                product_id,
                order,
                shown,
            });
        }
    }
    Ok(describes
        .into_iter()
        .chain(thumbnails)
        .chain(reorders)
        .chain(adds)
        .collect())
}

/// The listed images take the places they hold now, ordered by the file's sort_order (then by
/// line); the others keep theirs. `None` when that is the order already.
fn new_order(current: &[LocalImage], listed: &mut [(i64, u64, ImageId)]) -> Option<Vec<ImageId>> {
    let ids: HashSet<ImageId> = listed.iter().map(|(_, _, id)| *id).collect();
    listed.sort();
    let mut wanted = listed.iter().map(|(_, _, id)| *id);
    let order: Vec<ImageId> = current
        .iter()
        .map(|image| {
            if ids.contains(&image.id) {
                wanted.next().unwrap_or(image.id)
            } else {
                image.id
            }
        })
        .collect();
    let now: Vec<ImageId> = current.iter().map(|i| i.id).collect();
    (order != now).then_some(order)
}

/// A row's picture: an http(s) URL, or a file (relative to the CSV file's folder) that exists.
fn source(path: &Path, row: &Row, folder: &Path) -> Result<Source, CliError> {
    let text = row.source.as_deref().unwrap_or_default().trim();
    if text.starts_with("http://") || text.starts_with("https://") {
        return Ok(Source::Url(text.to_owned()));
    }
    if text.contains("://") {
        return Err(bad(
            path,
            Some(row.line),
            format!("{text:?}: only http(s) URLs and file paths can be added"),
        ));
    }
    let file = folder.join(text);
    if !file.is_file() {
        return Err(bad(
            path,
            Some(row.line),
            format!("{}: no such file", file.display()),
        ));
    }
    Ok(Source::File(file))
}

/// Reads, checks and plans the file; queues the edits unless `--dry-run`.
pub async fn run(engine: &Engine, args: &ImportArgs) -> Result<Option<Done>, CliError> {
    let path = &args.file;
    let bytes =
        std::fs::read(path).map_err(|err| bad(path, None, format!("cannot be read: {err}")))?;
    let rows = read_rows(path, &bytes)?;
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
    let planned = plan(path, &rows, &product_ids, &images, &folder)?;
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
    let created = queue(engine, &planned, &images).await?;
    Ok(Some(Done {
        edits: planned.iter().map(Planned::words).collect(),
        created,
        products: resolved,
    }))
}

/// Queues the plan: the adds first (the only edits whose input the engine may still refuse —
/// a file that is not a picture — so that a refusal is taken back before anything else is
/// queued), then descriptions, thumbnails and orders.
async fn queue(
    engine: &Engine,
    planned: &[Planned],
    images: &HashMap<i64, Vec<LocalImage>>,
) -> Result<Vec<(ImageId, String)>, CliError> {
    let mut created: Vec<(ImageId, String)> = Vec::new();
    let mut added: HashMap<i64, Vec<ImageId>> = HashMap::new();
    let mut new_thumbnails = Vec::new();
    for edit in planned {
        let Planned::Add {
            product_id,
            source,
            description,
            thumbnail,
        } = edit
        else {
            continue;
        };
        let result = match source {
            Source::File(file) => engine.add_file(*product_id, file, description).await,
            Source::Url(url) => engine.add_url(*product_id, url, description).await,
        };
        match result {
            Ok(id) => {
                created.push((id, source.shown()));
                added.entry(*product_id).or_default().push(id);
                if *thumbnail {
                    new_thumbnails.push(id);
                }
            }
            Err(err) => {
                resolve::take_back(engine, &created).await;
                return Err(resolve::input(err));
            }
        }
    }
    for edit in planned {
        match edit {
            Planned::Describe { image, text, .. } => {
                engine
                    .describe(*image, text)
                    .await
                    .map_err(resolve::input)?;
            }
            Planned::Thumbnail { image, .. } => {
                engine.set_thumbnail(*image).await.map_err(resolve::input)?;
            }
            Planned::Reorder {
                product_id, order, ..
            } => {
                // The pictures just added come last, where they were put.
                let mut whole = order.clone();
                whole.extend(added.get(product_id).into_iter().flatten());
                if images.contains_key(product_id) {
                    engine
                        .reorder(*product_id, &whole)
                        .await
                        .map_err(resolve::input)?;
                }
            }
            Planned::Add { .. } => {}
        }
    }
    for id in new_thumbnails {
        engine.set_thumbnail(id).await.map_err(resolve::input)?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_header_name_with_their_lines() {
        let csv =
            "sku,image_id,description,product_id\r\nMUG,12,\"Red, side\",\r\n,,,\r\nX,,new,7\r\n";
        let err = read_rows(Path::new("f.csv"), csv.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 4"), "{err}");
        let csv = "sku,image_id,description,product_id,source\r\nMUG,12,\"Red, side\",,\r\nX,,new,7,a.jpg\r\n";
        let rows = read_rows(Path::new("f.csv"), csv.as_bytes()).unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].product, ProductRef::Sku("MUG".into()));
        assert_eq!(rows[0].description.as_deref(), Some("Red, side"));
        assert_eq!(rows[1].product, ProductRef::Id(7));
        assert_eq!(rows[1].source.as_deref(), Some("a.jpg"));
    }

    #[test]
    fn an_unknown_column_or_a_bad_number_is_refused_with_its_line() {
        let typo = read_rows(
            Path::new("f.csv"),
            b"product_id,image_id,descripton\n1,2,x\n",
        );
        assert!(typo.unwrap_err().to_string().contains("\"descripton\""));
        let number = read_rows(
            Path::new("f.csv"),
            b"product_id,image_id,sort_order\n1,2,x\n",
        );
        let message = number.unwrap_err().to_string();
        assert!(
            message.contains("line 2") && message.contains("sort_order"),
            "{message}"
        );
    }

    fn image(local: i64, sort_order: i64) -> LocalImage {
        LocalImage {
            sort_order,
            is_thumbnail: local == 1,
            description: format!("d{local}"),
            ..LocalImage::example(local, 1)
        }
    }

    fn row(line: u64, image_id: i64, sort_order: i64, description: &str) -> Row {
        Row {
            line,
            product: ProductRef::Id(1),
            image_id: Some(image_id),
            sort_order: Some(sort_order),
            is_thumbnail: Some(image_id == 101),
            description: Some(description.to_owned()),
            source: None,
        }
    }

    fn planned(rows: &[Row]) -> Vec<Planned> {
        let ids = HashMap::from([(ProductRef::Id(1), 1)]);
        let images = HashMap::from([(1, vec![image(1, 0), image(2, 1), image(3, 2)])]);
        plan(Path::new("f.csv"), rows, &ids, &images, Path::new(".")).unwrap()
    }

    #[test]
    fn an_unchanged_export_plans_nothing_and_one_changed_description_one_edit() {
        let same = [
            row(2, 101, 0, "d1"),
            row(3, 102, 1, "d2"),
            row(4, 103, 2, "d3"),
        ];
        assert_eq!(planned(&same), vec![]);
        let one = [
            row(2, 101, 0, "d1"),
            row(3, 102, 1, "new"),
            row(4, 103, 2, "d3"),
        ];
        assert_eq!(
            planned(&one),
            vec![Planned::Describe {
                product_id: 1,
                image: ImageId(2),
                image_id: 102,
                text: "new".into()
            }]
        );
    }

    #[test]
    fn listed_images_swap_places_by_sort_order_and_the_others_stay() {
        // Only 101 and 103 are listed, 103 first: they swap; 102 keeps the middle.
        let rows = [row(2, 101, 9, "d1"), row(3, 103, 1, "d3")];
        assert_eq!(
            planned(&rows),
            vec![Planned::Reorder {
                product_id: 1,
                order: vec![ImageId(3), ImageId(2), ImageId(1)],
                shown: vec![103, 102, 101],
            }]
        );
    }
}
