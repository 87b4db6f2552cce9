//! The `/api/v2` handlers and the file routes. Each handler checks in SPEC's order of precedence
//! (404, 413, 415, 400, 409; the guard did 401, 429 and 406 before, and the path extractors of
//! `path_ids.rs` judge the ids first), does slow work (downloads, decoding, file writes) before
//! opening its transaction, and keeps the transaction short.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, Request, State};
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HOST,
    IF_NONE_MATCH, LAST_MODIFIED, LOCATION, RANGE,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt as _;

use super::compat::Answer;
use super::error::{ApiError, ApiResult};
use super::faults::Injected;
use super::files::Copy;
use super::idempotency::{self, IDEMPOTENT_REPLAYED};
use super::input::{self, BodyKind, ImageSource, WriteFields};
use super::list_cache::ListKey;
use super::openapi::{ImageCreate, ImageUpdate, ImageUpload, ProductCreate};
use super::path_ids::{ExistingProduct, ImageId, ProductId};
use super::pictures;
use super::records::AsConn;
use super::repo::{
    self, ImageRow, PictureRow, ProductFilter, ProductRow, StoreProduct, StoredFile,
};
use super::state::AppState;
use super::storage::Files;
use crate::api::types::{Count, ErrorEntry, Image};
use crate::imaging::{self, ImageFormat, VARIANT_BOXES, Variant};

type Shared = State<Arc<AppState>>;

/// Request bodies above this are refused with 413 (an 8 MiB image plus multipart overhead).
pub const MAX_BODY_BYTES: usize = 9 * 1024 * 1024;
pub const MAX_IMAGES_PER_PRODUCT: i64 = 1000;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The base of the absolute `*_url` fields: `--public-url` when given (nodes behind a load
/// balancer or a CDN), else `http://host:port` as the client addressed the server.
pub struct BaseUrl(pub String);

impl FromRequestParts<Arc<AppState>> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(public) = &state.config.public_url {
            return Ok(BaseUrl(public.as_str().to_owned()));
        }
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
            .map_or_else(|| state.config.listen.to_string(), str::to_owned);
        Ok(BaseUrl(format!("http://{host}")))
    }
}

fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn require_image(state: &AppState, product_id: i64, image_id: i64) -> ApiResult<ImageRow> {
    repo::get_image(&mut state.records.read().await?, product_id, image_id)
        .await?
        .ok_or_else(ApiError::image_not_found)
}

/// Reads a body of at most [`MAX_BODY_BYTES`]: a declared length over it is refused before a
/// byte is read, and a streamed body is cut off as soon as it passes the limit.
async fn read_body(headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::payload_too_large(MAX_BODY_BYTES))
        }
        Err(e) => {
            Err(ApiError::bad_request("The request body could not be read.")
                .with_reason(e.to_string()))
        }
    }
}

fn json_response(status: StatusCode, body: String, location: Option<String>) -> Response {
    let mut response = (status, [(CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

fn to_json_string<T: serde::Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|e| ApiError::internal("could not encode JSON", e))
}

// ---------------------------------------------------------------------------------------------
// Products (imagedesk extension)

/// List products in id order, optionally only those whose name contains a text or that were
/// written since a date.
#[utoipa::path(get, path = "/products", tag = "products",
    params(("page" = Option<i64>, Query, description = "Page, from 1", minimum = 1, maximum = 4_294_967_295_i64),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 250 (default 50)", minimum = 1, maximum = 250),
           ("name" = Option<String>, Query, description = "Case-insensitive substring of the name"),
           ("min_date_modified" = Option<String>, Query, format = DateTime, description = "Only products whose date_modified is at or after this date (ISO 8601, as here, or RFC 2822)")),
    responses((status = 200, body = [StoreProduct]),
              (status = 204, description = "No product on this page (--compat bc-v2 only)"),
              (status = 400, body = [ErrorEntry])))]
pub async fn list_products(State(state): Shared, RawQuery(query): RawQuery) -> ApiResult<Response> {
    let pairs = query_pairs(query.as_deref());
    let paging = input::paging(&pairs)?;
    let name = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty());
    let filter = ProductFilter {
        name,
        min_date_modified: input::min_date_modified(&pairs)?,
    };
    let rows =
        repo::list_products(&mut state.records.read().await?, filter, paging.window()).await?;
    if rows.is_empty() && state.config.compat.empty_list_is_no_content() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let products: Vec<StoreProduct> = rows.into_iter().map(ProductRow::into_wire).collect();
    Ok(Json(products).into_response())
}

/// Create a product.
#[utoipa::path(post, path = "/products", tag = "products", request_body = ProductCreate,
    responses((status = 201, body = StoreProduct, headers(("Location" = String, description = "The new product"))),
              (status = 400, body = [ErrorEntry]), (status = 413, body = [ErrorEntry]),
              (status = 415, body = [ErrorEntry])))]
pub async fn create_product(
    State(state): Shared,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let body = read_body(&headers, body).await?;
    if input::body_kind(&headers) != BodyKind::Json {
        return Err(ApiError::unsupported_media_type());
    }
    let (name, sku) = input::parse_new_product(&body)?;
    let mut tx = state.records.write().await?;
    let id = repo::insert_product(&mut tx, &name, &sku, now()).await?;
    let row = repo::get_product(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::internal("create product", "row vanished"))?;
    tx.commit().await?;
    let body = to_json_string(&row.into_wire())?;
    Ok(json_response(
        StatusCode::CREATED,
        body,
        Some(format!("/api/v2/products/{id}.json")),
    ))
}

