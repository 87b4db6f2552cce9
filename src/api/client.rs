//! The async API client. It speaks to imagedesk's own server and to a real BigCommerce v2 store:
//! it sorts lists itself, reads 204 as an empty list, tolerates missing extension fields, waits
//! as 429 responses ask, and retries only idempotent requests (GET, PUT, DELETE) after connection
//! errors and 5xx answers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::error::ApiError;
use super::reorder::{self, SortWrite};
use super::types::{
    Count, Created, Image, ImageWrite, Listing, NewProduct, Page, Product, UploadRoute,
};

/// How the client authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// `X-Auth-Token: token`.
    Token(String),
    /// HTTP Basic `username:token`, as v2 stores did.
    Basic { username: String, token: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token.
        match self {
            Credentials::Token(_) => f.write_str("Token(…)"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}:…)"),
        }
    }
}

/// Retries and waits. The defaults suit an interactive app; tests shorten them.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Extra attempts of an idempotent request after a connection error or a 5xx.
    pub max_retries: u32,
    /// First back-off delay; doubled on each retry, with jitter.
    pub base_delay: Duration,
    /// How many 429 answers to wait out before giving up.
    pub max_rate_limit_waits: u32,
    /// The longest wait a 429 may ask for before the client gives up instead.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_rate_limit_waits: 5,
            max_rate_limit_wait: Duration::from_secs(60),
        }
    }
}

/// Where an upload's bytes come from.
#[derive(Debug, Clone)]
pub enum UploadSource {
    Path(PathBuf),
    Bytes { file_name: String, bytes: Bytes },
}

impl UploadSource {
    /// The file name the store will see, and the bytes.
    pub async fn read(&self) -> Result<(String, Bytes), ApiError> {
        match self {
            UploadSource::Bytes { file_name, bytes } => Ok((file_name.clone(), bytes.clone())),
            UploadSource::Path(path) => {
                let bytes = tokio::fs::read(path).await.map_err(|e| ApiError::File {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "image".to_owned());
                Ok((name, Bytes::from(bytes)))
            }
        }
    }
}

/// Called with (bytes sent, total bytes) while an upload streams.
pub type Progress = Arc<dyn Fn(u64, u64) + Send + Sync>;

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// For picture URLs: they may point at a CDN, which must never see the store's credentials.
    assets: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
}

/// A request body that can be rebuilt for each attempt.
enum Payload<'a> {
    None,
    Json(Vec<u8>),
    Upload {
        source: &'a UploadSource,
        fields: &'a ImageWrite,
        progress: Option<Progress>,
    },
}

impl Client {
    /// A client for the API at `base_url` (e.g. `http://127.0.0.1:8080/api/v2`).
    pub fn new(base_url: &str, credentials: Credentials) -> Result<Client, ApiError> {
        Self::with_options(
            base_url,
            credentials,
            Duration::from_secs(30),
            RetryPolicy::default(),
        )
    }

