//! Issue 13 on the real server over loopback: the synthetic seed (`--seed-synthetic`), counts
//! kept without scans, `min_date_modified` through either query plan, and pictures stored by
//! content (identical bytes share their files; a delete keeps what another image uses), also
//! for a data directory written before content addressing.

mod common;

use std::collections::BTreeSet;

use bytes::Bytes;
use common::*;
use imagedesk::api::{ImageWrite, UploadSource};
use imagedesk::server::SyntheticSeed;

fn seed(spec: &str) -> impl FnOnce(&mut imagedesk::server::Config) {
    let spec: SyntheticSeed = spec.parse().unwrap();
    move |config| config.seed_synthetic = Some(spec)
}

/// Every product as the server sends it (with `date_modified`, which the client's `Product`
/// does not carry), following the pages; `query` is added to each request.
async fn raw_products(store: &TestStore, query: &str) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let response = store
            .raw()
            .get(store.url(&format!(
                "/api/v2/products.json?limit=250&page={page}{query}"
            )))
            .header("X-Auth-Token", TOKEN)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "page {page}{query}");
        let rows: Vec<serde_json::Value> = response.json().await.unwrap();
        let done = rows.len() < 250;
        all.extend(rows);
        if done {
            break;
        }
    }
    all
}

fn timestamp(product: &serde_json::Value) -> i64 {
    let text = product["date_modified"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc2822(text)
        .unwrap()
        .timestamp()
}

fn ids(products: &[serde_json::Value]) -> Vec<i64> {
    products.iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

/// The products changed since `since`, asked of the server, beside the ones expected from the
/// full list.
async fn changed_since(store: &TestStore, all: &[serde_json::Value], since: i64) {
    let date = chrono::DateTime::from_timestamp(since, 0)
        .unwrap()
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    let query = format!("&min_date_modified={}", urlencode(&date));
    let got = ids(&raw_products(store, &query).await);
    let expected: Vec<i64> = all
        .iter()
        .filter(|p| timestamp(p) >= since)
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    assert_eq!(got, expected, "products modified since {date}");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_seeded_store_has_its_counts_lists_pictures_and_dates() {
    let store = start_with(seed("200:2000")).await;
    let client = &store.client;
    assert_eq!(client.count_store_images().await.unwrap(), 2000);
    let products = client.list_all_products().await.unwrap();
    assert_eq!(products.len(), 200);
    let mut total = 0;
    let mut empty = 0;
    let mut names = BTreeSet::new();
    let mut files = BTreeSet::new();
    for (n, product) in products.iter().enumerate() {
        assert_eq!(product.sku, format!("SKU-{:06}", n + 1));
        assert!(
            product.name.starts_with(&format!("Product {} — ", n + 1)),
            "{}",
            product.name
        );
        names.insert(product.name.split_once(" — ").unwrap().1.to_owned());
        let images = client.list_all_images(product.id).await.unwrap();
        assert_eq!(
            client.count_images(product.id).await.unwrap(),
            images.len() as u64
        );
        assert!(images.len() <= 1000);
        if images.is_empty() {
            empty += 1;
            continue;
        }
        let orders: Vec<i64> = images.iter().map(|i| i.sort_order).collect();
        assert_eq!(orders, (0..images.len() as i64).collect::<Vec<_>>());
        let thumbnails: Vec<i64> = images
            .iter()
            .filter(|i| i.is_thumbnail)
            .map(|i| i.sort_order)
            .collect();
        assert_eq!(thumbnails, [0], "one thumbnail, the first image");
        files.extend(images.iter().map(|i| i.image_file.clone()));
        total += images.len();
    }
    assert_eq!(total, 2000);
    assert_eq!(files.len(), 2000, "every image has its own image_file");
    assert!(empty > 0 && empty < 200, "{empty} products without images");
    assert!(names.len() > 20, "names are varied: {names:?}");

    // Pictures are served under every image's own names, from a handful of shared files.
    let some: Vec<_> = client.list_all_images(products[0].id).await.unwrap();
    let image = match some.first() {
        Some(image) => image.clone(),
        None => client.list_all_images(products[1].id).await.unwrap()[0].clone(),
    };
    let zoom = reqwest::get(image.zoom_url.clone().unwrap()).await.unwrap();
    assert_eq!(zoom.status(), 200);
    let bytes = zoom.bytes().await.unwrap();
    let probe = imagedesk::imaging::probe(&bytes).unwrap();
    assert!(probe.width <= 1280 && probe.height <= 1280 && probe.width >= 500);
    let original = reqwest::get(store.url(&format!("/product_images/{}", image.image_file)))
        .await
        .unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(
        original.bytes().await.unwrap().len() as u64,
        image.file_size.unwrap()
    );
    assert!(count_files(store.data.path()) <= 8 * 5);

    // min_date_modified: only the products changed since.
    let all = raw_products(&store, "").await;
    let mut dates: Vec<i64> = all.iter().map(timestamp).collect();
    dates.sort_unstable();
    changed_since(&store, &all, dates[dates.len() * 9 / 10]).await;
    let day_ago = chrono::Utc::now().timestamp() - 86_400;
    assert!(
        dates.iter().any(|&d| d >= day_ago) && dates.iter().any(|&d| d < day_ago),
        "dates are spread over the past"
    );
}

#[tokio::test]
async fn min_date_modified_is_right_with_few_and_with_many_changes() {
    // More products than the threshold of the query plan (5000): a recent date reads through
    // the date index, an old one walks the products in id order.
    let store = start_with(seed("6000:0")).await;
    assert_eq!(store.client.count_store_images().await.unwrap(), 0);
    let all = raw_products(&store, "").await;
    assert_eq!(all.len(), 6000);
    let mut dates: Vec<i64> = all.iter().map(timestamp).collect();
    dates.sort_unstable();
    changed_since(&store, &all, dates[dates.len() - 300]).await;
    changed_since(&store, &all, dates[200]).await;
    // With a name filter too (the third road through the query).
    let since = dates[dates.len() - 1000];
    let date = chrono::DateTime::from_timestamp(since, 0)
        .unwrap()
        .to_rfc3339();
    let got = ids(&raw_products(
        &store,
        &format!("&name=backpack&min_date_modified={}", urlencode(&date)),
    )
    .await);
    let expected: Vec<i64> = all
        .iter()
        .filter(|p| timestamp(p) >= since)
        .filter(|p| p["name"].as_str().unwrap().contains("Backpack"))
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
    // A write moves a product into the recent set.
    let old = all.iter().min_by_key(|p| timestamp(p)).unwrap();
    let old_id = old["id"].as_i64().unwrap();
    let since = chrono::Utc::now().timestamp();
    let path = store.import_jpeg("new.jpg", 3);
    store
        .client
        .create_image(
            old_id,
            &ImageWrite {
                image_file: Some(path),
                ..ImageWrite::default()
            },
            None,
        )
        .await
        .unwrap();
    let date = chrono::DateTime::from_timestamp(since, 0)
        .unwrap()
        .to_rfc3339();
    let recent = raw_products(&store, &format!("&min_date_modified={}", urlencode(&date))).await;
    assert!(ids(&recent).contains(&old_id));
    assert_eq!(store.client.count_images(old_id).await.unwrap(), 1);
    assert_eq!(store.client.count_store_images().await.unwrap(), 1);
}

/// Files under the data directory's `images/`.
fn count_files(dir: &std::path::Path) -> usize {
    let mut stack = vec![dir.join("images")];
    let mut n = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

fn upload(name: &str, bytes: &[u8]) -> UploadSource {
    UploadSource::Bytes {
        file_name: name.to_owned(),
        bytes: Bytes::from(bytes.to_vec()),
    }
}

#[tokio::test]
async fn identical_bytes_share_files_and_a_delete_keeps_the_others_picture() {
    let store = start().await;
    let (a, b) = (store.product("A").await, store.product("B").await);
    let photo = small_jpeg(11);
    let add = |product: i64, name: &'static str, bytes: Vec<u8>| {
        let client = store.client.clone();
        async move {
            client
                .upload_image(
                    product,
                    &upload(name, &bytes),
                    &ImageWrite::default(),
                    None,
                    None,
                )
                .await
                .unwrap()
        }
    };
    let first = add(a, "front.jpg", photo.clone()).await;
    assert_eq!(count_files(store.data.path()), 5);
    let second = add(b, "copy.jpg", photo.clone()).await;
    assert_eq!(
        count_files(store.data.path()),
        5,
        "the same bytes again write no new file"
    );
    assert_ne!(first.image_file, second.image_file);
    assert_eq!(
        (second.width, second.height, second.file_size),
        (first.width, first.height, first.file_size)
    );
    let other = add(a, "other.jpg", small_jpeg(12)).await;
    assert_eq!(count_files(store.data.path()), 10);

    store.client.delete_image(a, first.id).await.unwrap();
    assert_eq!(
        count_files(store.data.path()),
        10,
        "B still uses the picture"
    );
    for url in [
        second.zoom_url.clone().unwrap(),
        second.tiny_url.clone().unwrap(),
        store.url(&format!("/product_images/{}", second.image_file)),
    ] {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
    }
    let original = reqwest::get(store.url(&format!("/product_images/{}", second.image_file)))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(original.as_ref(), photo.as_slice());
    // The deleted image's own names are gone.
    let gone = reqwest::get(first.zoom_url.clone().unwrap()).await.unwrap();
    assert_eq!(gone.status(), 404);

    // Replacing a picture by one another image uses: no new files; the old one goes.
    let path = "again.jpg";
    std::fs::write(store.import.path().join(path), small_jpeg(11)).unwrap();
    let replaced = store
        .client
        .update_image(
            a,
            other.id,
            &ImageWrite {
                image_file: Some(path.into()),
                ..ImageWrite::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(replaced.file_size, second.file_size);
    assert_eq!(count_files(store.data.path()), 5, "small_jpeg(12) went");

    store.client.delete_image(b, second.id).await.unwrap();
    assert_eq!(count_files(store.data.path()), 5, "A's image still uses it");
    store.client.delete_all_images(a, None).await.unwrap();
    assert_eq!(
        count_files(store.data.path()),
        0,
        "no image uses it any more"
    );
    assert_eq!(store.client.count_store_images().await.unwrap(), 0);
}

#[tokio::test]
async fn an_image_of_the_legacy_layout_is_served_and_deleted() {
    let store = start().await;
    let product = store.product("Old").await;
    let stopped = store.stop().await;
    // What a store written before content addressing holds: a row without a picture, its
    // files under images/{copy}/{image_file}.
    let image_file = "o/001/old-photo__00001.jpg";
    let bytes = small_jpeg(21);
    for copy in ["original", "zoom", "standard", "thumbnail", "tiny"] {
        let path = stopped
            .data
            .path()
            .join("images")
            .join(copy)
            .join(image_file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &bytes).unwrap();
    }
    {
        use sqlx::ConnectOptions as _;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(stopped.data.path().join("imagedesk.sqlite3"));
        let mut conn = options.connect().await.unwrap();
        sqlx::query(
            "INSERT INTO images (product_id, image_file, is_thumbnail, sort_order, description, \
             date_created, date_modified, width, height, file_size) \
             VALUES (?, ?, 1, 0, 'old', 1, 1, 160, 120, ?)",
        )
        .bind(product)
        .bind(image_file)
        .bind(bytes.len() as i64)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let store = stopped.start().await;
    assert_eq!(
        count_files(store.data.path()),
        5,
        "kept by the start-up clean-up"
    );
    assert_eq!(store.client.count_images(product).await.unwrap(), 1);
    let image = store.images(product).await.remove(0);
    let served = reqwest::get(image.zoom_url.clone().unwrap()).await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());
    // A new upload of other bytes goes to the content store beside it.
    let new = store
        .client
        .upload_image(
            product,
            &upload("new.jpg", &small_jpeg(22)),
            &ImageWrite::default(),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(count_files(store.data.path()), 10);
    store.client.delete_image(product, image.id).await.unwrap();
    assert_eq!(count_files(store.data.path()), 5, "the legacy files went");
    let gone = reqwest::get(image.zoom_url.clone().unwrap()).await.unwrap();
    assert_eq!(gone.status(), 404);
    let kept = reqwest::get(new.zoom_url.clone().unwrap()).await.unwrap();
    assert_eq!(kept.status(), 200);
}

#[tokio::test]
async fn a_delete_racing_an_upload_of_the_same_bytes_never_loses_the_files() {
    let store = start().await;
    let (a, b) = (store.product("A").await, store.product("B").await);
    let photo = small_jpeg(31);
    let client = &store.client;
    for round in 0..15 {
        let first = client
            .upload_image(
                a,
                &upload("first.jpg", &photo),
                &ImageWrite::default(),
                None,
                None,
            )
            .await
            .unwrap();
        // The last image of the picture goes while another upload of its bytes arrives: in
        // either order, the survivor's files must stay.
        let (source, write) = (upload("second.jpg", &photo), ImageWrite::default());
        let (deleted, second) = tokio::join!(
            client.delete_image(a, first.id),
            client.upload_image(b, &source, &write, None, None)
        );
        deleted.unwrap();
        let second = second.unwrap();
        let zoom = reqwest::get(second.zoom_url.clone().unwrap())
            .await
            .unwrap();
        assert_eq!(zoom.status(), 200, "round {round}");
        assert_eq!(count_files(store.data.path()), 5, "round {round}");
        client.delete_image(b, second.id).await.unwrap();
        assert_eq!(count_files(store.data.path()), 0, "round {round}");
    }
}
