//! The in-memory model store (`imagedesk::sync::memory_store`) against the real server: one
//! script of writes (creates, sort_order shifts, thumbnail moves, deletes, key replays and
//! refusals) runs on both through the same `Remote` calls, and the answers and lists must agree,
//! ids aside. The engine tests in tests/sync_model.rs rely on the model being this faithful.
//! Then the model's own knobs: faults, key policies, other clients, assets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use imagedesk::api::{ApiError, Image, ImageWrite, UploadSource};
use imagedesk::sync::Remote;
use imagedesk::sync::memory_store::{CallKind, Fault, KeyPolicy, MemoryStore, slug};

/// One write of the script. Images are named by the source they were created from; the store's
/// `image_file` keeps that name as its slug, which is how a list is read back into names.
#[derive(Debug, Clone)]
enum Step {
    Create(Create),
    Upload { name: &'static str, seed: u64 },
    Put(Put),
    PutWrongProductField { name: &'static str },
    PutUnknownImage,
    CreateOnUnknownProduct,
    CreateWithoutFile,
    CreateFromAbsolutePath,
    CreateWithOversizedKey,
    Delete { name: &'static str },
    DeleteUnknownImage,
    DeleteAll,
}

/// A JSON create from the import file `{name}.jpg`, described `about {name}`.
#[derive(Debug, Clone)]
struct Create {
    name: &'static str,
    sort_order: Option<i64>,
    thumbnail: Option<bool>,
    key: Option<&'static str>,
}

/// A PUT of the fields that are `Some`.
#[derive(Debug, Clone)]
struct Put {
    name: &'static str,
    sort_order: Option<i64>,
    thumbnail: Option<bool>,
    description: Option<&'static str>,
}

fn create(name: &'static str) -> Create {
    Create {
        name,
        sort_order: None,
        thumbnail: None,
        key: None,
    }
}

fn put(name: &'static str) -> Put {
    Put {
        name,
        sort_order: None,
        thumbnail: None,
        description: None,
    }
}

/// Every rule of SPEC §1's "Ordering and the thumbnail" and "Idempotent creates", in turn.
fn script() -> Vec<Step> {
    vec![
        Step::Create(create("a")),
        Step::Create(create("b")),
        Step::Create(Create {
            sort_order: Some(0),
            ..create("c")
        }),
        Step::Create(Create {
            sort_order: Some(1),
            thumbnail: Some(true),
            ..create("d")
        }),
        Step::Put(Put {
            sort_order: Some(0),
            ..put("b")
        }),
        // Its own value: nothing shifts.
        Step::Put(Put {
            sort_order: Some(2),
            ..put("c")
        }),
        Step::Put(Put {
            sort_order: Some(2),
            ..put("a")
        }),
        // `false` on an image that is not the thumbnail changes nothing.
        Step::Put(Put {
            thumbnail: Some(false),
            ..put("c")
        }),
        // `false` on the thumbnail moves the flag to the first other image.
        Step::Put(Put {
            thumbnail: Some(false),
            ..put("d")
        }),
        Step::Put(Put {
            description: Some("alt text"),
            ..put("a")
        }),
        // Gaps and ties: write 10 on one image, then create at 10 (the first one shifts).
        Step::Put(Put {
            sort_order: Some(10),
            ..put("c")
        }),
        Step::Create(Create {
            sort_order: Some(10),
            ..create("e")
        }),
        Step::Create(Create {
            key: Some("key-1"),
            ..create("f")
        }),
        // The same key again, another body: the first answer, nothing created.
        Step::Create(Create {
            key: Some("key-1"),
            sort_order: Some(0),
            ..create("g")
        }),
        Step::Upload {
            name: "upload-h",
            seed: 5,
        },
        // Deleting the thumbnail moves the flag to the first image left.
        Step::Delete { name: "b" },
        Step::Put(Put {
            thumbnail: Some(true),
            ..put("e")
        }),
        Step::Delete { name: "e" },
        Step::PutUnknownImage,
        Step::PutWrongProductField { name: "a" },
        Step::CreateOnUnknownProduct,
        Step::CreateWithoutFile,
        Step::CreateFromAbsolutePath,
        Step::CreateWithOversizedKey,
        Step::Create(Create {
            sort_order: Some(-1),
            ..create("never")
        }),
        Step::Put(Put {
            sort_order: Some(-3),
            ..put("a")
        }),
        Step::DeleteUnknownImage,
        Step::DeleteAll,
        // A product's only image is its thumbnail, even asked otherwise.
        Step::Create(Create {
            thumbnail: Some(false),
            ..create("i")
        }),
        Step::Put(Put {
            thumbnail: Some(false),
            ..put("i")
        }),
        Step::Create(create("j")),
        Step::Delete { name: "i" },
        // No stored sort_order passes its maximum: a shift that would move the image there,
        // or a create going last after it, is refused and changes nothing.
        Step::Put(Put {
            sort_order: Some(2_147_483_647),
            ..put("j")
        }),
        Step::Create(create("k")),
        Step::Create(Create {
            sort_order: Some(5),
            ..create("k")
        }),
        Step::Put(Put {
            sort_order: Some(3),
            ..put("j")
        }),
        Step::Create(create("k")),
    ]
}

/// Sources every create of the script may name, as import-directory paths.
const SOURCES: [&str; 11] = ["a", "b", "c", "d", "e", "f", "g", "i", "j", "k", "never"];

/// The image's name: the slug of its stored file (`x/123/{slug}__12345.jpg`).
fn name_of(image: &Image) -> String {
    let file = image.image_file.rsplit('/').next().unwrap_or_default();
    let stem = file.split("__").next().unwrap_or_default();
    stem.to_owned()
}

/// What a store did with one step: its answer and the product's list after it, ids left out.
fn describe_outcome(answer: Result<Option<Image>, ApiError>, list: &[Image]) -> String {
    let answer = match answer {
        Ok(Some(image)) => record(&image),
        Ok(None) => "ok".to_owned(),
        Err(ApiError::Status { status, .. }) => format!("HTTP {status}"),
        Err(other) => format!("error {other}"),
    };
    let list: Vec<String> = list.iter().map(record).collect();
    format!("answer {answer}; list [{}]", list.join(", "))
}

fn record(image: &Image) -> String {
    let extension = image.image_file.rsplit('.').next().unwrap_or_default();
    format!(
        "{}.{extension} @{}{} '{}'",
        name_of(image),
        image.sort_order,
        if image.is_thumbnail { " thumb" } else { "" },
        image.description
    )
}

fn jpeg_named(name: &str) -> String {
    format!("{name}.jpg")
}

/// Runs the script on one store and returns one line per step.
async fn run_script(store: &dyn Remote, product: i64) -> Vec<String> {
    let mut trace = Vec::new();
    for step in script() {
        let answer = run_step(store, product, &step).await;
        let list = store.list_all_images(product).await.unwrap().records;
        trace.push(format!("{step:?}: {}", describe_outcome(answer, &list)));
    }
    trace
}

async fn id_of(store: &dyn Remote, product: i64, name: &str) -> i64 {
    let list = store.list_all_images(product).await.unwrap().records;
    list.iter()
        .find(|i| name_of(i) == name)
        .unwrap_or_else(|| panic!("no image named {name}"))
        .id
}

async fn run_step(
    store: &dyn Remote,
    product: i64,
    step: &Step,
) -> Result<Option<Image>, ApiError> {
    let unknown_product = product + 1000;
    match step.clone() {
        Step::Create(Create {
            name,
            sort_order,
            thumbnail,
            key,
        }) => {
            let write = ImageWrite {
                image_file: Some(jpeg_named(name)),
                sort_order,
                is_thumbnail: thumbnail,
                description: Some(format!("about {name}")),
                ..ImageWrite::default()
            };
            store
                .create_image(product, &write, key)
                .await
                .map(|c| Some(c.image))
        }
        Step::Upload { name, seed } => {
            let source = UploadSource::Bytes {
                file_name: jpeg_named(name),
                bytes: small_jpeg(seed).into(),
            };
            let fields = ImageWrite {
                description: Some("uploaded".into()),
                ..ImageWrite::default()
            };
            store
                .upload_image(product, &source, &fields, None, None)
                .await
                .map(|c| Some(c.image))
        }
        Step::Put(Put {
            name,
            sort_order,
            thumbnail,
            description,
        }) => {
            let write = ImageWrite {
                sort_order,
                is_thumbnail: thumbnail,
                description: description.map(str::to_owned),
                ..ImageWrite::default()
            };
            let id = id_of(store, product, name).await;
            store.update_image(product, id, &write).await.map(Some)
        }
        Step::PutWrongProductField { name } => {
            let write = ImageWrite {
                product_id: Some(unknown_product),
                description: Some("moved?".into()),
                ..ImageWrite::default()
            };
            let id = id_of(store, product, name).await;
            store.update_image(product, id, &write).await.map(Some)
        }
        Step::PutUnknownImage => store
            .update_image(product, 987_654, &ImageWrite::default())
            .await
            .map(Some),
        Step::CreateOnUnknownProduct => {
            let write = ImageWrite {
                image_file: Some(jpeg_named("a")),
                ..ImageWrite::default()
            };
            store
                .create_image(unknown_product, &write, None)
                .await
                .map(|c| Some(c.image))
        }
        Step::CreateWithoutFile => store
            .create_image(product, &ImageWrite::default(), None)
            .await
            .map(|c| Some(c.image)),
        Step::CreateFromAbsolutePath => {
            let write = ImageWrite {
                image_file: Some("/etc/a.jpg".into()),
                ..ImageWrite::default()
            };
            store
                .create_image(product, &write, None)
                .await
                .map(|c| Some(c.image))
        }
        Step::CreateWithOversizedKey => {
            let write = ImageWrite {
                image_file: Some(jpeg_named("a")),
                ..ImageWrite::default()
            };
            let key = "k".repeat(201);
            store
                .create_image(product, &write, Some(&key))
                .await
                .map(|c| Some(c.image))
        }
        Step::Delete { name } => {
            let id = id_of(store, product, name).await;
            store.delete_image(product, id).await.map(|()| None)
        }
        Step::DeleteUnknownImage => store.delete_image(product, 987_654).await.map(|()| None),
        Step::DeleteAll => store.delete_all_images(product).await.map(|()| None),
    }
}

#[tokio::test]
async fn the_model_store_answers_a_script_of_writes_as_the_real_server_does() {
    let server = start().await;
    for name in SOURCES {
        server.import_jpeg(&jpeg_named(name), 3);
    }
    let real_product = server.product("Real").await;
    let real_bystander = server.product("Bystander").await;
    let model = MemoryStore::new();
    let model_product = model.add_product("Model", "").id;
    let model_bystander = model.add_product("Bystander", "").id;
    for (store, bystander) in [
        (&server.client as &dyn Remote, real_bystander),
        (&model as &dyn Remote, model_bystander),
    ] {
        let write = ImageWrite {
            image_file: Some(jpeg_named("a")),
            ..ImageWrite::default()
        };
        store.create_image(bystander, &write, None).await.unwrap();
    }

    let real = run_script(&server.client, real_product).await;
    let modelled = run_script(&model, model_product).await;
    for (n, (real_line, model_line)) in real.iter().zip(&modelled).enumerate() {
        assert_eq!(
            model_line,
            real_line,
            "step {n} differs (model, then real server); the whole real trace:\n{}",
            real.join("\n")
        );
    }
    assert_eq!(real.len(), modelled.len());
    // The trace really exercises the rules (a few lines checked by hand against SPEC §1).
    let line_of = |prefix: &str| real.iter().find(|l| l.contains(prefix)).cloned();
    assert!(
        line_of("name: \"g\"").is_some_and(|l| l.contains("answer f.jpg") && !l.contains("g.jpg")),
        "a repeated key answers with the first image and creates nothing"
    );
    assert!(
        line_of("name: \"k\", sort_order: Some(5)").is_some_and(|l| l.contains("answer HTTP 400")),
        "a shift past the largest sort_order is refused"
    );
    assert!(
        real.last()
            .is_some_and(|l| l.ends_with("list [j.jpg @3 thumb 'about j', k.jpg @4 'about k']")),
        "{:?}",
        real.last()
    );

    // The other product was never touched, and both stores count the same.
    let bystander_lists = (
        server.client.list_all_images(real_bystander).await.unwrap(),
        model.images(model_bystander),
    );
    assert_eq!(
        describe_outcome(Ok(None), &bystander_lists.0),
        describe_outcome(Ok(None), &bystander_lists.1)
    );
    assert_eq!(
        server.client.count_store_images().await.unwrap(),
        Remote::count_store_images(&model).await.unwrap()
    );
}

#[tokio::test]
async fn an_upload_is_measured_and_named_like_on_the_real_server() {
    let server = start().await;
    let real_product = server.product("Real").await;
    let model = MemoryStore::new();
    let model_product = model.add_product("Model", "").id;
    let source = UploadSource::Bytes {
        file_name: "Blue Mug (front).JPG".into(),
        bytes: small_jpeg(9).into(),
    };
    let fields = ImageWrite::default();
    let real = server
        .client
        .upload_image(real_product, &source, &fields, None, None)
        .await
        .unwrap();
    let modelled = model
        .upload_image(model_product, &source, &fields, None, None)
        .await
        .unwrap()
        .image;
    assert_eq!(name_of(&modelled), name_of(&real));
    assert_eq!(name_of(&real), slug("Blue Mug (front).JPG"));
    assert_eq!(
        (modelled.width, modelled.height, modelled.file_size),
        (real.width, real.height, real.file_size)
    );
    let shape = |image: &Image| -> Vec<usize> {
        image
            .image_file
            .split('/')
            .map(str::len)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shape(&modelled)[..2],
        shape(&real)[..2],
        "{{letter}}/{{3 digits}}/…"
    );
    for image in [&real, &modelled] {
        let url = image.thumbnail_url.as_deref().unwrap();
        assert!(url.ends_with(&format!("/product_images/thumbnail/{}", image.image_file)));
    }
}

// -- the model's own knobs ------------------------------------------------------------------------

fn url_write(name: &str) -> ImageWrite {
    ImageWrite {
        image_file: Some(format!("http://pictures.test/{name}.jpg")),
        description: Some(name.to_owned()),
        ..ImageWrite::default()
    }
}

#[tokio::test]
async fn a_repeated_key_replays_unless_the_store_ignores_keys() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    let first = store
        .create_image(product, &url_write("a"), Some("k1"))
        .await
        .unwrap();
    let again = store
        .create_image(product, &url_write("other"), Some("k1"))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(store.creates_applied(), 1);

    store.inject(CallKind::Create, Fault::IgnoreIdempotencyKey);
    store
        .create_image(product, &url_write("a"), Some("k1"))
        .await
        .unwrap();
    assert_eq!(store.creates_applied(), 2, "this one call ignored the key");
    store
        .create_image(product, &url_write("a"), Some("k1"))
        .await
        .unwrap();
    assert_eq!(store.creates_applied(), 2, "the next one honours it again");

    store.set_key_policy(KeyPolicy::Ignore);
    store
        .create_image(product, &url_write("a"), Some("k1"))
        .await
        .unwrap();
    assert_eq!(store.creates_applied(), 3);
    assert_eq!(
        store.created()[2].idempotency_key.as_deref(),
        Some("k1"),
        "the history keeps the key each create carried"
    );
}

#[tokio::test]
async fn faults_are_met_in_order_by_their_kind_of_call() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    store.inject(CallKind::Create, Fault::ServerError(502));
    store.inject(CallKind::Create, Fault::AnswerLost);
    store.inject(
        CallKind::Update,
        Fault::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
        },
    );

