//! `imagedesk serve --seed-synthetic PRODUCTS:IMAGES`: fills an empty store with a large
//! synthetic catalogue (issue 13: 100,000 products, 1,000,000 images), for benchmarks and for
//! trying the app on a big store.
//!
//! It is fast because it does almost no image work: eight synthetic pictures are made once
//! (encoded, decoded and resized once each) and stored by content, and every image record
//! points to one of them, so a million images are a million rows and forty files. The
//! rows go in through multi-row `INSERT`s, each statement prepared once and reused, in one
//! transaction: a seed that is interrupted leaves the store empty (its few files are removed
//! as orphans at the next start). On PostgreSQL (`--database`) the same rows go in the same
//! way; the counting triggers stand aside for the transaction (`imagedesk.bulk_load`) and
//! the counts are written once at the end.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteConnectOptions;

use super::records::{AsConn, Conn, Dialect, Records, on_both};
use super::repo::PictureRow;
use super::state::AppState;
use crate::imaging::synthetic::SplitMix;
use crate::imaging::{self, VARIANT_BOXES, synthetic};

/// The most images one product may have (SPEC's limit).
const MAX_PER_PRODUCT: u64 = 1000;
/// Distinct pictures the images share.
const PICTURES: u64 = 8;
/// Rows per multi-row `INSERT` (5 and 11 values per row stay under SQLite's 32,766).
const PRODUCT_BATCH: usize = 2000;
const IMAGE_BATCH: usize = 2000;

const ADJECTIVES: [&str; 24] = [
    "Classic", "Vintage", "Modern", "Rustic", "Compact", "Deluxe", "Everyday", "Organic",
    "Portable", "Handmade", "Minimal", "Rugged", "Elegant", "Bright", "Quiet", "Nordic", "Coastal",
    "Urban", "Alpine", "Golden", "Midnight", "Velvet", "Copper", "Linen",
];
const NOUNS: [&str; 24] = [
    "Backpack",
    "Teapot",
    "Lantern",
    "Notebook",
    "Sneaker",
    "Blanket",
    "Mug",
    "Desk Lamp",
    "Wallet",
    "Scarf",
    "Water Bottle",
    "Headphones",
    "Chair",
    "Candle",
    "Umbrella",
    "Watch",
    "Tote Bag",
    "Cutting Board",
    "Sunglasses",
    "Planter",
    "Beanie",
    "Jacket",
    "Kettle",
    "Rug",
];

/// How many products and images to make (`PRODUCTS:IMAGES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticSeed {
    pub products: u32,
    pub images: u64,
}

/// A `PRODUCTS:IMAGES` that cannot be seeded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeedSpecError {
    #[error("expected PRODUCTS:IMAGES, e.g. 100000:1000000")]
    Shape,
    #[error("'{0}' is not a whole number")]
    Number(String),
    #[error("at least one product is needed")]
    NoProducts,
    #[error("{images} images do not fit in {products} products of at most 1000 images each")]
    TooMany { products: u32, images: u64 },
}

impl FromStr for SyntheticSeed {
    type Err = SeedSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (products, images) = text.split_once(':').ok_or(SeedSpecError::Shape)?;
        let number = |s: &str| s.trim().replace('_', "");
        let products: u32 = number(products)
            .parse()
            .map_err(|_| SeedSpecError::Number(products.to_owned()))?;
        let images: u64 = number(images)
            .parse()
            .map_err(|_| SeedSpecError::Number(images.to_owned()))?;
        if products == 0 {
            return Err(SeedSpecError::NoProducts);
        }
        if images > u64::from(products) * MAX_PER_PRODUCT {
            return Err(SeedSpecError::TooMany { products, images });
        }
        Ok(SyntheticSeed { products, images })
    }
}

impl fmt::Display for SyntheticSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.products, self.images)
    }
}

/// The refusal to seed a store that has products: nothing was changed. `imagedesk serve`
/// exits with status 2 on it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the store in {} already has {products} products; --seed-synthetic fills only an empty \
     store, and this one was left as it was",
    dir.display()
)]
pub struct StoreNotEmpty {
    pub dir: PathBuf,
    pub products: i64,
}

/// What a seed made, and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub products: u64,
    pub images: u64,
    pub pictures: u64,
    pub elapsed: Duration,
}

