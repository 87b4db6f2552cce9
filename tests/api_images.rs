//! The Product Images API against the real server over loopback HTTP.

mod common;

use bytes::Bytes;
use common::*;
use imagedesk::api::{ApiError, Image, ImageWrite, Page, UploadSource};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn upload(seed: u64) -> UploadSource {
    UploadSource::Bytes {
        file_name: format!("Photo {seed}.JPG"),
        bytes: Bytes::from(small_jpeg(seed)),
    }
}

async fn add(store: &TestStore, product: i64, seed: u64) -> Image {
    store
        .client
        .upload_image(product, &upload(seed), &ImageWrite::default(), None, None)
        .await
        .unwrap()
}

async fn set_thumbnail(store: &TestStore, product: i64, image: i64, flag: bool) -> Image {
    store
        .client
        .update_image(
            product,
            image,
            &ImageWrite {
                is_thumbnail: Some(flag),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

fn ids(images: &[Image]) -> Vec<i64> {
    images.iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn upload_list_get_update_delete_roundtrip() {
    let store = start().await;
    let product = store.product("Shoe").await;
    let sent = Arc::new(AtomicU64::new(0));
    let seen = sent.clone();
    let progress: imagedesk::api::Progress = Arc::new(move |s, _t| {
        seen.store(s, Ordering::SeqCst);
    });
    let first = store
        .client
        .upload_image(
            product,
            &upload(1),
            &ImageWrite {
                description: Some("front".into()),
                ..Default::default()
            },
            None,
            Some(progress),
        )
        .await
        .unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), small_jpeg(1).len() as u64);
    assert!(first.is_thumbnail, "the first image becomes the thumbnail");
    assert_eq!(first.sort_order, 0);
    assert_eq!(first.description, "front");
    assert!(first.image_file.ends_with(".jpg"));
    assert!(
        first.image_file.contains("/photo-1__"),
        "{}",
        first.image_file
    );
    assert!(first.date_created.ends_with("+0000"));

    // Every variant URL serves a JPEG of the right size.
    let zoom = store
        .raw()
        .get(first.tiny_url.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(zoom.headers()["content-type"], "image/jpeg");
    let tiny = image::load_from_memory(&zoom.bytes().await.unwrap()).unwrap();
    assert_eq!((tiny.width(), tiny.height()), (44, 33));
    let original = store
        .raw()
        .get(store.url(&format!("/product_images/{}", first.image_file)))
        .send()
        .await
        .unwrap();
    assert_eq!(original.status(), 200);
    assert_eq!(
        original.bytes().await.unwrap().as_ref(),
        small_jpeg(1).as_slice()
    );

    let second = add(&store, product, 2).await;
    assert_eq!(second.sort_order, 1);
    assert!(!second.is_thumbnail);
    assert_eq!(store.client.count_images(product).await.unwrap(), 2);
    assert_eq!(store.client.count_store_images().await.unwrap(), 2);
    assert_eq!(
        ids(&store.client.list_all_images(product).await.unwrap()),
        vec![first.id, second.id]
    );

    let got = store.client.get_image(product, second.id).await.unwrap();
    assert_eq!(got, second);
    let updated = store
        .client
        .update_image(
            product,
            second.id,
            &ImageWrite {
                description: Some("side".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.description, "side");

    store.client.delete_image(product, first.id).await.unwrap();
    let rest = store.client.list_all_images(product).await.unwrap();
    assert_eq!(ids(&rest), vec![second.id]);
    assert!(rest[0].is_thumbnail, "deleting the thumbnail moves it");
    let gone = store.client.get_image(product, first.id).await.unwrap_err();
    assert!(gone.is_not_found());
    // The deleted image's files are gone too.
    let file = store
        .raw()
        .get(store.url(&format!("/product_images/{}", first.image_file)))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 404);

    store.client.delete_all_images(product, None).await.unwrap();
    assert_eq!(store.client.count_images(product).await.unwrap(), 0);
    assert!(
        store
            .client
            .list_all_images(product)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn import_path_and_traversal() {
    let store = start().await;
    let product = store.product("Mug").await;
    let path = store.import_jpeg("Red Mug.jpeg", 3);
    let image = store
        .client
        .create_image(
            product,
            &ImageWrite {
                image_file: Some(path),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(image.image_file.contains("/red-mug__"));

    // A file outside the import dir, reached by .., an absolute path, or a link.
    let outside = store.data.path().join("secret.jpg");
    std::fs::write(&outside, small_jpeg(4)).unwrap();
    std::os::unix::fs::symlink(&outside, store.import.path().join("link.jpg")).unwrap();
    for bad in [
        "../secret.jpg".to_owned(),
        outside.display().to_string(),
        "link.jpg".to_owned(),
        "missing.jpg".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let err = store
            .client
            .create_image(
                product,
                &ImageWrite {
                    image_file: Some(bad.clone()),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "{bad}: {err}");
    }
    assert_eq!(store.client.count_images(product).await.unwrap(), 1);
}

#[tokio::test]
async fn sort_order_shift_rule_up_and_down() {
    let store = start().await;
    let product = store.product("Lamp").await;
    let mut images = Vec::new();
    for seed in 0..4 {
        images.push(add(&store, product, seed).await.id);
    }
    let (a, b, c, d) = (images[0], images[1], images[2], images[3]);
    // Move d to the front: everything at >= 0 shifts.
    let moved = store
        .client
        .update_image(
            product,
            d,
            &ImageWrite {
                sort_order: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.sort_order, 0);
    let list = store.client.list_all_images(product).await.unwrap();
    assert_eq!(ids(&list), vec![d, a, b, c]);
    assert_eq!(
        list.iter().map(|i| i.sort_order).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    // Move a down to the end.
    store
        .client
        .update_image(
            product,
            a,
            &ImageWrite {
                sort_order: Some(10),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store.client.list_all_images(product).await.unwrap()),
        vec![d, b, c, a]
    );
    // Writing an image's own value shifts nothing.
    let before = store.client.list_all_images(product).await.unwrap();
    store
        .client
        .update_image(
            product,
            b,
            &ImageWrite {
                sort_order: Some(before[1].sort_order),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after = store.client.list_all_images(product).await.unwrap();
    assert_eq!(
        before.iter().map(|i| i.sort_order).collect::<Vec<_>>(),
        after.iter().map(|i| i.sort_order).collect::<Vec<_>>()
    );
    // POST with a sort_order inserts and shifts.
    let inserted = store
        .client
        .upload_image(
            product,
            &upload(9),
            &ImageWrite {
                sort_order: Some(1),
                ..Default::default()
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store.client.list_all_images(product).await.unwrap()),
        vec![d, inserted.id, b, c, a]
    );
    // The client's reorder: one PUT for one move, and the order checked.
    let desired = vec![b, d, inserted.id, c, a];
    assert_eq!(store.client.reorder(product, &desired).await.unwrap(), 1);
    let reversed: Vec<i64> = desired.iter().rev().copied().collect();
    assert_eq!(store.client.reorder(product, &reversed).await.unwrap(), 4);
}

#[tokio::test]
async fn thumbnail_invariant_set_unset_delete() {
    let store = start().await;
    let product = store.product("Bag").await;
    let only = add(&store, product, 1).await;
    // Unsetting the only image's thumbnail keeps it.
    let kept = set_thumbnail(&store, product, only.id, false).await;
    assert!(kept.is_thumbnail);
    let second = add(&store, product, 2).await;
    let third = store
        .client
        .upload_image(
            product,
            &upload(3),
            &ImageWrite {
                is_thumbnail: Some(true),
                ..Default::default()
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert!(third.is_thumbnail);
    let thumbs = |list: &[Image]| {
        list.iter()
            .filter(|i| i.is_thumbnail)
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        thumbs(&store.client.list_all_images(product).await.unwrap()),
        vec![third.id]
    );
    // Set on another image moves the flag.
    set_thumbnail(&store, product, second.id, true).await;
    assert_eq!(
        thumbs(&store.client.list_all_images(product).await.unwrap()),
        vec![second.id]
    );
    // Unset moves it to the first other image in list order.
    set_thumbnail(&store, product, second.id, false).await;
    assert_eq!(
        thumbs(&store.client.list_all_images(product).await.unwrap()),
        vec![only.id]
    );
    // Deleting the thumbnail moves it to the first remaining image.
    store.client.delete_image(product, only.id).await.unwrap();
    assert_eq!(
        thumbs(&store.client.list_all_images(product).await.unwrap()),
        vec![second.id]
    );
}

#[tokio::test]
async fn paging_and_delete_one_page() {
    let store = start().await;
    let product = store.product("Notebook").await;
    let mut all = Vec::new();
    for seed in 0..5 {
        all.push(add(&store, product, seed).await.id);
    }
    let page2 = store
        .client
        .list_images(product, Page::new(2, 2))
        .await
        .unwrap();
    assert_eq!(ids(&page2), all[2..4].to_vec());
    let page9 = store
        .client
        .list_images(product, Page::new(9, 2))
        .await
        .unwrap();
    assert!(page9.is_empty());
    store
        .client
        .delete_all_images(product, Some(Page::new(1, 2)))
        .await
        .unwrap();
    assert_eq!(
        ids(&store.client.list_all_images(product).await.unwrap()),
        all[2..].to_vec()
    );
    for bad in ["page=0", "limit=0", "limit=251", "limit=abc", "page=-1"] {
        let response = store
            .raw()
            .get(store.url(&format!("/api/v2/products/{product}/images.json?{bad}")))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn products_extension() {
    let store = start().await;
    let a = store.product("Blue Shirt").await;
    let _b = store.product("Red Shirt").await;
    let _c = store.product("Hat").await;
    assert_eq!(store.client.count_products().await.unwrap(), 3);
    let shirts = store
        .client
        .list_products(Page::default(), Some("SHIRT"))
        .await
        .unwrap();
    assert_eq!(shirts.len(), 2);
    assert_eq!(
        store.client.get_product(a).await.unwrap().name,
        "Blue Shirt"
    );
    assert!(
        store
            .client
            .get_product(999)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(store.client.list_all_products().await.unwrap().len(), 3);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let store = start().await;
    let product = store.product("Key").await;
    let first = store
        .client
        .upload_image(
            product,
            &upload(1),
            &ImageWrite::default(),
            Some("create-1"),
            None,
        )
        .await
        .unwrap();
    let again = store
        .client
        .upload_image(
            product,
            &upload(2),
            &ImageWrite {
                description: Some("other".into()),
                ..Default::default()
            },
            Some("create-1"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(store.client.count_images(product).await.unwrap(), 1);
    let malformed = store
        .client
        .upload_image(
            product,
            &upload(3),
            &ImageWrite::default(),
            Some(&"x".repeat(201)),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(malformed.status(), Some(400));
    // Eight concurrent creates with one key make one image.
    let mut tasks = Vec::new();
    for seed in 0..8 {
        let client = store.client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .upload_image(
                    product,
                    &upload(seed + 10),
                    &ImageWrite::default(),
                    Some("burst"),
                    None,
                )
                .await
                .unwrap()
                .id
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        created.push(t.await.unwrap());
    }
    created.dedup();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(store.client.count_images(product).await.unwrap(), 2);
}

#[tokio::test]
async fn concurrent_writers_keep_order_and_thumbnail_invariants() {
    let store = start().await;
    let product = store.product("Busy").await;
    for seed in 0..6 {
        add(&store, product, seed).await;
    }
    let mut tasks = Vec::new();
    for writer in 0..8u64 {
        let client = store.client.clone();
        tasks.push(tokio::spawn(async move {
            for step in 0..6u64 {
                let list = client.list_all_images(product).await.unwrap();
                let target = list[((writer + step) as usize) % list.len()].id;
                let write = match (writer + step) % 3 {
                    0 => ImageWrite {
                        sort_order: Some((writer * step) as i64 % 5),
                        ..Default::default()
                    },
                    1 => ImageWrite {
                        is_thumbnail: Some(step % 2 == 0),
                        ..Default::default()
                    },
                    _ => ImageWrite {
                        description: Some(format!("w{writer}s{step}")),
                        ..Default::default()
                    },
                };
                match client.update_image(product, target, &write).await {
                    Ok(_) => {}
                    Err(e) => assert!(e.is_not_found(), "{e}"),
                }
                if step == 3 && writer % 4 == 0 {
                    client
                        .upload_image(
                            product,
                            &upload(100 + writer),
                            &ImageWrite {
                                sort_order: Some(2),
                                ..Default::default()
                            },
                            None,
                            None,
                        )
                        .await
                        .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let list = store.client.list_all_images(product).await.unwrap();
    assert_eq!(list.len(), 8);
    assert_eq!(list.iter().filter(|i| i.is_thumbnail).count(), 1);
    let mut orders: Vec<i64> = list.iter().map(|i| i.sort_order).collect();
    let sorted = {
        let mut s = orders.clone();
        s.sort();
        s
    };
    assert_eq!(orders, sorted, "lists come in sort_order order");
    orders.dedup();
    assert_eq!(
        orders.len(),
        8,
        "shifts never create ties from distinct values"
    );
}

#[tokio::test]
async fn refused_images_store_nothing() {
    let store = start().await;
    let product = store.product("Refusals").await;
    let files_before = count_files(store.data.path());
    let bomb = {
        // A valid PNG header claiming 20000×20000, with no pixel data behind it.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&20000u32.to_be_bytes());
        png.extend_from_slice(&20000u32.to_be_bytes());
        png.extend_from_slice(&[8, 2, 0, 0, 0]);
        let crc = crc32(&png[12..]);
        png.extend_from_slice(&crc.to_be_bytes());
        png
    };
    for (name, bytes) in [
        ("notes.jpg", b"this is not an image".to_vec()),
        ("bomb.png", bomb),
        ("truncated.jpg", small_jpeg(1)[..200].to_vec()),
    ] {
        let err = store
            .client
            .upload_image(
                product,
                &UploadSource::Bytes {
                    file_name: name.into(),
                    bytes: Bytes::from(bytes),
                },
                &ImageWrite::default(),
                None,
                None,
            )
            .await
            .unwrap_err();
        match &err {
            ApiError::Status {
                status, message, ..
            } => {
                assert_eq!(*status, 400, "{name}");
                assert!(message.contains("image_file"), "{message}");
            }
            other => panic!("{name}: {other}"),
        }
    }
    // 9 MiB + 1 byte: 413, without the server reading it all.
    let big = vec![0u8; 9 * 1024 * 1024 + 1];
    let response = store
        .raw()
        .post(store.url(&format!("/api/v2/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(store.client.count_images(product).await.unwrap(), 0);
    assert_eq!(count_files(store.data.path()), files_before);
}

fn count_files(dir: &std::path::Path) -> usize {
    let images = dir.join("images");
    let mut stack = vec![images];
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

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn image_limit_per_product_is_409() {
    let store = start().await;
    let product = store.product("Full").await;
    // Fill the product directly through the API with tiny images, quickly: 1000 uploads of a
    // 1×1 PNG take a few seconds.
    let tiny = {
        let img = image::DynamicImage::new_rgb8(1, 1);
        imagedesk::imaging::synthetic::png(&img)
    };
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let client = store.client.clone();
        let tiny = tiny.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                client
                    .upload_image(
                        product,
                        &UploadSource::Bytes {
                            file_name: format!("w{worker}.png"),
                            bytes: Bytes::from(tiny.clone()),
                        },
                        &ImageWrite::default(),
                        None,
                        None,
                    )
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.client.count_images(product).await.unwrap(), 1000);
    let err = store
        .client
        .upload_image(
            product,
            &UploadSource::Bytes {
                file_name: "x.png".into(),
                bytes: Bytes::from(tiny.clone()),
            },
            &ImageWrite::default(),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    // A bad image on a full product is 400: 400 wins over 409.
    let err = store
        .client
        .upload_image(
            product,
            &UploadSource::Bytes {
                file_name: "x.png".into(),
                bytes: Bytes::from_static(b"nope"),
            },
            &ImageWrite::default(),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}

/// Image lists are served from a cache; every write must be visible to the next read, even
/// while other clients keep re-reading (and so re-filling) the same list.
#[tokio::test]
async fn lists_are_never_stale_after_a_write() {
    lists_show_every_write_at_once(start().await).await;
}

/// Without the cache every list is read on the plain-SQLite read pool (`server/read_pool.rs`),
/// whose connections stay open across writes committed on the writer's: each write must be in
/// the very next read.
#[tokio::test]
async fn uncached_lists_show_every_write_at_once() {
    lists_show_every_write_at_once(start_with(|config| config.cache_lists = false).await).await;
}

async fn lists_show_every_write_at_once(store: TestStore) {
    let product = store.product("Cached").await;
    for seed in 0..3 {
        add(&store, product, seed).await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (client, stop) = (store.client.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    client.list_images(product, Page::default()).await.unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let list = || async {
        store
            .client
            .list_images(product, Page::default())
            .await
            .unwrap()
    };
    for round in 0..20 {
        let images = list().await;
        let target = images[round % images.len()].id;
        let text = format!("round {round}");
        store
            .client
            .update_image(
                product,
                target,
                &ImageWrite {
                    description: Some(text.clone()),
                    sort_order: Some(0),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let after = list().await;
        assert_eq!(after[0].id, target, "round {round}: the move shows at once");
        assert_eq!(after[0].description, text, "round {round}");
        if round % 5 == 4 {
            let added = add(&store, product, 100 + round as u64).await;
            let after = list().await;
            assert_eq!(
                after.len(),
                images.len() + 1,
                "round {round}: the upload shows"
            );
            store.client.delete_image(product, added.id).await.unwrap();
            assert_eq!(
                list().await.len(),
                images.len(),
                "round {round}: the delete shows"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        assert!(reader.await.unwrap() > 0);
    }

    // Image URLs name the host the client used, so each host gets its own page.
    let via = |host: &'static str| {
        let url = store.url(&format!("/api/v2/products/{product}/images.json"));
        let raw = store.raw();
        async move {
            let images: Vec<Image> = raw
                .get(url)
                .header("X-Auth-Token", TOKEN)
                .header("Host", host)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            images[0].zoom_url.clone().unwrap()
        }
    };
    assert!(
        via("first.example:80")
            .await
            .starts_with("http://first.example:80/")
    );
    assert!(
        via("second.example:80")
            .await
            .starts_with("http://second.example:80/")
    );
}

/// Sets every product's `date_modified` to 2001-01-01 straight in the database, so that the
/// next write is the only thing that can make a product "modified since 2010".
async fn backdate_products(store: &TestStore) {
    use sqlx::Connection as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(store.data.path().join("imagedesk.sqlite3"))
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .unwrap();
    sqlx::query("UPDATE products SET date_modified = 978307200")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// Ids of the products listed for `?min_date_modified={since}` (and the status).
async fn modified_since(store: &TestStore, since: &str) -> (u16, Vec<i64>) {
    let response = store
        .raw()
        .get(store.url("/api/v2/products"))
        .query(&[("min_date_modified", since)])
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    let ids = body
        .as_array()
        .map(|list| list.iter().filter_map(|p| p["id"].as_i64()).collect())
        .unwrap_or_default();
    (status, ids)
}

#[tokio::test]
async fn products_date_modified_follows_image_writes() {
    let store = start().await;
    let a = store.product("A").await;
    let b = store.product("B").await;
    let c = store.product("C").await;
    let b_image = add(&store, b, 1).await;
    let c_image = add(&store, c, 2).await;
    let _c_second = add(&store, c, 3).await;

    let product: serde_json::Value = store
        .raw()
        .get(store.url(&format!("/api/v2/products/{a}")))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let date_modified = product["date_modified"].as_str().unwrap();
    assert!(date_modified.ends_with(" +0000"), "{product}");
    assert_eq!(date_modified, product["date_created"], "{product}");

    backdate_products(&store).await;
    assert_eq!(modified_since(&store, "2010-01-01").await, (200, vec![]));
    assert_eq!(
        modified_since(&store, "Sat, 30 Dec 2000 00:00:00 +0000").await,
        (200, vec![a, b, c]),
        "RFC 2822, and >= is inclusive of older writes"
    );

    // Each kind of image write marks its product, and only its product.
    add(&store, a, 4).await;
    assert_eq!(modified_since(&store, "2010-01-01").await, (200, vec![a]));

    backdate_products(&store).await;
    let moved = ImageWrite {
        sort_order: Some(0),
        ..Default::default()
    };
    store
        .client
        .update_image(b, b_image.id, &moved)
        .await
        .unwrap();
    assert_eq!(
        modified_since(&store, "2010-01-01T00:00:00Z").await,
        (200, vec![b])
    );

    backdate_products(&store).await;
    store.client.delete_image(c, c_image.id).await.unwrap();
    assert_eq!(modified_since(&store, "2010-01-01").await, (200, vec![c]));

    backdate_products(&store).await;
    store.client.delete_all_images(c, None).await.unwrap();
    assert_eq!(modified_since(&store, "2010-01-01").await, (200, vec![c]));

    let (status, _) = modified_since(&store, "last tuesday").await;
    assert_eq!(status, 400);
}