    // A list is not a create: it passes.
    assert!(
        store
            .list_all_images(product)
            .await
            .unwrap()
            .records
            .is_empty()
    );
    let refused = store.create_image(product, &url_write("a"), None).await;
    assert_eq!(refused.unwrap_err().status(), Some(502));
    assert!(
        store.images(product).is_empty(),
        "a 502 before the write applies nothing"
    );
    let lost = store.create_image(product, &url_write("a"), None).await;
    assert!(matches!(lost, Err(ApiError::Network(_))), "{lost:?}");
    let image = store.images(product).remove(0);
    assert_eq!(image.description, "a", "a lost answer's write is applied");

    let limited = store
        .update_image(product, image.id, &url_write("b"))
        .await
        .unwrap_err();
    assert!(matches!(
        limited,
        ApiError::Status {
            status: 429,
            retry_after: Some(wait),
            ..
        } if wait == Duration::from_secs(2)
    ));
    assert_eq!(store.requests(CallKind::Create), 2);
    assert_eq!(store.applied(CallKind::Create), 1);
    assert_eq!(store.requests(CallKind::Update), 1);
    assert_eq!(store.applied(CallKind::Update), 0);
    assert_eq!(store.pending_faults(), 0);

    store.inject_any(Fault::AppliedThenServerError(502));
    let proxy = store.delete_image(product, image.id).await;
    assert_eq!(proxy.unwrap_err().status(), Some(502));
    assert!(store.images(product).is_empty(), "applied, then the 502");