/// Count products.
#[utoipa::path(get, path = "/products/count", tag = "products", responses((status = 200, body = Count)))]
pub async fn count_products(State(state): Shared) -> ApiResult<Json<Count>> {
    let count = repo::count_products(&mut state.records.read().await?).await?;
    Ok(Json(Count {
        count: count.max(0) as u64,
    }))
}

/// Get one product.
#[utoipa::path(get, path = "/products/{product_id}", tag = "products",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1)),
    responses((status = 200, body = StoreProduct), (status = 404, body = [ErrorEntry])))]
pub async fn get_product(
    State(state): Shared,
    ProductId(id): ProductId,
) -> ApiResult<Json<StoreProduct>> {
    let row = repo::get_product(&mut state.records.read().await?, id)
        .await?
        .ok_or_else(ApiError::product_not_found)?;
    Ok(Json(row.into_wire()))
}

// ---------------------------------------------------------------------------------------------
// Images

/// Count the images of the whole store.
#[utoipa::path(get, path = "/products/images/count", tag = "images", responses((status = 200, body = Count)))]
pub async fn count_store_images(State(state): Shared) -> ApiResult<Json<Count>> {
    let count = repo::count_all_images(&mut state.records.read().await?).await?;
    Ok(Json(Count {
        count: count.max(0) as u64,
    }))
}

/// List a product's images in (`sort_order`, `id`) order (in id order with `--compat bc-v2`).
#[utoipa::path(get, path = "/products/{product_id}/images", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("page" = Option<i64>, Query, description = "Page, from 1", minimum = 1, maximum = 4_294_967_295_i64),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 250 (default 50)", minimum = 1, maximum = 250)),
    responses((status = 200, body = [Image]),
              (status = 204, description = "No image on this page (--compat bc-v2 only)"),
              (status = 400, body = [ErrorEntry]), (status = 404, body = [ErrorEntry])))]
pub async fn list_images(
    State(state): Shared,
    ProductId(product_id): ProductId,
    RawQuery(query): RawQuery,
    base: BaseUrl,
) -> ApiResult<Response> {
    // A well-formed request may be answered from the cache; anything else takes the full road
    // below, so errors come out exactly as they always did.
    let paging = input::paging(&query_pairs(query.as_deref()));
    let key = match &paging {
        Ok(paging) if state.config.cache_lists => {
            let window = paging.window();
            Some(ListKey {
                product_id,
                offset: window.offset,
                limit: window.limit,
                base_url: base.0.clone(),
            })
        }
        _ => None,
    };
    // Read before the page (see `list_cache.rs`); `None` when a shared database has no such
    // product: the road below answers that.
    let freshness = match &key {
        Some(_) => state.records.freshness(product_id).await?,
        None => None,
    };
    if let Some(body) = key
        .as_ref()
        .zip(freshness)
        .and_then(|(k, f)| state.lists.get(k, f))
    {
        return Ok(json_bytes(body));
    }
    let generation = state.lists.generation();
    let compat = state.config.compat;
    // A malformed page reads only the product, whose absence is reported first.
    let window = paging.as_ref().ok().map(|paging| paging.window());
    let rows = repo::image_page(&state.records, product_id, window, compat.list_order())
        .await
        .map_err(|e| ApiError::internal("database error", e))?
        .ok_or_else(ApiError::product_not_found)?;
    paging?;
    if rows.is_empty() && compat.empty_list_is_no_content() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let images: Vec<Image> = rows.iter().map(|r| r.to_wire(&base.0)).collect();
    let body = Bytes::from(
        compat
            .render_images(&images)
            .map_err(|e| ApiError::internal("rendering the list", e))?,
    );
    if let Some((key, freshness)) = key.zip(freshness) {
        state.lists.insert(key, generation, freshness, body.clone());
    }
    Ok(json_bytes(body))
}

/// A JSON body that is already rendered.
fn json_bytes(body: Bytes) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// Count a product's images.
#[utoipa::path(get, path = "/products/{product_id}/images/count", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1)),
    responses((status = 200, body = Count), (status = 404, body = [ErrorEntry])))]
pub async fn count_product_images(
    State(state): Shared,
    ExistingProduct(product_id): ExistingProduct,
) -> ApiResult<Json<Count>> {
    let count = repo::count_images(&mut state.records.read().await?, product_id).await?;
    Ok(Json(Count {
        count: count.max(0) as u64,
    }))
}

/// Get one image.
#[utoipa::path(get, path = "/products/{product_id}/images/{image_id}", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("image_id" = i64, Path, description = "Image id", minimum = 1, example = 1)),
    responses((status = 200, body = Image), (status = 404, body = [ErrorEntry])))]
pub async fn get_image(
    State(state): Shared,
    ExistingProduct(product_id): ExistingProduct,
    ImageId(image_id): ImageId,
    base: BaseUrl,
) -> ApiResult<Response> {
    let row = require_image(&state, product_id, image_id).await?;
    image_response(&state, StatusCode::OK, &row, &base, Answer::Read)
}

/// One image record, answered as this store (`--compat`) sends it.
fn image_response(
    state: &AppState,
    status: StatusCode,
    row: &ImageRow,
    base: &BaseUrl,
    answer: Answer,
) -> ApiResult<Response> {
    let body = state
        .config
        .compat
        .render_image(&row.to_wire(&base.0), answer)
        .map_err(|e| ApiError::internal("could not encode JSON", e))?;
    Ok(json_response(status, body, None))
}

