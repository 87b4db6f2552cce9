//! The catalogue as CSV (SPEC §3: `product_id,sku,image_id,sort_order,is_thumbnail,
//! description,source`), one reading for `imagedesk export`/`import` and the app's "Export
//! catalogue CSV…" / "Import CSV…": the file an export writes, the rows an import reads back
//! (by header name), and the plan — the typed edits that make the replica say what the file
//! says (what differs is changed, rows without an image id are added, nothing is deleted).
//!
//! The whole file is read and checked, and every edit planned, before anything is queued: a
//! bad row names its line and nothing changes. Planning is pure apart from checking that a
//! file to add exists; [`queue`] hands a plan to the engine as ordinary edits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::{Engine, ImageId, LocalImage, ProductSummary, SyncError};

/// The columns of the export, which an import reads back (SPEC §3).
pub const COLUMNS: &[&str] = &[
    "product_id",
    "sku",
    "image_id",
    "sort_order",
    "is_thumbnail",
    "description",
    "source",
];

/// A product, by the store's id or by its SKU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ProductRef {
    Id(i64),
    Sku(String),
}

impl fmt::Display for ProductRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProductRef::Id(id) => write!(f, "product {id}"),
            ProductRef::Sku(sku) => write!(f, "the product with SKU '{sku}'"),
        }
    }
}

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
    /// The path or URL as written out.
    pub fn shown(&self) -> String {
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
        /// The description the replica has now.
        old: String,
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
    /// The edit in words, as `imagedesk import --dry-run` and its summary print it.
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

    pub fn product_id(&self) -> i64 {
        match self {
            Planned::Describe { product_id, .. }
            | Planned::Thumbnail { product_id, .. }
            | Planned::Reorder { product_id, .. }
            | Planned::Add { product_id, .. } => *product_id,
        }
    }
}

/// What is wrong with the file: on which line (the header is line 1), where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match line { Some(line) => format!("line {line}: {reason}"), None => reason.clone() })]
pub struct Problem {
    pub line: Option<u64>,
    pub reason: String,
}

impl Problem {
    pub fn at(line: u64, reason: impl Into<String>) -> Problem {
        Problem {
            line: Some(line),
            reason: reason.into(),
        }
    }

    pub fn whole(reason: impl Into<String>) -> Problem {
        Problem {
            line: None,
            reason: reason.into(),
        }
    }
}

// -- export -------------------------------------------------------------------------------------

/// The export: the file's bytes, and how many images it holds and leaves out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub bytes: Vec<u8>,
    pub images: usize,
    /// Images whose create has not reached the store: they have no id yet, and a row without
    /// one would add them again on import, so they are left out.
    pub unsent: usize,
}

/// One row per image, by product (in the order given) then the product's order; RFC 4180 with
/// a header row and CRLF line ends.
pub fn export(
    products: &[ProductSummary],
    images: &BTreeMap<i64, Vec<LocalImage>>,
) -> Result<Export, std::io::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let error = |err: csv::Error| std::io::Error::other(err.to_string());
    writer.write_record(COLUMNS).map_err(error)?;
    let (mut written, mut unsent) = (0, 0);
    for product in products {
        for image in images.get(&product.id).map_or(&[][..], Vec::as_slice) {
            let Some(image_id) = image.server_id else {
                unsent += 1;
                continue;
            };
            writer
                .write_record([
                    product.id.to_string(),
                    product.sku.clone(),
                    image_id.to_string(),
                    image.sort_order.to_string(),
                    (if image.is_thumbnail { "true" } else { "false" }).to_owned(),
                    image.description.clone(),
                    original_url(image),
                ])
                .map_err(error)?;
            written += 1;
        }
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| std::io::Error::other(err.to_string()))?;
    Ok(Export {
        bytes,
        images: written,
        unsent,
    })
}

/// The address of an image's original picture: the store serves it at
/// `{base}/product_images/{image_file}`, beside the variants (`…/product_images/zoom/…`), on
/// our store and on BigCommerce's CDN alike. Without a variant URL to find the base, the
/// stored path is all there is.
pub fn original_url(image: &LocalImage) -> String {
    let variant = [
        &image.zoom_url,
        &image.standard_url,
        &image.thumbnail_url,
        &image.tiny_url,
    ]
    .into_iter()
    .flatten()
    .find_map(|url| {
        ["zoom", "standard", "thumbnail", "tiny"]
            .iter()
            .find_map(|v| url.find(&format!("/product_images/{v}/")))
            .map(|at| &url[..at])
    });
    match variant {
        Some(base) if !image.image_file.is_empty() => {
            format!("{base}/product_images/{}", image.image_file)
        }
        _ => image.image_file.clone(),
    }
}

