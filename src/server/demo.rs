//! The demo store: a few products with pictures embedded in the binary (made by
//! `examples/gen_demo_assets.rs`), so that a new user sees a working store at once.

use std::sync::Arc;

use super::error::ApiError;
use super::handlers::store_picture;
use super::input::ImageSource;
use super::repo;
use super::state::AppState;

const SEEDED_SETTING: &str = "demo_seeded";

macro_rules! demo_pictures {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../../assets/demo/", $name)) as &[u8])),*]
    };
}

const PICTURES: &[(&str, &[u8])] = demo_pictures![
    "photo-01.jpg",
    "photo-02.jpg",
    "photo-03.jpg",
    "photo-04.jpg",
    "photo-05.jpg",
    "photo-06.jpg",
    "photo-07.jpg",
    "photo-08.jpg",
    "photo-09.jpg",
    "photo-10.jpg",
    "photo-11.jpg",
    "photo-12.jpg",
    "photo-13.jpg",
    "photo-14.jpg",
    "cutout-01.png",
];

/// (name, SKU, how many pictures, descriptions are "{name}, view {n}").
const PRODUCTS: &[(&str, &str, usize)] = &[
    ("Canvas Tote Bag", "DEMO-TOTE", 5),
    ("Ceramic Coffee Mug", "DEMO-MUG", 3),
    ("Trail Running Shoe", "DEMO-SHOE", 8),
    ("Merino Wool Beanie", "DEMO-BEANIE", 4),
    ("Leather Notebook", "DEMO-NOTE", 6),
    ("Brass Desk Lamp", "DEMO-LAMP", 3),
];

/// Seeds the demo products once; a store that was seeded before is left alone.
pub async fn seed(state: &Arc<AppState>) -> anyhow::Result<()> {
    let mut conn = state.records.read().await?;
    if repo::get_setting(&mut conn, SEEDED_SETTING)
        .await?
        .is_some()
    {
        return Ok(());
    }
    drop(conn);
    let mut next_picture = 0;
    for (name, sku, count) in PRODUCTS {
        let now = chrono::Utc::now().timestamp();
        let product_id = {
            let mut tx = state.records.write().await?;
            // A seed interrupted by a crash resumes with the products it had not made yet.
            if repo::product_with_sku(&mut tx, sku).await?.is_some() {
                next_picture += count;
                continue;
            }
            let id = repo::insert_product(&mut tx, name, sku, now).await?;
            tx.commit().await?;
            id
        };
        for view in 1..=*count {
            let (file_name, bytes) = PICTURES[next_picture % PICTURES.len()];
            next_picture += 1;
            let source = ImageSource::Upload {
                filename: Some(file_name.to_owned()),
                bytes: bytes::Bytes::from_static(bytes),
            };
            let prepared = store_picture(state, source).await.map_err(api_error)?;
            let mut tx = state.records.write_product(product_id).await?;
            let stored = prepared.record_in(&mut tx).await.map_err(api_error)?;
            let description = format!("{name}, view {view}");
            let new = repo::NewImage {
                product_id,
                file: &stored,
                sort_order: None,
                is_thumbnail: None,
                description: &description,
            };
            repo::insert_image(&mut tx, new, now).await?;
            tx.commit().await?;
            prepared.kept();
        }
    }
    let mut tx = state.records.write().await?;
    repo::set_setting(&mut tx, SEEDED_SETTING, "1").await?;
    tx.commit().await?;
    tracing::info!("seeded the demo store with {} products", PRODUCTS.len());
    Ok(())
}

fn api_error(err: ApiError) -> anyhow::Error {
    anyhow::anyhow!(
        "{}{}",
        err.message,
        err.invalid_reason
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )
}