/// Which API a create came through: what its body may be, and how it is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateVia {
    /// `POST /api/v2/products/{id}/images`: JSON, or multipart where the store takes it.
    V2,
    /// `POST /api/v3/catalog/products/{id}/images`: multipart only.
    V3,
}

/// A create's outcome, before it is answered in the shape of its API.
pub enum Created {
    /// A new record.
    New(ImageRow),
    /// A repeated `Idempotency-Key`: the first answer's status and (v2) body.
    Replayed { status: StatusCode, body: String },
}

impl Created {
    /// The image of a replayed answer, read back from its stored v2 body.
    pub fn replayed_image(body: &str) -> Option<Image> {
        serde_json::from_str::<Image>(body).ok()
    }
}

/// Create an image from a URL, an import-directory path (JSON) or an uploaded file (multipart
/// `image_file` part). Repeats with the same `Idempotency-Key` return the first response.
#[utoipa::path(post, path = "/products/{product_id}/images", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 200, pattern = "^[ -~]*$", description = "1-200 printable ASCII characters; a repeat within 24 h returns the first response (ignored with --compat bc-v2)")),
    request_body(content(
        (ImageCreate = "application/json"),
        (ImageUpload = "multipart/form-data")),
        description = "JSON, or multipart/form-data with the file in part `image_file` (refused with 415 under --compat bc-v2: use v3)"),
    responses((status = 201, body = Image, headers(("Location" = String, description = "The new image"),
                  ("Idempotency-Key" = String, description = "The request's key, echoed"),
                  ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"))),
              (status = 400, body = [ErrorEntry]), (status = 404, body = [ErrorEntry]),
              (status = 409, body = [ErrorEntry]), (status = 413, body = [ErrorEntry]),
              (status = 415, body = [ErrorEntry])))]
pub async fn create_image(
    State(state): Shared,
    ExistingProduct(product_id): ExistingProduct,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let location = |id: i64| Some(format!("/api/v2/products/{product_id}/images/{id}.json"));
    match create(&state, product_id, &base, &headers, body, CreateVia::V2).await? {
        Created::New(row) => {
            let mut response =
                image_response(&state, StatusCode::CREATED, &row, &base, Answer::Write)?;
            if let Some(value) = location(row.id).and_then(|l| HeaderValue::from_str(&l).ok()) {
                response.headers_mut().insert(LOCATION, value);
            }
            Ok(response)
        }
        Created::Replayed { status, body } => {
            let id = Created::replayed_image(&body).map(|i| i.id);
            let mut response = json_response(status, body, id.and_then(location));
            mark_replayed(&mut response);
            Ok(response)
        }
    }
}

/// `Idempotent-Replayed: true`, on an answer that repeats a key's first answer.
pub fn mark_replayed(response: &mut Response) {
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
}

/// The one road of every image create, v2 and v3: a repeated key's first answer before
/// anything else, then SPEC's checks in order (413, 415, 400, then 409 inside the
/// transaction), the picture stored before the transaction that applies the shift rule and the
/// thumbnail invariant.
pub async fn create(
    state: &Arc<AppState>,
    product_id: i64,
    base: &BaseUrl,
    headers: &HeaderMap,
    body: Body,
    via: CreateVia,
) -> ApiResult<Created> {
    // A BigCommerce store ignores the header, malformed or not.
    let key = if state.config.compat.honours_idempotency_keys() {
        idempotency::key(headers)
    } else {
        Ok(None)
    };
    // SPEC: a repeat gets the first answer "whatever the second body holds", so the key is
    // looked up before a byte of the body is read or judged. A malformed key is not looked up:
    // its 400 comes in SPEC's order, after 413 and 415.
    if let Ok(Some(key)) = &key
        && let Some(first) = first_answer(&mut state.records.read().await?, product_id, key).await?
    {
        return Ok(first);
    }
    let body = read_body(headers, body).await?;
    let accepts = match via {
        CreateVia::V2 if state.config.compat.v2_takes_multipart() => Accepts::JsonOrMultipart,
        CreateVia::V2 => Accepts::Json,
        CreateVia::V3 => Accepts::Multipart,
    };
    let kind = accepted_kind(headers, accepts)?;
    let key = key?;
    let fields = parse_body(kind, body).await?;
    check_product_id(&fields, product_id)?;
    let source = fields
        .image_file
        .ok_or_else(|| ApiError::invalid_field("image_file", "is required"))?;
    let prepared = store_picture(state, source).await?;

    let outcome = async {
        let mut tx = state.records.write_product(product_id).await?;
        let now = now();
        if let Some(key) = &key
            && let Some(first) = first_answer(&mut tx, product_id, key).await?
        {
            // The same key's first create committed while this one was storing its picture.
            return Ok(first);
        }
        let stored = prepared.record_in(&mut tx).await?;
        let new = repo::NewImage {
            product_id,
            file: &stored,
            sort_order: fields.sort_order,
            is_thumbnail: fields.is_thumbnail,
            description: fields.description.as_deref().unwrap_or_default(),
        };
        // The insert refuses a shift past the largest sort_order (400) before the count is
        // looked at (409), as SPEC orders them; either refusal rolls the insert back.
        let id = repo::insert_image(&mut tx, new, now).await?;
        let most = state.config.max_images_per_product;
        if repo::count_images(&mut tx, product_id).await? > most {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("The product already has {most} images, the most allowed."),
            ));
        }
        let row = repo::get_image(&mut tx, product_id, id)
            .await?
            .ok_or_else(|| ApiError::internal("create image", "row vanished"))?;
        if let Some(key) = &key {
            // The v2 answer is what a repeat replays, whichever API it comes through.
            let body = to_json_string(&row.to_wire(&base.0))?;
            repo::remember_idempotent(&mut tx, product_id, key, 201, id, &body, now).await?;
        }
        tx.commit().await?;
        Ok(Created::New(row))
    }
    .await;

    if matches!(outcome, Ok(Created::New(_))) {
        prepared.kept();
    } else {
        prepared.abandon().await;
    }
    outcome
}