/// Refuses a data directory whose database has products, before anything opens it: even a
/// read-only SQLite connection writes to the WAL's index files, so the question is asked of a
/// copy of the database (and its WAL) in the system's temporary folder. Nothing in the data
/// directory is touched.
pub async fn ensure_empty(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("imagedesk.sqlite3");
    if !path.exists() {
        return Ok(());
    }
    let scratch = std::env::temp_dir().join(format!(
        "imagedesk-seed-check-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("could not create {}", scratch.display()))?;
    let products = count_products_in_copy(&path, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    let products = products?;
    if products > 0 {
        return Err(StoreNotEmpty {
            dir: data_dir.to_path_buf(),
            products,
        }
        .into());
    }
    Ok(())
}

async fn count_products_in_copy(database: &Path, scratch: &Path) -> anyhow::Result<i64> {
    let copy = scratch.join("imagedesk.sqlite3");
    std::fs::copy(database, &copy)
        .with_context(|| format!("could not read the database {}", database.display()))?;
    // Committed transactions not yet checkpointed live in the WAL.
    let wal = database.with_extension("sqlite3-wal");
    if wal.exists() {
        std::fs::copy(&wal, copy.with_extension("sqlite3-wal"))
            .with_context(|| format!("could not read {}", wal.display()))?;
    }
    let options = SqliteConnectOptions::new().filename(&copy);
    let mut conn = sqlx::ConnectOptions::connect(&options)
        .await
        .with_context(|| format!("could not open the database {}", database.display()))?;
    let products = count_products_if_any(&mut conn).await?;
    sqlx::Connection::close(conn).await?;
    Ok(products)
}

/// Products in a SQLite database that may not have its tables yet.
async fn count_products_if_any(conn: &mut SqliteConnection) -> sqlx::Result<i64> {
    let has_table: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'products'",
    )
    .fetch_one(&mut *conn)
    .await?;
    if has_table == 0 {
        return Ok(0);
    }
    sqlx::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(conn)
        .await
}

/// SplitMix64: the same catalogue for the same numbers on every machine.
struct Rng(SplitMix);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SplitMix(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.next()
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// How many images each product gets: `images` in all, at most 1000 each, about one product
/// in ten with none (fewer when the images need the room), the others spread unevenly
/// (exponential weights: many small products, a few large ones).
fn image_counts(products: usize, images: u64, rng: &mut Rng) -> Vec<u64> {
    let mut counts = vec![0u64; products];
    if products == 0 || images == 0 {
        return counts;
    }
    let needed = images.div_ceil(MAX_PER_PRODUCT) as usize;
    let empty = (products / 10).min(products - needed.min(products));
    // Which products stay empty: every k-th, so they are spread over the id range.
    let is_empty = |i: usize| {
        products
            .checked_div(empty)
            .is_some_and(|stride| i % stride == stride / 2 && i / stride < empty)
    };
    let with_images: Vec<usize> = (0..products).filter(|&i| !is_empty(i)).collect();
    let weights: Vec<f64> = with_images
        .iter()
        .map(|_| -(1.0 - rng.unit()).ln())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut placed = 0u64;
    for (&i, w) in with_images.iter().zip(&weights) {
        let ideal = (images as f64 * w / total).floor() as u64;
        counts[i] = ideal.min(MAX_PER_PRODUCT);
        placed += counts[i];
    }
    // Rounding and the cap leave a remainder: one more each, round the products with room,
    // starting at a random one.
    let n = with_images.len();
    let mut at = rng.below(n as u64) as usize;
    while placed < images {
        let i = with_images[at % n];
        if counts[i] < MAX_PER_PRODUCT {
            counts[i] += 1;
            placed += 1;
        }
        at += 1;
    }
    counts
}

/// One product of the catalogue.
struct Product {
    id: i64,
    name: String,
    sku: String,
    date_created: i64,
    date_modified: i64,
    images: u64,
}

const DAY: i64 = 86_400;

/// The catalogue's products: created over the past year in id order; about 2 % modified in the
/// last day, the others at some time between their creation and yesterday, so a
/// `min_date_modified` of a recent date picks out a few.
fn products(spec: SyntheticSeed, now: i64, rng: &mut Rng) -> Vec<Product> {
    let count = spec.products as usize;
    let counts = image_counts(count, spec.images, rng);
    let span = 363 * DAY;
    counts
        .into_iter()
        .enumerate()
        .map(|(i, images)| {
            let number = i as i64 + 1;
            let date_created = now - 365 * DAY + span * i as i64 / count as i64;
            let date_modified = if rng.unit() < 0.02 {
                now - (rng.unit() * DAY as f64) as i64
            } else {
                let room = (now - DAY - date_created).max(0);
                date_created + (rng.unit() * room as f64) as i64
            };
            let adjective = ADJECTIVES[rng.below(ADJECTIVES.len() as u64) as usize];
            let noun = NOUNS[rng.below(NOUNS.len() as u64) as usize];
            Product {
                id: number,
                name: format!("Product {number} — {adjective} {noun}"),
                sku: format!("SKU-{number:06}"),
                date_created,
                date_modified,
                images,
            }
        })
        .collect()
}

/// Makes the shared pictures (a few synthetic photographs and one cut-out PNG) and stores
/// them by content, once each, one thread per picture (drawing them pixel by pixel is most of
/// a small seed's time).
fn make_pictures(state_files: &super::files::FileStore) -> anyhow::Result<Vec<PictureRow>> {
    std::thread::scope(|scope| {
        let makers: Vec<_> = (0..PICTURES)
            .map(|k| scope.spawn(move || make_picture(state_files, k)))
            .collect();
        makers
            .into_iter()
            .map(|maker| {
                maker
                    .join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("making picture panicked")))
            })
            .collect()
    })
}

fn make_picture(files: &super::files::FileStore, k: u64) -> anyhow::Result<PictureRow> {
    let boxes = VARIANT_BOXES.map(|(_, b)| b);
    let sizes = [(1500, 1000), (1000, 1500), (1200, 1200)];
    let bytes = if k + 1 == PICTURES {
        let cutout = synthetic::cutout(600, 600, 1000 + k);
        synthetic::png(&image::DynamicImage::ImageRgba8(cutout))
    } else {
        let (w, h) = sizes[(k % 3) as usize];
        synthetic::jpeg(&synthetic::photo(w, h, 1000 + k), 82, false, None)
    };
    let processed =
        imaging::make_variants(&bytes, &boxes).with_context(|| format!("synthetic picture {k}"))?;
    let hash = super::pictures::content_hash(&bytes);
    let extension = processed.probe.format.extension().to_owned();
    files
        .write_content(&hash, &extension, &bytes, &processed.variants)
        .context("could not write the synthetic pictures")?;
    Ok(PictureRow {
        id: 0,
        hash,
        extension,
        width: i64::from(processed.oriented.0),
        height: i64::from(processed.oriented.1),
        file_size: bytes.len() as i64,
        perceptual_hash: imaging::perceptual_hash(&bytes).ok().map(|h| h.to_i64()),
    })
}

/// `INSERT INTO {table} ({columns}) VALUES (?, …), …` for `rows` rows (`$1, $2, …` for
/// PostgreSQL, which has no `?`).
fn multi_row_insert(dialect: Dialect, table: &str, columns: &[&str], rows: usize) -> String {
    let values = match dialect {
        Dialect::Sqlite => {
            let row = format!("({})", vec!["?"; columns.len()].join(", "));
            vec![row; rows].join(", ")
        }
        Dialect::Postgres => (0..rows)
            .map(|r| {
                let numbers: Vec<String> = (1..=columns.len())
                    .map(|c| format!("${}", r * columns.len() + c))
                    .collect();
                format!("({})", numbers.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!(
        "INSERT INTO {table} ({}) VALUES {values}",
        columns.join(", ")
    )
}

const PRODUCT_COLUMNS: [&str; 5] = ["id", "name", "sku", "date_created", "date_modified"];
const IMAGE_COLUMNS: [&str; 11] = [
    "product_id",
    "image_file",
    "is_thumbnail",
    "sort_order",
    "description",
    "date_created",
    "date_modified",
    "width",
    "height",
    "file_size",
    "picture_id",
];

/// One image row, as bound.
struct ImageValues {
    product_id: i64,
    image_file: String,
    is_thumbnail: bool,
    sort_order: i64,
    description: String,
    date: i64,
    picture: usize,
}

/// Fills the store. The caller has checked with [`ensure_empty`]; this checks again inside
/// its transaction.
pub async fn seed(state: &AppState, spec: SyntheticSeed) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    // Its images share eight pictures stored by content, which only a local store has.
    let files = state.files.local().cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "--seed-synthetic keeps its pictures in --data-dir: use it without --storage"
        )
    })?;
    let local = files.clone();
    let mut pictures = tokio::task::spawn_blocking(move || make_pictures(&files)).await??;
    let now = chrono::Utc::now().timestamp();
    let mut rng = Rng::new(u64::from(spec.products) ^ spec.images.rotate_left(32));
    let catalogue = products(spec, now, &mut rng);

    let dialect = match &state.records {
        Records::Sqlite(_) => Dialect::Sqlite,
        Records::Postgres(_) => Dialect::Postgres,
    };
    let mut tx = state.records.write().await?;
    let existing = match tx.conn() {
        Conn::Sqlite(c) => count_products_if_any(c).await?,
        Conn::Postgres(c) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM products")
                .fetch_one(c)
                .await?
        }
    };
    if existing > 0 {
        return Err(StoreNotEmpty {
            dir: state.config.data_dir.clone(),
            products: existing,
        }
        .into());
    }
    // SQLite: the image_file index takes its keys in random order, a large page cache keeps
    // its pages in memory for the length of the seed (put back below). PostgreSQL: the
    // counting triggers stand aside; the counts are written once below.
    on_both!(&mut tx, |c, dialect| {
        sqlx::query(dialect.pick(
            "PRAGMA cache_size = -262144",
            "SET LOCAL imagedesk.bulk_load = 'on'",
        ))
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected())
    })?;
    for picture in &mut pictures {
        picture.id = super::repo::upsert_picture(&mut tx, picture).await?;
    }
    for chunk in catalogue.chunks(PRODUCT_BATCH) {
        let sql = multi_row_insert(dialect, "products", &PRODUCT_COLUMNS, chunk.len());
        on_both!(&mut tx, |c| {
            let mut query = sqlx::query(&sql);
            for p in chunk {
                query = query
                    .bind(p.id)
                    .bind(&p.name)
                    .bind(&p.sku)
                    .bind(p.date_created)
                    .bind(p.date_modified);
            }
            query
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected())
        })?;
    }
    let mut batch: Vec<ImageValues> = Vec::with_capacity(IMAGE_BATCH);
    let mut images = 0u64;
    for product in &catalogue {
        let slug = product.sku.to_ascii_lowercase();
        let adjective_noun = product.name.split_once(" — ").map_or("", |(_, rest)| rest);
        for k in 0..product.images {
            let picture = ((product.id as u64 * 7 + k * 3) % PICTURES) as usize;
            let letter = char::from(b'a' + rng.below(26) as u8);
            let image_file = format!(
                "{letter}/{:03}/{slug}-{}__{:05}.{}",
                rng.below(1000),
                k + 1,
                rng.below(100_000),
                pictures[picture].extension
            );
            // Every seventh has no alt text, as in real catalogues.
            let description = if k % 7 == 6 {
                String::new()
            } else {
                format!("{adjective_noun}, view {}", k + 1)
            };
            batch.push(ImageValues {
                product_id: product.id,
                image_file,
                is_thumbnail: k == 0,
                sort_order: k as i64,
                description,
                date: (product.date_created + k as i64 * 60).min(product.date_modified),
                picture,
            });
            if batch.len() == IMAGE_BATCH {
                images += insert_images(&mut tx, dialect, &batch, &pictures).await?;
                batch.clear();
            }
        }
    }
    images += insert_images(&mut tx, dialect, &batch, &pictures).await?;
    // A small seed may leave a picture unused; a picture row exists only while an image
    // points to it (`pictures.rs`).
    let unused: Vec<(String, String)> = on_both!(&mut tx, |c| {
        sqlx::query_as(
            "DELETE FROM pictures WHERE NOT EXISTS \
             (SELECT 1 FROM images WHERE picture_id = pictures.id) RETURNING hash, extension",
        )
        .fetch_all(&mut *c)
        .await
    })?;
    let finish: &[&str] = match dialect {
        Dialect::Sqlite => &["PRAGMA cache_size = -2000"],
        Dialect::Postgres => &[
            "UPDATE products SET image_count = counted.n FROM \
             (SELECT product_id, COUNT(*) AS n FROM images GROUP BY product_id) AS counted \
             WHERE products.id = counted.product_id",
            "UPDATE counters SET value = (SELECT COUNT(*) FROM images) WHERE name = 'images'",
            // The products were given their ids: new ones continue after them.
            "SELECT setval(pg_get_serial_sequence('products', 'id'), \
             (SELECT COALESCE(MAX(id), 0) + 1 FROM products), false)",
            "ANALYZE products",
            "ANALYZE images",
        ],
    };
    for sql in finish {
        on_both!(&mut tx, |c| {
            sqlx::query(sql)
                .execute(&mut *c)
                .await
                .map(|done| done.rows_affected())
        })?;
    }
    tx.commit().await?;
    for (hash, extension) in &unused {
        local.remove_content(hash, extension);
    }
    let seeded = Seeded {
        products: catalogue.len() as u64,
        images,
        pictures: (pictures.len() - unused.len()) as u64,
        elapsed: started.elapsed(),
    };
    tracing::info!(
        "seeded {} products and {} images ({} distinct pictures) in {:.1} s",
        seeded.products,
        seeded.images,
        seeded.pictures,
        seeded.elapsed.as_secs_f64()
    );
    Ok(seeded)
}