    store.set_reachable(false);
    store.inject_any(Fault::ServerError(500));
    assert!(matches!(
        store.list_all_products().await,
        Err(ApiError::Network(_))
    ));
    assert_eq!(
        store.pending_faults(),
        1,
        "a store that is down consumes no fault"
    );
}

#[tokio::test]
async fn a_slow_answer_is_applied_before_it_is_heard() {
    let store = Arc::new(MemoryStore::new());
    let product = store.add_product("Mug", "").id;
    store.inject(CallKind::Create, Fault::SlowAnswer(Duration::from_secs(30)));
    let call = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .create_image(product, &url_write("slow"), Some("k"))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.images(product).len(), 1);
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    assert_eq!(store.creates_applied(), 1);
}

#[tokio::test]
async fn other_clients_write_by_the_same_rules() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    let a = store
        .other_add(product, "http://x.test/a.jpg", "a", None)
        .unwrap();
    let b = store
        .other_add(product, "http://x.test/b.jpg", "b", None)
        .unwrap();
    let c = store
        .other_add(product, "http://x.test/c.jpg", "c", Some(0))
        .unwrap();
    let ids =
        |store: &MemoryStore| -> Vec<i64> { store.images(product).iter().map(|i| i.id).collect() };
    assert_eq!(ids(&store), [c.id, a.id, b.id]);
    store.other_reorder(product, &[b.id, c.id, a.id]).unwrap();
    assert_eq!(ids(&store), [b.id, c.id, a.id]);
    store.other_set_sort_order(product, a.id, 0).unwrap();
    assert_eq!(ids(&store), [a.id, b.id, c.id]);
    store.other_set_thumbnail(product, c.id).unwrap();
    store.other_describe(product, b.id, "bee").unwrap();
    let list = store.images(product);
    assert!(list[2].is_thumbnail && !list[0].is_thumbnail);
    assert_eq!(list[1].description, "bee");
    store.other_delete(product, c.id).unwrap();
    assert!(
        store.images(product)[0].is_thumbnail,
        "the flag moved to the first"
    );
    assert_eq!(
        store.creates_applied(),
        0,
        "other clients' adds are not the engine's"
    );
    assert_eq!(store.created().len(), 3);
    assert_eq!(store.requests(CallKind::Update), 0);
}