/// The first answer to `key` on this product, if it was given within the key's window.
async fn first_answer(
    conn: &mut dyn AsConn,
    product_id: i64,
    key: &str,
) -> ApiResult<Option<Created>> {
    let since = now() - idempotency::WINDOW_SECS;
    let found = repo::find_idempotent(conn, product_id, key, since).await?;
    Ok(found.map(|(status, body)| {
        let status = u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::CREATED);
        Created::Replayed { status, body }
    }))
}

/// Update an image: `sort_order` (with the shift rule), `is_thumbnail`, `description`, or a new
/// `image_file` (URL or import path) that replaces the picture and keeps the record.
#[utoipa::path(put, path = "/products/{product_id}/images/{image_id}", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("image_id" = i64, Path, description = "Image id", minimum = 1, example = 1)),
    request_body = ImageUpdate,
    responses((status = 200, body = Image), (status = 400, body = [ErrorEntry]),
              (status = 404, body = [ErrorEntry]), (status = 413, body = [ErrorEntry]),
              (status = 415, body = [ErrorEntry])))]
pub async fn update_image(
    State(state): Shared,
    ExistingProduct(product_id): ExistingProduct,
    ImageId(image_id): ImageId,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let current = require_image(&state, product_id, image_id).await?;
    let body = read_body(&headers, body).await?;
    let fields = parse_write(&headers, body, Accepts::Json).await?;
    check_product_id(&fields, product_id)?;
    let new_source = match fields.image_file {
        Some(ImageSource::Reference(r)) if r == current.file.image_file => None,
        other => other,
    };
    let prepared = match new_source {
        Some(source) => Some(store_picture(&state, source).await?),
        None => None,
    };

    let result = async {
        let mut tx = state.records.write_product(product_id).await?;
        // Re-read inside the transaction: another writer may have moved or deleted it.
        let row = repo::get_image(&mut tx, product_id, current.id)
            .await?
            .ok_or_else(ApiError::image_not_found)?;
        let file = match &prepared {
            Some(prepared) => Some(prepared.record_in(&mut tx).await?),
            None => None,
        };
        let changes = repo::ImageChanges {
            sort_order: fields.sort_order,
            is_thumbnail: fields.is_thumbnail,
            description: fields.description,
            file,
        };
        let released = repo::update_image(&mut tx, &row, changes, now()).await?;
        let updated = repo::get_image(&mut tx, product_id, current.id)
            .await?
            .ok_or_else(|| ApiError::internal("update image", "row vanished"))?;
        tx.commit().await?;
        Ok::<_, ApiError>((released, updated))
    }
    .await;

    match result {
        Ok((released, updated)) => {
            // The new picture's lock goes first: the old one may share its stripe.
            if let Some(prepared) = prepared {
                prepared.kept();
            }
            if let Some(released) = released {
                pictures::release(&state, released).await;
            }
            image_response(&state, StatusCode::OK, &updated, &base, Answer::Write)
        }
        Err(err) => {
            if let Some(prepared) = prepared {
                prepared.abandon().await;
            }
            Err(err)
        }
    }
}

/// Delete one image.
#[utoipa::path(delete, path = "/products/{product_id}/images/{image_id}", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("image_id" = i64, Path, description = "Image id", minimum = 1, example = 1)),
    responses((status = 204), (status = 404, body = [ErrorEntry])))]
pub async fn delete_image(
    State(state): Shared,
    ExistingProduct(product_id): ExistingProduct,
    ImageId(image_id): ImageId,
) -> ApiResult<StatusCode> {
    let mut tx = state.records.write_product(product_id).await?;
    let released = repo::delete_image(&mut tx, product_id, image_id, now())
        .await?
        .ok_or_else(ApiError::image_not_found)?;
    tx.commit().await?;
    if let Some(released) = released {
        pictures::release(&state, released).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Delete all of a product's images, or only one page of them when `page` or `limit` is given.
#[utoipa::path(delete, path = "/products/{product_id}/images", tag = "images",
    params(("product_id" = i64, Path, description = "Product id", minimum = 1, example = 1),
           ("page" = Option<i64>, Query, description = "Only this page (in list order)", minimum = 1, maximum = 4_294_967_295_i64),
           ("limit" = Option<i64>, Query, description = "Page size, 1 to 250", minimum = 1, maximum = 250)),
    responses((status = 204), (status = 400, body = [ErrorEntry]), (status = 404, body = [ErrorEntry])))]