async fn insert_images(
    conn: &mut dyn AsConn,
    dialect: Dialect,
    batch: &[ImageValues],
    pictures: &[PictureRow],
) -> sqlx::Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let sql = multi_row_insert(dialect, "images", &IMAGE_COLUMNS, batch.len());
    on_both!(conn, |c| {
        let mut query = sqlx::query(&sql);
        for image in batch {
            let picture = &pictures[image.picture];
            query = query
                .bind(image.product_id)
                .bind(&image.image_file)
                .bind(image.is_thumbnail)
                .bind(image.sort_order)
                .bind(&image.description)
                .bind(image.date)
                .bind(image.date)
                .bind(picture.width)
                .bind(picture.height)
                .bind(picture.file_size)
                .bind(picture.id);
        }
        query
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_is_products_colon_images() {
        assert_eq!(
            "100000:1000000".parse::<SyntheticSeed>(),
            Ok(SyntheticSeed {
                products: 100_000,
                images: 1_000_000
            })
        );
        assert_eq!(
            "1_000:0".parse::<SyntheticSeed>().map(|s| s.products),
            Ok(1000)
        );
        assert_eq!("100".parse::<SyntheticSeed>(), Err(SeedSpecError::Shape));
        assert_eq!(
            "0:0".parse::<SyntheticSeed>(),
            Err(SeedSpecError::NoProducts)
        );
        assert!(matches!(
            "x:1".parse::<SyntheticSeed>(),
            Err(SeedSpecError::Number(_))
        ));
        assert!(matches!(
            "2:2001".parse::<SyntheticSeed>(),
            Err(SeedSpecError::TooMany { .. })
        ));
    }

    #[test]
    fn counts_add_up_respect_the_limit_and_leave_some_products_empty() {
        for (products, images) in [(200, 2000), (100_000, 1_000_000), (10, 10_000), (50, 7)] {
            let counts = image_counts(products, images, &mut Rng::new(7));
            assert_eq!(counts.len(), products);
            assert_eq!(counts.iter().sum::<u64>(), images, "{products}:{images}");
            assert!(counts.iter().all(|&c| c <= MAX_PER_PRODUCT));
            if images >= products as u64 && images < products as u64 * MAX_PER_PRODUCT {
                assert!(
                    counts.contains(&0),
                    "{products}:{images} has empty products"
                );
            }
        }
        // 10 products of 1000: all full, none empty.
        assert!(
            image_counts(10, 10_000, &mut Rng::new(1))
                .iter()
                .all(|&c| c == 1000)
        );
    }

    #[test]
    fn products_have_searchable_names_and_plausible_dates() {
        let now = 1_800_000_000;
        let spec = SyntheticSeed {
            products: 1000,
            images: 5000,
        };
        let products = products(spec, now, &mut Rng::new(3));
        assert_eq!(products[41].sku, "SKU-000042");
        assert!(products[41].name.starts_with("Product 42 — "));
        assert!(products.iter().all(|p| p.date_created <= p.date_modified
            && p.date_modified <= now
            && p.date_created >= now - 365 * DAY));
        let recent = products
            .iter()
            .filter(|p| p.date_modified >= now - DAY)
            .count();
        assert!(
            (5..=60).contains(&recent),
            "{recent} changed in the last day"
        );
    }
}