// -- reading ------------------------------------------------------------------------------------

/// Reads the file's rows. The header names the columns (any order); `product_id` or `sku`, and
/// `image_id` or `source`, must be among them; an unknown column is refused (a typo would
/// otherwise be ignored silently). A problem with the header stops there; problems of rows are
/// all collected, in line order.
pub fn read_rows(bytes: &[u8]) -> Result<Vec<Row>, Vec<Problem>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|err| vec![Problem::at(1, csv_reason(&err))])?
        .clone();
    let mut column: HashMap<&str, usize> = HashMap::new();
    for (index, name) in headers.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let Some(known) = COLUMNS.iter().find(|c| **c == name) else {
            return Err(vec![Problem::at(
                1,
                format!(
                    "unknown column {name:?}; the columns are {}",
                    COLUMNS.join(", ")
                ),
            )]);
        };
        if column.insert(known, index).is_some() {
            return Err(vec![Problem::at(
                1,
                format!("the column {name:?} is there twice"),
            )]);
        }
    }
    if !column.contains_key("product_id") && !column.contains_key("sku") {
        return Err(vec![Problem::at(
            1,
            "a product_id or a sku column is needed",
        )]);
    }
    if !column.contains_key("image_id") && !column.contains_key("source") {
        return Err(vec![Problem::at(
            1,
            "an image_id or a source column is needed",
        )]);
    }
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => match read_row(bytes, &column, &record) {
                Ok(Some(row)) => rows.push(row),
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            },
            Err(err) => {
                let line = err.position().map(|p| line_at(bytes, p.byte()));
                problems.push(Problem {
                    line,
                    reason: csv_reason(&err),
                });
                // A file that is not text cannot be read on past its first bad byte.
                if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// One record as a row; `None` for a row of empty fields.
fn read_row(
    bytes: &[u8],
    column: &HashMap<&str, usize>,
    record: &csv::StringRecord,
) -> Result<Option<Row>, Problem> {
    let line = record.position().map_or(0, |p| line_at(bytes, p.byte()));
    let field = |name: &str| {
        column
            .get(name)
            .and_then(|&i| record.get(i))
            .map(str::to_owned)
    };
    let number = |name: &str| -> Result<Option<i64>, Problem> {
        match field(name).as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => text
                .parse::<i64>()
                .map(Some)
                .map_err(|_| Problem::at(line, format!("{name} {text:?} is not a whole number"))),
        }
    };
    if record.iter().all(|f| f.trim().is_empty()) {
        return Ok(None);
    }
    let product = match (number("product_id")?, field("sku")) {
        (Some(id), _) if id > 0 => ProductRef::Id(id),
        (Some(id), _) => {
            return Err(Problem::at(
                line,
                format!("product_id {id} is not a product id"),
            ));
        }
        (None, Some(sku)) if !sku.trim().is_empty() => ProductRef::Sku(sku.trim().to_owned()),
        _ => {
            return Err(Problem::at(
                line,
                "the row names no product (product_id or sku)",
            ));
        }
    };
    let image_id = number("image_id")?;
    if image_id.is_some_and(|id| id <= 0) {
        return Err(Problem::at(line, "image_id must be a positive number"));
    }
    let sort_order = number("sort_order")?;
    let is_thumbnail = match field("is_thumbnail").as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(parse_bool(text).ok_or_else(|| {
            Problem::at(
                line,
                format!("is_thumbnail {text:?} is neither true nor false"),
            )
        })?),
    };
    let source = field("source").filter(|s| !s.trim().is_empty());
    if image_id.is_none() && source.is_none() {
        return Err(Problem::at(
            line,
            "a row without an image_id adds a picture: it needs a source (a file or an http(s) URL)",
        ));
    }
    Ok(Some(Row {
        line,
        product,
        image_id,
        sort_order,
        is_thumbnail,
        description: field("description"),
        source,
    }))
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