pub async fn delete_images(
    State(state): Shared,
    ExistingProduct(product_id): ExistingProduct,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    let paging = input::paging(&query_pairs(query.as_deref()))?;
    let window = paging.explicit.then(|| paging.window());
    let mut tx = state.records.write_product(product_id).await?;
    let order = state.config.compat.list_order();
    let released = repo::delete_images(&mut tx, product_id, window, order, now()).await?;
    tx.commit().await?;
    for released in released {
        pictures::release(&state, released).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The encodings a write may come in; any other is a 415.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepts {
    Json,
    JsonOrMultipart,
    Multipart,
}

async fn parse_write(headers: &HeaderMap, body: Bytes, accepts: Accepts) -> ApiResult<WriteFields> {
    let kind = accepted_kind(headers, accepts)?;
    parse_body(kind, body).await
}

/// The body's encoding if this write accepts it, else the 415 that says what it takes.
fn accepted_kind(headers: &HeaderMap, accepts: Accepts) -> ApiResult<BodyKind> {
    match (input::body_kind(headers), accepts) {
        (kind @ BodyKind::Json, Accepts::Json | Accepts::JsonOrMultipart)
        | (kind @ BodyKind::Multipart(_), Accepts::Multipart | Accepts::JsonOrMultipart) => {
            Ok(kind)
        }
        (BodyKind::Multipart(_), Accepts::Json) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "This resource takes application/json only; upload a local file as multipart/form-data \
             to POST /api/v3/catalog/products/{product_id}/images.",
        )),
        (_, Accepts::Multipart) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be multipart/form-data with the file in part 'image_file'.",
        )),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// The fields of a body whose encoding [`accepted_kind`] accepted.
async fn parse_body(kind: BodyKind, body: Bytes) -> ApiResult<WriteFields> {
    match kind {
        BodyKind::Json => input::parse_json_write(&body),
        BodyKind::Multipart(content_type) => {
            input::parse_multipart_write(&content_type, body).await
        }
        BodyKind::Other => Err(ApiError::unsupported_media_type()),
    }
}

fn check_product_id(fields: &WriteFields, product_id: i64) -> ApiResult<()> {
    match fields.product_id {
        Some(given) if given != product_id => Err(ApiError::invalid_field(
            "product_id",
            format!("{given} is not the product in the path ({product_id})"),
        )),
        _ => Ok(()),
    }
}

/// A picture ready to be named by a record: its files are on disk at its content address, and
/// its hash's lock is held (see `pictures.rs`) until the record commits ([`PreparedPicture::kept`])
/// or the files are cleaned up. Cleaning up is what happens unless `kept` was called: by
/// [`PreparedPicture::abandon`] after a write that failed, and by the drop of a picture whose
/// request was cut off between writing the files and committing its record (the client went
/// away): files no record will name are never left until the next start.
pub(super) struct PreparedPicture {
    picture: PictureRow,
    /// The source's file name, from which the stored `image_file` is made.
    source_name: String,
    /// `Some(image_file)`: the files are the image's own, already written under this name (a
    /// bucket, `storage::Files::Bucket`); `None`: stored by content.
    own_file: Option<String>,
    /// What a clean-up needs, until the picture is kept or cleaned up.
    pending: Option<PendingCleanup>,
}

