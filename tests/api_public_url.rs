//! `serve --public-url URL` (SPEC §3 "Past one machine"): the base of every `*_url` in
//! answers, whatever host the request addressed (nodes behind a load balancer or a CDN).

mod common;

use bytes::Bytes;
use common::*;
use imagedesk::api::{Image, ImageWrite, UploadSource};
use imagedesk::server::PublicUrl;

const PUBLIC: &str = "https://images.example.com/shop";

fn public(config: &mut imagedesk::server::Config) {
    config.public_url = Some(PUBLIC.parse::<PublicUrl>().unwrap());
}

fn urls(image: &Image) -> [Option<&String>; 4] {
    [
        image.zoom_url.as_ref(),
        image.standard_url.as_ref(),
        image.thumbnail_url.as_ref(),
        image.tiny_url.as_ref(),
    ]
}

/// Every `*_url` is `{public}/product_images/{variant}/{image_file}`.
fn assert_public(image: &Image) {
    for (url, variant) in urls(image)
        .into_iter()
        .zip(["zoom", "standard", "thumbnail", "tiny"])
    {
        assert_eq!(
            url.map(String::as_str),
            Some(format!("{PUBLIC}/product_images/{variant}/{}", image.image_file).as_str()),
            "{image:?}"
        );
    }
}

#[tokio::test]
async fn every_url_in_answers_starts_with_the_public_url() {
    let store = start_with(public).await;
    let product = store.product("Lamp").await;
    let upload = UploadSource::Bytes {
        file_name: "Lamp.jpg".into(),
        bytes: Bytes::from(small_jpeg(1)),
    };
    let created = store
        .client
        .upload_image(product, &upload, &ImageWrite::default(), None, None)
        .await
        .unwrap();
    assert_public(&created);
    let path = store.import_jpeg("side.jpg", 2);
    let imported = store
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
    assert_public(&imported);
    let updated = store
        .client
        .update_image(
            product,
            imported.id,
            &ImageWrite {
                description: Some("side".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_public(&updated);
    assert_public(&store.client.get_image(product, created.id).await.unwrap());
    let listed = store.images(product).await;
    assert_eq!(listed.len(), 2);
    listed.iter().for_each(assert_public);

    // The list, answered from its cache to a request that names another host, still says
    // the public URL; and the store itself serves the path under it.
    let raw = store
        .raw()
        .get(store.url(&format!("/api/v2/products/{product}/images")))
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json")
        .header("Host", "other.example:9999")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let listed: Vec<Image> = raw.json().await.unwrap();
    listed.iter().for_each(assert_public);
    let tiny = created.tiny_url.unwrap();
    let path = tiny.strip_prefix(PUBLIC).unwrap();
    let served = reqwest::get(store.url(path)).await.unwrap();
    assert_eq!(served.status(), 200);
    assert!(!served.bytes().await.unwrap().is_empty());
}

/// Without `--public-url`, URLs follow the host the request addressed, and the list cache
/// keeps one page per host.
#[tokio::test]
async fn without_a_public_url_each_host_gets_its_own_urls() {
    let store = start().await;
    let product = store.product("Chair").await;
    let path = store.import_jpeg("chair.jpg", 3);
    store
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
    for host in ["a.example:1", "b.example:2", "a.example:1"] {
        let listed: Vec<Image> = store
            .raw()
            .get(store.url(&format!("/api/v2/products/{product}/images")))
            .header("X-Auth-Token", TOKEN)
            .header("Accept", "application/json")
            .header("Host", host)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let zoom = listed[0].zoom_url.as_deref().unwrap();
        assert!(
            zoom.starts_with(&format!("http://{host}/product_images/zoom/")),
            "{zoom}"
        );
    }
}

/// `--redirect-images`: the store sends clients to the same path under the public URL (the
/// bucket or a CDN) instead of serving the file itself.
#[tokio::test]
async fn redirect_images_sends_file_requests_to_the_public_url() {
    let store = start_with(|config| {
        public(config);
        config.redirect_images = true;
    })
    .await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["zoom/a/001/lamp__00001.jpg", "a/001/lamp__00001.jpg"] {
        let answer = no_redirects
            .get(store.url(&format!("/product_images/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 307, "{path}");
        assert_eq!(
            answer.headers()["location"].to_str().unwrap(),
            format!("{PUBLIC}/product_images/{path}")
        );
    }
}