    pub fn with_options(
        base_url: &str,
        credentials: Credentials,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Client, ApiError> {
        let invalid = || ApiError::InvalidUrl(base_url.to_owned());
        let mut base = Url::parse(base_url).map_err(|_| invalid())?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid());
        }
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let (name, value) = match &credentials {
            Credentials::Token(token) => ("x-auth-token", token.clone()),
            Credentials::Basic { username, token } => (
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"))
                ),
            ),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            ApiError::InvalidUrl("the token contains characters a header cannot carry".into())
        })?;
        value.set_sensitive(true);
        headers.insert(
            if name == "authorization" {
                AUTHORIZATION
            } else {
                reqwest::header::HeaderName::from_static("x-auth-token")
            },
            value,
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("imagedesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let assets = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("imagedesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Network(e.to_string()))?;
        Ok(Client {
            http,
            assets,
            base,
            retry,
        })
    }

    /// The API root this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, ApiError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|_| ApiError::InvalidUrl(format!("{}{path}", self.base)))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    // -- products ------------------------------------------------------------------------------

    pub async fn list_products(
        &self,
        page: Page,
        name: Option<&str>,
    ) -> Result<Vec<Product>, ApiError> {
        let mut query = page_query(page);
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            query.push(("name", name.to_owned()));
        }
        self.get_list("products.json", &query).await
    }

    /// Every product, page by page.
    pub async fn list_all_products(&self) -> Result<Vec<Product>, ApiError> {
        let mut all = Vec::new();
        for page in 1.. {
            let batch = self
                .list_products(Page::new(page, Page::MAX_LIMIT), None)
                .await?;
            let done = batch.len() < Page::MAX_LIMIT as usize;
            all.extend(batch);
            if done {
                break;
            }
        }
        Ok(all)
    }

    pub async fn get_product(&self, product_id: i64) -> Result<Product, ApiError> {
        self.get_json(&format!("products/{product_id}.json"), &[])
            .await
    }

    pub async fn count_products(&self) -> Result<u64, ApiError> {
        let count: Count = self.get_json("products/count.json", &[]).await?;
        Ok(count.count)
    }

    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, ApiError> {
        let body = serde_json::to_vec(product).map_err(|e| ApiError::Decode(e.to_string()))?;
        let response = self
            .send(
                Method::POST,
                self.url("products.json", &[])?,
                Payload::Json(body),
                None,
            )
            .await?;
        decode(response).await
    }

    // -- images --------------------------------------------------------------------------------

    /// One page of a product's images, in list order (`sort_order`, `id`).
    pub async fn list_images(&self, product_id: i64, page: Page) -> Result<Vec<Image>, ApiError> {
        let mut images: Vec<Image> = self
            .get_list(
                &format!("products/{product_id}/images.json"),
                &page_query(page),
            )
            .await?;
        images.sort_by_key(|i| (i.sort_order, i.id));
        Ok(images)
    }

    /// Every image of a product, in list order.
    pub async fn list_all_images(&self, product_id: i64) -> Result<Vec<Image>, ApiError> {
        let mut all = Vec::new();
        for page in 1.. {
            let batch = self
                .list_images(product_id, Page::new(page, Page::MAX_LIMIT))
                .await?;
            let done = batch.len() < Page::MAX_LIMIT as usize;
            all.extend(batch);
            if done {
                break;
            }
        }
        all.sort_by_key(|i| (i.sort_order, i.id));
        Ok(all)
    }

    pub async fn get_image(&self, product_id: i64, image_id: i64) -> Result<Image, ApiError> {
        self.get_json(
            &format!("products/{product_id}/images/{image_id}.json"),
            &[],
        )
        .await
    }

    pub async fn count_images(&self, product_id: i64) -> Result<u64, ApiError> {
        let count: Count = self
            .get_json(&format!("products/{product_id}/images/count.json"), &[])
            .await?;
        Ok(count.count)
    }

    /// Images in the whole store.
    pub async fn count_store_images(&self) -> Result<u64, ApiError> {
        let count: Count = self.get_json("products/images/count.json", &[]).await?;
        Ok(count.count)
    }

    /// Creates an image from a URL or an import-directory path in `write.image_file`.
    pub async fn create_image(
        &self,
        product_id: i64,
        write: &ImageWrite,
        idempotency_key: Option<&str>,
    ) -> Result<Image, ApiError> {
        Ok(self.create(product_id, write, idempotency_key).await?.image)
    }

    /// [`Client::create_image`], also saying whether the store echoed the key.
    pub async fn create(
        &self,
        product_id: i64,
        write: &ImageWrite,
        idempotency_key: Option<&str>,
    ) -> Result<Created, ApiError> {
        let body = serde_json::to_vec(write).map_err(|e| ApiError::Decode(e.to_string()))?;
        let url = self.url(&format!("products/{product_id}/images.json"), &[])?;
        let response = self
            .send(Method::POST, url, Payload::Json(body), idempotency_key)
            .await?;
        let key_echoed = key_echoed(response.headers(), idempotency_key);
        Ok(Created {
            image: decode(response).await?,
            key_echoed,
        })
    }

    /// Every product, read leniently (see [`Listing`]).
    pub async fn read_products(&self) -> Result<Listing<Product>, ApiError> {
        Ok(Listing::complete(self.list_all_products().await?))
    }

    /// Every image of a product, in list order, read leniently (see [`Listing`]).
    pub async fn read_images(&self, product_id: i64) -> Result<Listing<Image>, ApiError> {
        Ok(Listing::complete(self.list_all_images(product_id).await?))
    }

    /// How this store takes local files.
    pub async fn upload_route(&self, _product_id: i64) -> Result<UploadRoute, ApiError> {
        Ok(UploadRoute::V2Multipart)
    }

    /// A cheap check that the store answers.
    pub async fn probe(&self) -> Result<(), ApiError> {
        self.count_store_images().await.map(|_| ())
    }

    /// Uploads a local file (multipart, part `image_file`), calling `progress` as bytes go out.
    /// `fields.image_file` is ignored: the file is the picture.
    pub async fn upload_image(
        &self,
        product_id: i64,
        source: &UploadSource,
        fields: &ImageWrite,
        idempotency_key: Option<&str>,
        progress: Option<Progress>,
    ) -> Result<Image, ApiError> {
        Ok(self
            .upload(product_id, source, fields, idempotency_key, progress)
            .await?
            .image)
    }

    /// [`Client::upload_image`], also saying whether the store echoed the key.
    pub async fn upload(
        &self,
        product_id: i64,
        source: &UploadSource,
        fields: &ImageWrite,
        idempotency_key: Option<&str>,
        progress: Option<Progress>,
    ) -> Result<Created, ApiError> {
        let url = self.url(&format!("products/{product_id}/images.json"), &[])?;
        let payload = Payload::Upload {
            source,
            fields,
            progress,
        };
        let response = self
            .send(Method::POST, url, payload, idempotency_key)
            .await?;
        let key_echoed = key_echoed(response.headers(), idempotency_key);
        Ok(Created {
            image: decode(response).await?,
            key_echoed,
        })
    }

    pub async fn update_image(
        &self,
        product_id: i64,
        image_id: i64,
        write: &ImageWrite,
    ) -> Result<Image, ApiError> {
        let body = serde_json::to_vec(write).map_err(|e| ApiError::Decode(e.to_string()))?;
        let url = self.url(
            &format!("products/{product_id}/images/{image_id}.json"),
            &[],
        )?;
        let response = self
            .send(Method::PUT, url, Payload::Json(body), None)
            .await?;
        decode(response).await
    }

    pub async fn delete_image(&self, product_id: i64, image_id: i64) -> Result<(), ApiError> {
        let url = self.url(
            &format!("products/{product_id}/images/{image_id}.json"),
            &[],
        )?;
        self.send(Method::DELETE, url, Payload::None, None).await?;
        Ok(())
    }

    /// Deletes every image of a product, or only one page of them (in list order).
    pub async fn delete_all_images(
        &self,
        product_id: i64,
        page: Option<Page>,
    ) -> Result<(), ApiError> {
        let query = page.map(page_query).unwrap_or_default();
        let url = self.url(&format!("products/{product_id}/images.json"), &query)?;
        self.send(Method::DELETE, url, Payload::None, None).await?;
        Ok(())
    }

    /// Downloads a picture from one of an image's `*_url` fields, without the store's
    /// credentials, refusing more than `max_bytes`.
    pub async fn fetch_asset(&self, url: &str, max_bytes: usize) -> Result<Bytes, ApiError> {
        let parsed = Url::parse(url).map_err(|_| ApiError::InvalidUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::InvalidUrl(url.to_owned()));
        }
        let mut response = self
            .assets
            .get(parsed)
            .send()
            .await
            .map_err(|e| ApiError::Network(error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ApiError::Status {
                status: status.as_u16(),
                message: format!("the picture at {url} could not be fetched"),
                invalid_reason: None,
                retry_after: retry_after(response.headers()),
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ApiError::Network(error_chain(&e)))?
        {
            if body.len() + chunk.len() > max_bytes {
                return Err(ApiError::Decode(format!(
                    "the picture at {url} is larger than {max_bytes} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    // -- reordering ----------------------------------------------------------------------------

    /// Sends a planned series of `sort_order` writes, in order.
    pub async fn apply_sort_writes(
        &self,
        product_id: i64,
        writes: &[SortWrite],
    ) -> Result<(), ApiError> {
        for write in writes {
            let change = ImageWrite {
                sort_order: Some(write.sort_order),
                ..ImageWrite::default()
            };
            self.update_image(product_id, write.image_id, &change)
                .await?;
        }
        Ok(())
    }

    /// Makes the product's images appear in `desired` order with the fewest PUTs, then re-reads
    /// the list to check it. Returns the number of PUTs sent.
    pub async fn reorder(&self, product_id: i64, desired: &[i64]) -> Result<usize, ApiError> {
        let current = self.list_all_images(product_id).await?;
        let pairs: Vec<(i64, i64)> = current.iter().map(|i| (i.id, i.sort_order)).collect();
        let plan = reorder::plan_reorder(&pairs, desired)?;
        self.apply_sort_writes(product_id, &plan).await?;
        let actual: Vec<i64> = self
            .list_all_images(product_id)
            .await?
            .iter()
            .map(|i| i.id)
            .collect();
        if actual != desired {
            return Err(ApiError::OrderMismatch {
                expected: desired.to_vec(),
                actual,
            });
        }
        Ok(plan.len())
    }

    // -- transport -----------------------------------------------------------------------------

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        let response = self
            .send(Method::GET, self.url(path, query)?, Payload::None, None)
            .await?;
        decode(response).await
    }

    /// A list: 204 No Content (what v2 stores answer for an empty list) is an empty list.
    async fn get_list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ApiError> {
        let response = self
            .send(Method::GET, self.url(path, query)?, Payload::None, None)
            .await?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| ApiError::Network(e.to_string()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// Sends a request, retrying as the policy allows, and turns refusals into [`ApiError`].
    async fn send(
        &self,
        method: Method,
        url: Url,
        payload: Payload<'_>,
        idempotency_key: Option<&str>,
    ) -> Result<reqwest::Response, ApiError> {
        let idempotent = matches!(
            method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD
        );
        let mut failures = 0u32;
        let mut rate_limit_waits = 0u32;
        loop {
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            request = match &payload {
                Payload::None => request,
                Payload::Json(body) => request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone()),
                Payload::Upload {
                    source,
                    fields,
                    progress,
                } => request.multipart(upload_form(source, fields, progress.clone()).await?),
            };
            let outcome = request.send().await;
            let response = match outcome {
                Ok(response) => response,
                Err(err) => {
                    if idempotent && failures < self.retry.max_retries {
                        failures += 1;
                        tokio::time::sleep(backoff(&self.retry, failures)).await;
                        continue;
                    }
                    return Err(ApiError::Network(error_chain(&err)));
                }
            };
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            if status == StatusCode::TOO_MANY_REQUESTS {
                // The store did not process the request, so any method may be sent again.
                let wait = retry_after.unwrap_or(Duration::from_secs(1));
                if rate_limit_waits < self.retry.max_rate_limit_waits
                    && wait <= self.retry.max_rate_limit_wait
                {
                    rate_limit_waits += 1;
                    tracing::debug!("rate limited by the store; waiting {wait:?}");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            } else if status.is_server_error() && idempotent && failures < self.retry.max_retries {
                failures += 1;
                tokio::time::sleep(backoff(&self.retry, failures)).await;
                continue;
            }
            let body = response.bytes().await.unwrap_or_default();
            return Err(ApiError::from_response(status.as_u16(), retry_after, &body));
        }
    }
}

/// Whether an answer carries back the `Idempotency-Key` that was sent (SPEC §1).
fn key_echoed(headers: &HeaderMap, sent: Option<&str>) -> bool {
    sent.is_some_and(|key| {
        headers
            .get("idempotency-key")
            .is_some_and(|echo| echo.as_bytes() == key.as_bytes())
    })
}

fn page_query(page: Page) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(p) = page.page {
        query.push(("page", p.to_string()));
    }
    if let Some(l) = page.limit {
        query.push(("limit", l.to_string()));
    }
    query
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ApiError> {
    let body = response
        .bytes()
        .await
        .map_err(|e| ApiError::Network(e.to_string()))?;
    serde_json::from_slice(&body).map_err(|e| ApiError::Decode(e.to_string()))
}

/// `X-Retry-After` (seconds), else `X-Rate-Limit-Time-Reset-Ms`, else the standard `Retry-After`.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    number("x-retry-after")
        .map(Duration::from_secs_f64)
        .or_else(|| {
            number("x-rate-limit-time-reset-ms").map(|ms| Duration::from_secs_f64(ms / 1000.0))
        })
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// Exponential back-off with full jitter, so that many clients do not retry in lockstep.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let ceiling = policy.base_delay.saturating_mul(1 << attempt.min(10));
    let fraction = rand::random::<f64>();
    ceiling.mul_f64(0.5 + 0.5 * fraction)
}

fn error_chain(err: &reqwest::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        message = format!("{message}: {e}");
        source = e.source();
    }
    message
}

async fn upload_form(
    source: &UploadSource,
    fields: &ImageWrite,
    progress: Option<Progress>,
) -> Result<reqwest::multipart::Form, ApiError> {
    let (file_name, bytes) = source.read().await?;
    let total = bytes.len() as u64;
    const CHUNK: usize = 64 * 1024;
    let chunks: Vec<Bytes> = (0..bytes.len())
        .step_by(CHUNK)
        .map(|start| bytes.slice(start..(start + CHUNK).min(bytes.len())))
        .collect();
    let mut sent = 0u64;
    let stream = futures_util::stream::iter(chunks).map(move |chunk| {
        sent += chunk.len() as u64;
        if let Some(progress) = &progress {
            progress(sent, total);
        }
        Ok::<Bytes, std::io::Error>(chunk)
    });
    let part =
        reqwest::multipart::Part::stream_with_length(reqwest::Body::wrap_stream(stream), total)
            .file_name(file_name);
    let mut form = reqwest::multipart::Form::new().part("image_file", part);
    if let Some(v) = fields.is_thumbnail {
        form = form.text("is_thumbnail", v.to_string());
    }
    if let Some(v) = fields.sort_order {
        form = form.text("sort_order", v.to_string());
    }
    if let Some(v) = &fields.description {
        form = form.text("description", v.clone());
    }
    Ok(form)
}