/// The state to look the picture up in, and its hash's lock (pictures stored by content),
/// held until the clean-up is done.
struct PendingCleanup {
    state: Arc<AppState>,
    lock: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl PreparedPicture {
    /// Inside the write's transaction: the picture's row (inserted unless another image has
    /// it) and a fresh `image_file` for the new record.
    pub(super) async fn record_in(&self, conn: &mut dyn AsConn) -> ApiResult<StoredFile> {
        if let Some(image_file) = &self.own_file {
            // Named before its files were written; the name is random and was free then.
            if repo::image_file_taken(conn, image_file).await? {
                return Err(ApiError::internal(
                    "naming an image",
                    "the name given to the uploaded files was taken meanwhile",
                ));
            }
            return Ok(StoredFile {
                image_file: image_file.clone(),
                width: self.picture.width,
                height: self.picture.height,
                file_size: self.picture.file_size,
                picture_id: None,
                perceptual_hash: self.picture.perceptual_hash,
            });
        }
        let picture_id = repo::upsert_picture(conn, &self.picture).await?;
        for _ in 0..8 {
            let image_file = super::naming::image_file(&self.source_name, &self.picture.extension);
            if !repo::image_file_taken(conn, &image_file).await? {
                return Ok(StoredFile {
                    image_file,
                    width: self.picture.width,
                    height: self.picture.height,
                    file_size: self.picture.file_size,
                    picture_id: Some(picture_id),
                    perceptual_hash: self.picture.perceptual_hash,
                });
            }
        }
        Err(ApiError::internal(
            "naming an image",
            "no free name after 8 tries",
        ))
    }

    fn new(
        state: &Arc<AppState>,
        picture: PictureRow,
        source_name: String,
        lock: tokio::sync::OwnedMutexGuard<()>,
    ) -> Self {
        Self {
            picture,
            source_name,
            own_file: None,
            pending: Some(PendingCleanup {
                state: state.clone(),
                lock: Some(lock),
            }),
        }
    }

    /// A picture whose files are written under the image's own `image_file` (a bucket).
    fn own(state: &Arc<AppState>, picture: PictureRow, image_file: String) -> Self {
        Self {
            picture,
            source_name: String::new(),
            own_file: Some(image_file),
            pending: Some(PendingCleanup {
                state: state.clone(),
                lock: None,
            }),
        }
    }

    /// After the write that names the picture committed: the files stay, the lock goes.
    pub(super) fn kept(mut self) {
        self.pending = None;
    }

    /// After a write that did not commit: removes the files unless a committed record uses
    /// them, then lets the lock go.
    pub(super) async fn abandon(mut self) {
        if let Some(cleanup) = self.clean_up() {
            // The clean-up is a task of its own, so that it finishes even if this request is
            // cut off while waiting for it.
            let _ = cleanup.await;
        }
    }

    /// Starts removing the files (unless a committed record uses them) under the hash's lock.
    fn clean_up(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let PendingCleanup { state, lock } = self.pending.take()?;
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        if let Some(image_file) = self.own_file.clone() {
            return Some(runtime.spawn(async move {
                pictures::remove_own_files_if_unnamed(&state, image_file).await;
            }));
        }
        let (hash, extension) = (self.picture.hash.clone(), self.picture.extension.clone());
        Some(runtime.spawn(async move {
            pictures::remove_if_unused(&state, &hash, &extension).await;
            drop(lock);
        }))
    }
}

impl Drop for PreparedPicture {
    fn drop(&mut self) {
        // Neither kept nor abandoned: the request was dropped before its record committed.
        let _ = self.clean_up();
    }
}

/// Fetches or reads the picture and stores it by content: bytes already stored are only
/// looked up (no decoding, no file written); new ones are validated and resized off the async
/// threads and their original and variants written at their content address. Every refusal is
/// a 400 on `image_file`.
pub(super) async fn store_picture(
    state: &Arc<AppState>,
    source: ImageSource,
) -> ApiResult<PreparedPicture> {
    let (bytes, source_name) = match source {
        ImageSource::Upload { filename, bytes } => (bytes, filename.unwrap_or_default()),
        ImageSource::Reference(reference) => {
            let (bytes, name) = load_reference(state, &reference).await?;
            (Bytes::from(bytes), name)
        }
    };
    let files = match &state.files {
        Files::Local(files) => files.clone(),
        Files::Bucket(_) => return store_in_bucket(state, bytes, &source_name).await,
    };
    let hashed = bytes.clone();
    let hash = tokio::task::spawn_blocking(move || pictures::content_hash(&hashed))
        .await
        .map_err(|e| ApiError::internal("hashing a picture", e))?;
    let lock = state.picture_locks.lock(&hash).await;
    let known = repo::picture_by_hash(&mut state.records.read().await?, &hash).await?;
    // A record names these bytes but their files went missing: the files written below are
    // needed whatever becomes of this request.
    let repairing = known.is_some();
    if let Some(mut picture) = known
        && files.has_content(&picture.hash, &picture.extension)
    {
        if picture.perceptual_hash.is_none() {
            // Stored before hashes were kept (migration 0004): hashed now, once (a small
            // decode), and kept on the picture's row by `record_in`.
            picture.perceptual_hash = tokio::task::spawn_blocking(move || perceptual_bits(&bytes))
                .await
                .map_err(|e| ApiError::internal("hashing a picture", e))?;
        }
        return Ok(PreparedPicture::new(state, picture, source_name, lock));
    }
    let permit = state
        .imaging_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal("imaging permits", e))?;
    let cancel = imaging::Cancel::never();
    // Dropping this handler (the client went away) raises the flag; the work stops at its next
    // step and leaves no file behind.
    let cancel_on_drop = cancel.on_drop();
    // The permit and the hash's lock travel with the work, not with this future: a dropped
    // handler must not let more decodes run than there are permits, nor let another upload of
    // the same bytes see files that the cancelled work is about to remove.
    let (picture, lock) = tokio::task::spawn_blocking(move || {
        let picture = make_picture_files(&files, &bytes, hash, &cancel, repairing);
        drop(permit);
        (picture, lock)
    })
    .await
    .map_err(|e| ApiError::internal("image processing task", e))?;
    cancel_on_drop.disarm();
    Ok(PreparedPicture::new(state, picture?, source_name, lock))
}

/// Validates and resizes an original and writes its files at its content address, unless
/// `cancel` is raised first. Runs on a blocking thread that holds the hash's lock.
fn make_picture_files(
    files: &super::files::FileStore,
    bytes: &[u8],
    hash: String,
    cancel: &imaging::Cancel,
    repairing: bool,
) -> ApiResult<PictureRow> {
    let (picture, variants) = process_picture(bytes, hash, cancel)?;
    files
        .write_content(&picture.hash, &picture.extension, bytes, &variants)
        .map_err(|e| ApiError::internal("could not write image files", e))?;
    if cancel.is_cancelled() && !repairing {
        // Cancelled while writing: no record will name these files, and none named the hash
        // when we looked under the lock we still hold, so no other image shares them.
        files.remove_content(&picture.hash, &picture.extension);
        return Err(refused_picture(imaging::ImagingError::Cancelled));
    }
    Ok(picture)
}

fn refused_picture(e: imaging::ImagingError) -> ApiError {
    ApiError::invalid_field("image_file", e.to_string())
}

/// Validates and resizes an original: its row (`hash` as given) and its variants in
/// `Variant::ALL` order. Runs on a blocking thread.
fn process_picture(
    bytes: &[u8],
    hash: String,
    cancel: &imaging::Cancel,
) -> ApiResult<(PictureRow, Vec<imaging::EncodedImage>)> {
    let boxes = VARIANT_BOXES.map(|(_, b)| b);
    let processed = imaging::make_variants_until(bytes, &boxes, cancel).map_err(refused_picture)?;
    let picture = PictureRow {
        id: 0,
        hash,
        extension: processed.probe.format.extension().to_owned(),
        width: i64::from(processed.oriented.0),
        height: i64::from(processed.oriented.1),
        file_size: bytes.len() as i64,
        perceptual_hash: perceptual_bits(bytes),
    };
    Ok((picture, processed.variants))
}