// -- planning -----------------------------------------------------------------------------------

/// The edits the rows ask for, given each named product's id and each product's images now
/// (display order). `folder`: where relative file paths are found (the CSV file's folder).
/// Every problem is collected, in line order; with any, there is no plan.
pub fn plan(
    rows: &[Row],
    product_ids: &HashMap<ProductRef, i64>,
    images: &HashMap<i64, Vec<LocalImage>>,
    folder: &Path,
) -> Result<Vec<Planned>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut describes = Vec::new();
    let mut thumbnails = Vec::new();
    let mut adds = Vec::new();
    let mut seen: HashMap<i64, u64> = HashMap::new();
    let mut thumbnail_rows: HashMap<i64, u64> = HashMap::new();
    // Per product: (sort_order, line, image) of the rows that place an image.
    let mut placed: BTreeMap<i64, Vec<(i64, u64, ImageId)>> = BTreeMap::new();
    for row in rows {
        let Some(&product_id) = product_ids.get(&row.product) else {
            problems.push(Problem::at(
                row.line,
                format!("{} is not on the store", row.product),
            ));
            continue;
        };
        if row.is_thumbnail == Some(true)
            && let Some(first) = thumbnail_rows.insert(product_id, row.line)
        {
            problems.push(Problem::at(
                row.line,
                format!(
                    "line {first} already makes the thumbnail of product {product_id}; a product has one"
                ),
            ));
            continue;
        }
        let current = images.get(&product_id).map_or(&[][..], Vec::as_slice);
        let Some(image_id) = row.image_id else {
            match source(row, folder) {
                Ok(source) => adds.push(Planned::Add {
                    product_id,
                    source,
                    description: row.description.clone().unwrap_or_default(),
                    thumbnail: row.is_thumbnail == Some(true),
                }),
                Err(problem) => problems.push(problem),
            }
            continue;
        };
        if let Some(first) = seen.insert(image_id, row.line) {
            problems.push(Problem::at(
                row.line,
                format!("image {image_id} is on line {first} too"),
            ));
            continue;
        }
        let Some(image) = current.iter().find(|i| i.server_id == Some(image_id)) else {
            problems.push(Problem::at(
                row.line,
                format!("image {image_id} is not an image of product {product_id} on the store"),
            ));
            continue;
        };
        if let Some(text) = &row.description
            && *text != image.description
        {
            describes.push(Planned::Describe {
                product_id,
                image: image.id,
                image_id,
                old: image.description.clone(),
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
    if !problems.is_empty() {
        return Err(problems);
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
fn source(row: &Row, folder: &Path) -> Result<Source, Problem> {
    let text = row.source.as_deref().unwrap_or_default().trim();
    if text.starts_with("http://") || text.starts_with("https://") {
        return Ok(Source::Url(text.to_owned()));
    }
    if text.contains("://") {
        return Err(Problem::at(
            row.line,
            format!("{text:?}: only http(s) URLs and file paths can be added"),
        ));
    }
    let file = folder.join(text);
    if !file.is_file() {
        return Err(Problem::at(
            row.line,
            format!("{}: no such file", file.display()),
        ));
    }
    Ok(Source::File(file))
}

// -- the app's way: against the replica as it is -------------------------------------------------

/// A plan made against the replica, with what it was made from (the products it names and
/// their images), so that its edits can be shown in words and queued as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvPlan {
    /// Data rows read (rows of empty fields not counted).
    pub rows: usize,
    pub edits: Vec<Planned>,
    pub products: HashMap<i64, ProductSummary>,
    /// Each named product's images when the plan was made, in display order.
    pub images: HashMap<i64, Vec<LocalImage>>,
}

/// Why a file could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("the file has {} problems", .0.len())]
    Problems(Vec<Problem>),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Reads and plans `bytes` against the replica as it is (the app's "Import CSV…": the engine
/// keeps the replica up to date by itself). Products are named by id or exact SKU.
pub async fn plan_in_replica(
    engine: &Engine,
    bytes: &[u8],
    folder: &Path,
) -> Result<CsvPlan, PlanError> {
    let rows = read_rows(bytes).map_err(PlanError::Problems)?;
    let all = engine.products().await?;
    let mut product_ids = HashMap::new();
    let mut products = HashMap::new();
    let mut images = HashMap::new();
    for row in &rows {
        let found = all.iter().find(|p| match &row.product {
            ProductRef::Id(id) => p.id == *id,
            ProductRef::Sku(sku) => &p.sku == sku,
        });
        // A product the replica lacks is left out of the map: `plan` names the row.
        let Some(product) = found else { continue };
        product_ids.insert(row.product.clone(), product.id);
        if let std::collections::hash_map::Entry::Vacant(entry) = images.entry(product.id) {
            entry.insert(engine.images(product.id).await?);
            products.insert(product.id, product.clone());
        }
    }
    let edits = plan(&rows, &product_ids, &images, folder).map_err(PlanError::Problems)?;
    Ok(CsvPlan {
        rows: rows.len(),
        edits,
        products,
        images,
    })
}

// -- queuing ------------------------------------------------------------------------------------

/// Queues the plan as ordinary edits: the adds first (the only edits whose input the engine may
/// still refuse — a file that is not a picture — so that on a refusal the adds queued before
/// it are taken back and nothing else is queued), then descriptions, thumbnails and orders, and
/// the new pictures made thumbnails last. Returns the images created, with their source.
pub async fn queue(
    engine: &Engine,
    planned: &[Planned],
    images: &HashMap<i64, Vec<LocalImage>>,
) -> Result<Vec<(ImageId, String)>, SyncError> {
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
                take_back(engine, &created).await;
                return Err(err);
            }
        }
    }
    for edit in planned {
        match edit {
            Planned::Describe { image, text, .. } => engine.describe(*image, text).await?,
            Planned::Thumbnail { image, .. } => engine.set_thumbnail(*image).await?,
            Planned::Reorder {
                product_id, order, ..
            } => {
                // The pictures just added come last, where they were put.
                let mut whole = order.clone();
                whole.extend(added.get(product_id).into_iter().flatten());
                if images.contains_key(product_id) {
                    engine.reorder(*product_id, &whole).await?;
                }
            }
            Planned::Add { .. } => {}
        }
    }
    for id in new_thumbnails {
        engine.set_thumbnail(id).await?;
    }
    Ok(created)
}

/// All or nothing: the creates queued so far are taken back, so that fixing the bad source and
/// importing the same file again does not add the others twice.
async fn take_back(engine: &Engine, created: &[(ImageId, String)]) {
    let queued: Vec<ImageId> = created.iter().map(|(id, _)| *id).collect();
    if !queued.is_empty()
        && let Err(undo) = engine.delete(&queued).await
    {
        tracing::warn!("could not take back the pictures queued before: {undo}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_header_name_with_their_lines() {
        let csv =
            "sku,image_id,description,product_id\r\nMUG,12,\"Red, side\",\r\n,,,\r\nX,,new,7\r\n";
        let problems = read_rows(csv.as_bytes()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(4), "{problems:?}");
        let csv = "sku,image_id,description,product_id,source\r\nMUG,12,\"Red, side\",,\r\nX,,new,7,a.jpg\r\n";
        let rows = read_rows(csv.as_bytes()).unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].product, ProductRef::Sku("MUG".into()));
        assert_eq!(rows[0].description.as_deref(), Some("Red, side"));
        assert_eq!(rows[1].product, ProductRef::Id(7));
        assert_eq!(rows[1].source.as_deref(), Some("a.jpg"));
    }

    #[test]
    fn an_unknown_column_or_a_bad_number_is_refused_with_its_line() {
        let typo = read_rows(b"product_id,image_id,descripton\n1,2,x\n").unwrap_err();
        assert!(typo[0].reason.contains("\"descripton\""), "{typo:?}");
        assert_eq!(typo[0].line, Some(1));
        let number = read_rows(b"product_id,image_id,sort_order\n1,2,x\n").unwrap_err();
        assert_eq!(
            number[0].to_string(),
            "line 2: sort_order \"x\" is not a whole number"
        );
    }

    #[test]
    fn every_bad_row_is_named_not_only_the_first() {
        let problems =
            read_rows(b"product_id,image_id,sort_order\n1,2,x\n1,3,4\n1,4\n0,5,1\n").unwrap_err();
        let lines: Vec<Option<u64>> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(2), Some(4), Some(5)], "{problems:?}");
        assert_eq!(problems[1].reason, "2 fields where the header has 3");
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

    fn planned(rows: &[Row]) -> Result<Vec<Planned>, Vec<Problem>> {
        let ids = HashMap::from([(ProductRef::Id(1), 1)]);
        let images = HashMap::from([(1, vec![image(1, 0), image(2, 1), image(3, 2)])]);
        plan(rows, &ids, &images, Path::new("."))
    }

    #[test]
    fn an_unchanged_export_plans_nothing_and_one_changed_description_one_edit() {
        let same = [
            row(2, 101, 0, "d1"),
            row(3, 102, 1, "d2"),
            row(4, 103, 2, "d3"),
        ];
        assert_eq!(planned(&same), Ok(vec![]));
        let one = [
            row(2, 101, 0, "d1"),
            row(3, 102, 1, "new"),
            row(4, 103, 2, "d3"),
        ];
        assert_eq!(
            planned(&one),
            Ok(vec![Planned::Describe {
                product_id: 1,
                image: ImageId(2),
                image_id: 102,
                old: "d2".into(),
                text: "new".into()
            }])
        );
    }

    #[test]
    fn listed_images_swap_places_by_sort_order_and_the_others_stay() {
        // Only 101 and 103 are listed, 103 first: they swap; 102 keeps the middle.
        let rows = [row(2, 101, 9, "d1"), row(3, 103, 1, "d3")];
        assert_eq!(
            planned(&rows),
            Ok(vec![Planned::Reorder {
                product_id: 1,
                order: vec![ImageId(3), ImageId(2), ImageId(1)],
                shown: vec![103, 102, 101],
            }])
        );
    }

    #[test]
    fn unknown_images_products_and_missing_files_are_each_named_by_line() {
        let mut other = row(4, 102, 1, "d2");
        other.product = ProductRef::Sku("NOPE".into());
        let add = Row {
            line: 5,
            image_id: None,
            source: Some("surely-not-here.jpg".into()),
            ..row(5, 0, 0, "")
        };
        let problems =
            planned(&[row(2, 101, 0, "d1"), row(3, 999, 1, "x"), other, add]).unwrap_err();
        let words: Vec<String> = problems.iter().map(Problem::to_string).collect();
        assert_eq!(
            words,
            [
                "line 3: image 999 is not an image of product 1 on the store".to_owned(),
                "line 4: the product with SKU 'NOPE' is not on the store".to_owned(),
                "line 5: ./surely-not-here.jpg: no such file".to_owned(),
            ]
        );
    }

    #[test]
    fn the_export_writes_one_row_per_sent_image_with_its_original() {
        let product = ProductSummary {
            id: 1,
            name: "Mug".into(),
            sku: "MUG".into(),
            image_count: 2,
            has_thumbnail: true,
            pending_edits: 0,
        };
        let mut sent = image(1, 0);
        sent.server_id = Some(101);
        sent.description = "Red, \"side\"".into();
        sent.image_file = "a/1/mug__1.jpg".into();
        sent.zoom_url = Some("http://h:1/product_images/zoom/a/1/mug__1.jpg".into());
        let mut unsent = image(2, 1);
        unsent.server_id = None;
        let images = BTreeMap::from([(1, vec![sent, unsent])]);
        let export = export(&[product], &images).unwrap();
        assert_eq!(
            String::from_utf8(export.bytes).unwrap(),
            "product_id,sku,image_id,sort_order,is_thumbnail,description,source\r\n\
             1,MUG,101,0,true,\"Red, \"\"side\"\"\",http://h:1/product_images/a/1/mug__1.jpg\r\n"
        );
        assert_eq!((export.images, export.unsent), (1, 1));
    }

    #[test]
    fn the_original_sits_beside_its_variants() {
        let with_zoom = LocalImage {
            image_file: "a/123/mug__12345.jpg".into(),
            zoom_url: Some("http://127.0.0.1:9/product_images/zoom/a/123/mug__12345.jpg".into()),
            ..LocalImage::example(1, 1)
        };
        assert_eq!(
            original_url(&with_zoom),
            "http://127.0.0.1:9/product_images/a/123/mug__12345.jpg"
        );
        let bare = LocalImage {
            zoom_url: None,
            standard_url: None,
            thumbnail_url: None,
            tiny_url: None,
            ..with_zoom
        };
        assert_eq!(original_url(&bare), "a/123/mug__12345.jpg");
    }
}