#[tokio::test]
async fn every_write_moves_date_modified_of_what_it_touched() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    let a = store
        .create_image(product, &url_write("a"), None)
        .await
        .unwrap()
        .image;
    let b = store
        .create_image(product, &url_write("b"), None)
        .await
        .unwrap()
        .image;
    let before = store.images(product);
    let to_front = ImageWrite {
        sort_order: Some(0),
        ..ImageWrite::default()
    };
    store.update_image(product, b.id, &to_front).await.unwrap();
    let after = store.images(product);
    let modified = |list: &[Image], id: i64| {
        list.iter()
            .find(|i| i.id == id)
            .and_then(|i| i.date_modified.clone())
    };
    assert_ne!(
        modified(&before, a.id),
        modified(&after, a.id),
        "a was shifted"
    );
    assert_ne!(modified(&before, b.id), modified(&after, b.id));
}

#[tokio::test]
async fn write_answers_may_leave_out_the_urls_as_real_stores_do() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    store.set_write_answers_carry_urls(false);
    let answer = store
        .create_image(product, &url_write("a"), None)
        .await
        .unwrap()
        .image;
    assert!(answer.thumbnail_url.is_none());
    assert!(store.images(product)[0].thumbnail_url.is_some());
}

#[tokio::test]
async fn assets_are_served_at_the_image_urls_only() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    let image = store
        .create_image(product, &url_write("a"), None)
        .await
        .unwrap()
        .image;
    let url = image.thumbnail_url.unwrap();
    let bytes = store.fetch_asset(&url, 1 << 20).await.unwrap();
    imagedesk::imaging::probe(&bytes).unwrap();
    assert!(store.fetch_asset(&url, 10).await.is_err(), "over max_bytes");
    assert_eq!(
        store
            .fetch_asset("http://memory-store.test/nothing", 1 << 20)
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
}

#[tokio::test]
async fn a_product_stops_at_the_image_limit() {
    let store = MemoryStore::new();
    let product = store.add_product("Mug", "").id;
    for i in 0..imagedesk::sync::memory_store::MAX_IMAGES_PER_PRODUCT {
        store
            .other_add(product, &format!("http://x.test/{i}.jpg"), "", None)
            .unwrap();
    }
    let refused = store
        .create_image(product, &url_write("one-more"), None)
        .await;
    assert_eq!(refused.unwrap_err().status(), Some(409));
}