/// Stores an upload in a bucket: validated and resized off the async threads, named, and its
/// original and variants uploaded as the image's own objects (no content addressing: nodes
/// would need a lock between them to share objects safely). A request dropped from here on
/// removes what it uploaded (`PreparedPicture`'s clean-up).
async fn store_in_bucket(
    state: &Arc<AppState>,
    bytes: Bytes,
    source_name: &str,
) -> ApiResult<PreparedPicture> {
    let Files::Bucket(bucket) = &state.files else {
        return Err(ApiError::internal("storing a picture", "not a bucket"));
    };
    let permit = state
        .imaging_permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal("imaging permits", e))?;
    let cancel = imaging::Cancel::never();
    let cancel_on_drop = cancel.on_drop();
    let original = bytes.clone();
    let processed = tokio::task::spawn_blocking(move || {
        let processed = process_picture(&original, String::new(), &cancel);
        drop(permit);
        processed
    })
    .await
    .map_err(|e| ApiError::internal("image processing task", e))?;
    cancel_on_drop.disarm();
    let (picture, variants) = processed?;
    let mut image_file = None;
    for _ in 0..8 {
        let name = super::naming::image_file(source_name, &picture.extension);
        if !repo::image_file_taken(&mut state.records.read().await?, &name).await? {
            image_file = Some(name);
            break;
        }
    }
    let image_file = image_file
        .ok_or_else(|| ApiError::internal("naming an image", "no free name after 8 tries"))?;
    let format = ImageFormat::from_extension(&picture.extension)
        .ok_or_else(|| ApiError::internal("storing a picture", "unknown extension"))?;
    let prepared = PreparedPicture::own(state, picture, image_file.clone());
    bucket
        .write_set(&image_file, bytes, format, &variants)
        .await
        .map_err(|e| ApiError::internal("could not write image files", e))?;
    Ok(prepared)
}

/// The picture's perceptual hash as stored (issue 16: clients find duplicates with it and
/// download nothing). A picture that decoded for its variants but cannot be hashed is still
/// stored, without one: clients then compute it from a variant themselves.
fn perceptual_bits(bytes: &[u8]) -> Option<i64> {
    match imaging::perceptual_hash(bytes) {
        Ok(hash) => Some(hash.to_i64()),
        Err(err) => {
            tracing::warn!("no perceptual hash for an upload: {err}");
            None
        }
    }
}

async fn load_reference(state: &AppState, reference: &str) -> ApiResult<(Vec<u8>, String)> {
    let refused = |reason: String| ApiError::invalid_field("image_file", reason);
    let lower = reference.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let (bytes, final_url) = state
            .fetcher
            .fetch(reference)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let name = final_url
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .unwrap_or_default();
        let name = percent_encoding::percent_decode_str(&name)
            .decode_utf8_lossy()
            .into_owned();
        return Ok((bytes, name));
    }
    if reference.contains("://") {
        return Err(refused("only http and https URLs can be fetched".into()));
    }
    let path = input::resolve_import_path(state.config.import_dir.as_deref(), reference)
        .map_err(refused)?;
    let size = tokio::fs::metadata(&path)
        .await
        .map_err(|e| refused(format!("'{reference}' could not be read: {e}")))?
        .len();
    if size > imaging::MAX_FILE_BYTES as u64 {
        return Err(refused(format!(
            "'{reference}' is {size} bytes; at most {} bytes are accepted",
            imaging::MAX_FILE_BYTES
        )));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| refused(format!("'{reference}' could not be read: {e}")))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((bytes, name))
}

// ---------------------------------------------------------------------------------------------
// Files and operations (no credentials)

/// `GET /product_images/{image_file}` (original) and `/product_images/{variant}/{image_file}`.
pub async fn serve_image_file(
    State(state): Shared,
    Path(path): Path<String>,
    request: Request,
) -> ApiResult<Response> {
    let (copy, image_file) = match path.split_once('/') {
        Some((first, rest)) => match Variant::parse(first) {
            Some(variant) => (Copy::Variant(variant), rest),
            None => (Copy::Original, path.as_str()),
        },
        None => (Copy::Original, path.as_str()),
    };
    let format = image_file
        .rsplit_once('.')
        .and_then(|(_, ext)| ImageFormat::from_extension(ext))
        .ok_or_else(ApiError::route_not_found)?;
    let format = match copy {
        Copy::Original => format,
        Copy::Variant(_) => format.variant_format(),
    };
    if state.config.redirect_images
        && let Some(public) = &state.config.public_url
    {
        // The bucket or the CDN at `--public-url` serves the same paths (`bucket.rs`).
        return Ok(redirect_to_public(public, &path));
    }
    let files = match &state.files {
        Files::Local(files) => files,
        Files::Bucket(bucket) => {
            let wanted = wanted_of(&request);
            return serve_object(bucket, copy, image_file, format, wanted).await;
        }
    };
    let stored = repo::picture_of(&mut state.records.read().await?, image_file).await?;
    let file = match stored {
        Some(Some((hash, extension))) => files.content_path(copy, &hash, &extension),
        // An image of the legacy layout, or a name no record has (a 404 below).
        Some(None) | None => files.path_of(copy, image_file),
    }
    .ok_or_else(ApiError::route_not_found)?;
    // Streamed from disk in chunks, with ranges (206) and conditional requests: a download
    // never holds the whole file in memory, however slowly its client reads (issue 14).
    let served = tower::ServiceExt::oneshot(tower_http::services::ServeFile::new(&file), request)
        .await
        .map_err(|_| ApiError::route_not_found())?;
    if served.status() == StatusCode::NOT_FOUND {
        return Err(ApiError::route_not_found());
    }
    let mut response = served.map(Body::new);
    let headers = response.headers_mut();
    // The format the name says, as before, not a guess from the stored file's extension.
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(format.mime()));
    // Stored names are never reused, so a copy never changes.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(response)
}

/// `307` to the same path under `--public-url` (`serve --redirect-images`).
fn redirect_to_public(public: &super::PublicUrl, path: &str) -> Response {
    let target = format!("{}/product_images/{path}", public.as_str());
    match HeaderValue::from_str(&target) {
        Ok(location) => (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, location)]).into_response(),
        Err(_) => ApiError::route_not_found().into_response(),
    }
}

/// Stored names are never reused, so a copy never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// What a file request asks of a copy in the bucket: a range, a check of its `ETag`, or only
/// its headers.
fn wanted_of(request: &Request) -> super::bucket::Wanted {
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    super::bucket::Wanted {
        range: header(RANGE).and_then(super::bucket::requested_range),
        if_none_match: header(IF_NONE_MATCH).map(str::to_owned),
        head: request.method() == axum::http::Method::HEAD,
    }
}

/// One copy from the bucket, or the one range asked for (`206`, `416` past its end), streamed
/// as it arrives (never held whole), with its length, and its `ETag` and `Last-Modified` as
/// the bucket reports them (`304` to an `If-None-Match` that names it; `HEAD` reads no body).
async fn serve_object(
    bucket: &super::bucket::Bucket,
    copy: Copy,
    image_file: &str,
    format: ImageFormat,
    wanted: super::bucket::Wanted,
) -> ApiResult<Response> {
    use super::bucket::Fetched;
    let ranged = wanted.range.is_some();
    let etag_asked = wanted.if_none_match.clone();
    let found = match bucket
        .get(copy, image_file, wanted)
        .await
        .map_err(|e| ApiError::internal("could not read the picture from the bucket", e))?
    {
        Fetched::Found(found) => found,
        Fetched::Missing => return Err(ApiError::route_not_found()),
        Fetched::NotModified => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            let headers = response.headers_mut();
            // The one `ETag` asked about is the object's.
            let single = etag_asked.filter(|e| !e.contains(',') && e.trim() != "*");
            if let Some(etag) = single.and_then(|e| HeaderValue::from_str(&e).ok()) {
                headers.insert(ETAG, etag);
            }
            headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
            return Ok(response);
        }
        Fetched::Unsatisfiable { size } => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    let meta = found.meta.clone();
    let held = found.range.clone();
    let mut response = Response::new(Body::from_stream(found.into_stream()));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(format.mime()));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(held.end - held.start));
    if ranged {
        let value = format!(
            "bytes {}-{}/{}",
            held.start,
            held.end.saturating_sub(1),
            meta.size
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(CONTENT_RANGE, value);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let headers = response.headers_mut();
    if let Some(etag) = meta.e_tag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        headers.insert(ETAG, etag);
    }
    let modified = meta
        .last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(modified) = HeaderValue::from_str(&modified) {
        headers.insert(LAST_MODIFIED, modified);
    }
    Ok(response)
}

pub async fn metrics_text(State(state): Shared) -> Response {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.encode(),
    )
        .into_response()
}

/// Turns any error response that is not JSON yet (an extractor's plain-text rejection, say)
/// into the v2 error array, so that every error a client sees has one shape.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.extensions().get::<Injected>().is_some() {
        // A fault from `--faults` imitates a proxy's answer or a dropped connection: as it is.
        return response;
    }
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let mut error = ApiError::new(
        status,
        status.canonical_reason().unwrap_or("Error").to_owned(),
    );
    if !detail.is_empty() {
        error = error.with_reason(detail);
    }
    let mut rebuilt = error.into_response();
    for (name, value) in parts.headers {
        if let Some(name) = name
            && name != CONTENT_TYPE
            && name != CONTENT_LENGTH
        {
            rebuilt.headers_mut().insert(name, value);
        }
    }
    rebuilt
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::imaging::synthetic;

    fn files_under(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => files_under(&e.path()),
                Ok(_) => 1,
                Err(_) => 0,
            })
            .sum()
    }

    async fn stored(state: &Arc<AppState>, name: &str) -> PreparedPicture {
        let bytes = synthetic::jpeg(&synthetic::photo(64, 48, 7), 85, false, None);
        let source = ImageSource::Upload {
            filename: Some(name.to_owned()),
            bytes: Bytes::from(bytes),
        };
        store_picture(state, source).await.unwrap()
    }

    /// A request cut off after its picture's files were written and before its record
    /// committed (the client went away) leaves no file behind, without waiting for a restart.
    #[tokio::test]
    async fn a_picture_dropped_before_its_record_commits_leaves_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(
            AppState::open(&super::super::Config::local(dir.path(), "t"))
                .await
                .unwrap(),
        );
        let content = dir.path().join("images").join("content");
        let prepared = stored(&state, "a.jpg").await;
        assert_eq!(files_under(&content), 5, "the original and four variants");
        drop(prepared);
        let started = Instant::now();
        while files_under(&content) > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the files of a dropped picture are still there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A kept one stays (here no record names it: the next start would sweep it).
        stored(&state, "b.jpg").await.kept();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(files_under(&content), 5);
    }
}
