//! The async API client. It speaks to imagedesk's own server and to a real BigCommerce v2 store:
//! it sorts lists itself, reads 204 as an empty list, reads records leniently and skips (and
//! reports) the ones it cannot read (`lenient.rs`), paces itself to the store's request budget
//! shared by all its clones (`pacing.rs`), uploads local files through v3 where v2 refuses
//! multipart, and retries only idempotent requests (GET, PUT, DELETE) after connection errors and
//! 502/503/504 answers.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use url::Url;

use super::error::ApiError;
use super::lenient;
use super::pacing::{MAX_STORE_WAIT, Pacer};
use super::reorder::{self, SortWrite};
use super::types::{
    Count, Created, Image, ImageWrite, Listing, NewProduct, Page, Product, UploadRoute,
};

/// How long an idle pooled connection is kept for reuse. Servers close idle keep-alive
/// connections (ours after 10 s, `server::limits::REQUEST_HEAD_TIMEOUT`); a request sent on a
/// connection the server is closing at that moment fails as a network error, so the client lets
/// go of idle connections well before any server does.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Extra attempts of an idempotent request after a connection error, an answer cut off, or
    /// a 502/503/504 (and of any request whose connection was never made).
    pub max_retries: u32,
    /// First back-off delay; doubled on each retry, with jitter. Also the base of the back-off
    /// after a 429 that did not say how long to wait.
    pub base_delay: Duration,
    /// How many 429 answers to wait out before giving up.
    pub max_rate_limit_waits: u32,
    /// The longest wait a 429 may ask for before the client gives up instead; also the longest
    /// any one pacing wait lasts.
    pub max_rate_limit_wait: Duration,
    /// Whether the client paces itself to the store's `X-Rate-Limit-*` headers (see
    /// `pacing.rs`). Off only to compare against, in tests.
    pub pacing: bool,
    /// The longest gap the pacer puts between two requests while it spaces them out.
    pub max_pacing_gap: Duration,
    /// How long "this store takes no uploaded files" is believed before an upload asks the
    /// store again. The answer that taught it may have been a proxy's stray 404 page, which
    /// must not disable uploads for the client's whole life.
    pub unsupported_route_ttl: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_rate_limit_waits: 5,
            max_rate_limit_wait: Duration::from_secs(60),
            pacing: true,
            max_pacing_gap: Duration::from_secs(5),
            unsupported_route_ttl: Duration::from_secs(10 * 60),
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

/// A client of one store. Clones share the connection pool, the request budget (`pacing::Pacer`)
/// and what was learnt about how the store takes files, so the engine's pulls and pushes and the
/// app's picture fetches count against one quota.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// For picture URLs: they may point at a CDN, which must never see the store's credentials.
    assets: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    pacer: Arc<Pacer>,
    /// How the store takes local files, once found out (see [`Client::upload_route`]).
    route: Arc<Mutex<Option<Learnt>>>,
}

/// An upload route found out, and when: `Unsupported` is believed only for
/// [`RetryPolicy::unsupported_route_ttl`].
#[derive(Debug, Clone, Copy)]
struct Learnt {
    route: UploadRoute,
    at: Instant,
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
    /// A multipart body with no `image_file` part: every store refuses it, and how it refuses
    /// tells whether it takes multipart at all. It creates nothing.
    RouteProbe,
}

/// An answer read to the end: its status, headers and body.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
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
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("imagedesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let assets = reqwest::Client::builder()
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("imagedesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Network(e.to_string()))?;
        let pacer = Arc::new(Pacer::new(
            retry.pacing,
            retry.max_pacing_gap,
            retry.max_rate_limit_wait,
        ));
        Ok(Client {
            http,
            assets,
            base,
            retry,
            pacer,
            route: Arc::new(Mutex::new(None)),
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

    /// One page of products (the ones that could be read; see [`Client::read_products`]).
    pub async fn list_products(
        &self,
        page: Page,
        name: Option<&str>,
    ) -> Result<Vec<Product>, ApiError> {
        Ok(self.product_page(page, name).await?.records)
    }

    async fn product_page(
        &self,
        page: Page,
        name: Option<&str>,
    ) -> Result<lenient::PageRead<Product>, ApiError> {
        self.product_page_since(page, name, None).await
    }

    async fn product_page_since(
        &self,
        page: Page,
        name: Option<&str>,
        since: Option<&str>,
    ) -> Result<lenient::PageRead<Product>, ApiError> {
        let mut query = page_query(page);
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            query.push(("name", name.to_owned()));
        }
        if let Some(since) = since {
            query.push(("min_date_modified", since.to_owned()));
        }
        let body = self.get_list_body("products.json", &query).await?;
        lenient::read_product_page(&body)
    }

    /// Every product that could be read, page by page.
    pub async fn list_all_products(&self) -> Result<Vec<Product>, ApiError> {
        Ok(self.read_products().await?.records)
    }

    /// Every product, read leniently (see [`Listing`]): a record that cannot be read is
    /// reported and skipped.
    pub async fn read_products(&self) -> Result<Listing<Product>, ApiError> {
        self.read_products_since(None).await
    }

    /// Every product whose `date_modified` is `since` or later (RFC 2822 or ISO 8601; `None`:
    /// every product), read leniently. A store that ignores the filter (SPEC §2) answers with
    /// every product: the caller can tell by the records' own dates.
    pub async fn read_products_since(
        &self,
        since: Option<&str>,
    ) -> Result<Listing<Product>, ApiError> {
        let mut listing = Listing::complete(Vec::new());
        for page in 1.. {
            let read = self
                .product_page_since(Page::new(page, Page::MAX_LIMIT), None, since)
                .await?;
            listing.records.extend(read.records);
            listing.unreadable.extend(read.unreadable);
            // Paging counts the records the store sent, read or not.
            if read.raw_count < Page::MAX_LIMIT as usize {
                break;
            }
        }
        Ok(listing)
    }

    pub async fn get_product(&self, product_id: i64) -> Result<Product, ApiError> {
        let answer = self
            .get(&format!("products/{product_id}.json"), &[])
            .await?;
        lenient::read_product(&answer.body)
    }

    /// How long background work should wait before its next request to this store, to leave
    /// it half of its rate-limit window (see `Pacer::background_wait`); `None` while the store
    /// has not said what its quota is.
    pub fn background_wait(&self) -> Option<std::time::Duration> {
        self.pacer.background_wait()
    }

    /// How many requests may be in flight at once now, at most `wanted` (see
    /// `Pacer::parallel_allowance`).
    pub fn parallel_allowance(&self, wanted: usize) -> usize {
        self.pacer.parallel_allowance(wanted)
    }

    pub async fn count_products(&self) -> Result<u64, ApiError> {
        self.get_count("products/count.json").await
    }

    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, ApiError> {
        let body = serde_json::to_vec(product).map_err(|e| ApiError::Decode(e.to_string()))?;
        let answer = self
            .send(
                Method::POST,
                self.url("products.json", &[])?,
                Payload::Json(body),
                None,
            )
            .await?;
        lenient::read_product(&answer.body)
    }

    // -- images --------------------------------------------------------------------------------

    /// One page of a product's images (the ones that could be read), in list order
    /// (`sort_order`, `id`).
    pub async fn list_images(&self, product_id: i64, page: Page) -> Result<Vec<Image>, ApiError> {
        let mut images = self.image_page(product_id, page).await?.records;
        images.sort_by_key(|i| (i.sort_order, i.id));
        Ok(images)
    }

    async fn image_page(
        &self,
        product_id: i64,
        page: Page,
    ) -> Result<lenient::PageRead<Image>, ApiError> {
        let body = self
            .get_list_body(
                &format!("products/{product_id}/images.json"),
                &page_query(page),
            )
            .await?;
        lenient::read_image_page(product_id, &body)
    }

    /// Every image of a product that could be read, in list order.
    pub async fn list_all_images(&self, product_id: i64) -> Result<Vec<Image>, ApiError> {
        Ok(self.read_images(product_id).await?.records)
    }

    /// Every image of a product, in list order, read leniently (see [`Listing`]).
    pub async fn read_images(&self, product_id: i64) -> Result<Listing<Image>, ApiError> {
        let mut listing = Listing::complete(Vec::new());
        for page in 1.. {
            let read = self
                .image_page(product_id, Page::new(page, Page::MAX_LIMIT))
                .await?;
            listing.records.extend(read.records);
            listing.unreadable.extend(read.unreadable);
            if read.raw_count < Page::MAX_LIMIT as usize {
                break;
            }
        }
        // A real store lists in id order; the contract's order is (sort_order, id).
        listing.records.sort_by_key(|i| (i.sort_order, i.id));
        Ok(listing)
    }

    pub async fn get_image(&self, product_id: i64, image_id: i64) -> Result<Image, ApiError> {
        let answer = self
            .get(
                &format!("products/{product_id}/images/{image_id}.json"),
                &[],
            )
            .await?;
        lenient::read_image(product_id, &answer.body)
    }

    pub async fn count_images(&self, product_id: i64) -> Result<u64, ApiError> {
        self.get_count(&format!("products/{product_id}/images/count.json"))
            .await
    }

    /// Images in the whole store.
    pub async fn count_store_images(&self) -> Result<u64, ApiError> {
        self.get_count("products/images/count.json").await
    }

    /// Creates an image from a URL or an import-directory path in `write.image_file`.
    /// Returns the bare [`Image`]; [`Client::create`] (what the engine's `Remote::create_image`
    /// calls) returns [`Created`], which also says whether the store echoed the key.
    pub async fn create_image(
        &self,
        product_id: i64,
        write: &ImageWrite,
        idempotency_key: Option<&str>,
    ) -> Result<Image, ApiError> {
        Ok(self.create(product_id, write, idempotency_key).await?.image)
    }

    /// [`Client::create_image`], also saying whether the store echoed the key: this is what
    /// `Remote::create_image` returns, not the inherent method of the same name.
    pub async fn create(
        &self,
        product_id: i64,
        write: &ImageWrite,
        idempotency_key: Option<&str>,
    ) -> Result<Created, ApiError> {
        let body = serde_json::to_vec(write).map_err(|e| ApiError::Decode(e.to_string()))?;
        let url = self.url(&format!("products/{product_id}/images.json"), &[])?;
        let answer = self
            .send(Method::POST, url, Payload::Json(body), idempotency_key)
            .await?;
        created(product_id, &answer, idempotency_key)
    }

    /// A cheap check that the store can be reached, which spends none of the store's request
    /// quota: a TCP connection to the API's host and port, closed at once. Its limit: a proxy
    /// that accepts connections for a dead backend looks reachable; the next real request tells.
    pub async fn probe(&self) -> Result<(), ApiError> {
        let port = self
            .base
            .port_or_known_default()
            .ok_or_else(|| ApiError::InvalidUrl(self.base.to_string()))?;
        let addresses: Vec<std::net::SocketAddr> = match self.base.host() {
            Some(url::Host::Ipv4(ip)) => vec![(ip, port).into()],
            Some(url::Host::Ipv6(ip)) => vec![(ip, port).into()],
            Some(url::Host::Domain(host)) => {
                let resolved = tokio::time::timeout(
                    PROBE_TIMEOUT,
                    tokio::net::lookup_host((host.to_owned(), port)),
                )
                .await
                .map_err(|_| ApiError::Network(format!("resolving {host} timed out")))?
                .map_err(|e| ApiError::Network(format!("could not resolve {host}: {e}")))?;
                resolved.collect()
            }
            None => return Err(ApiError::InvalidUrl(self.base.to_string())),
        };
        let mut last = format!("{} has no address", self.base);
        for address in addresses {
            match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(address)).await
            {
                Ok(Ok(_stream)) => return Ok(()),
                Ok(Err(e)) => last = format!("could not connect to {address}: {e}"),
                Err(_) => last = format!("connecting to {address} timed out"),
            }
        }
        Err(ApiError::Network(last))
    }

    // -- uploads -------------------------------------------------------------------------------

    /// How this store takes local files, found out once per client (clones share the answer;
    /// "no files" is asked again after [`RetryPolicy::unsupported_route_ttl`]) by requests
    /// that create nothing: a multipart POST without a file to the v2 images
    /// endpoint (imagedesk's server answers 400, a real v2 store 415), then, if v2 refused
    /// multipart, the same to the v3 endpoint (422: it takes files there). Never sends an
    /// `Idempotency-Key`. [`Client::upload`] does not need it (an upload finds the route out
    /// itself); it is for telling the user before they pick a file.
    pub async fn upload_route(&self, product_id: i64) -> Result<UploadRoute, ApiError> {
        if let Some(route) = self.known_route() {
            return Ok(route);
        }
        let route = self.discover_upload_route(product_id).await?;
        self.learn(route);
        Ok(route)
    }

    fn route_cache(&self) -> std::sync::MutexGuard<'_, Option<Learnt>> {
        // A poisoned lock holds at worst no answer yet; asking again is harmless.
        self.route.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The route learnt, if it is still believed: a store that takes files keeps taking them,
    /// but "no files" is asked again after `unsupported_route_ttl`, since one stray 404 (a
    /// proxy's page) looks the same as a store without the endpoint.
    fn known_route(&self) -> Option<UploadRoute> {
        let mut cache = self.route_cache();
        let learnt = (*cache)?;
        if learnt.route == UploadRoute::Unsupported
            && learnt.at.elapsed() >= self.retry.unsupported_route_ttl
        {
            *cache = None;
            return None;
        }
        Some(learnt.route)
    }

    fn learn(&self, route: UploadRoute) {
        *self.route_cache() = Some(Learnt {
            route,
            at: Instant::now(),
        });
    }

    async fn discover_upload_route(&self, product_id: i64) -> Result<UploadRoute, ApiError> {
        let v2 = self.url(&format!("products/{product_id}/images.json"), &[])?;
        let answer = self
            .execute(Method::POST, v2, &Payload::RouteProbe, None)
            .await?;
        match answer.status.as_u16() {
            400 | 422 => return Ok(UploadRoute::V2Multipart),
            415 => {}
            _ => return Err(answer.into_error()),
        }
        let Some(v3) = self.v3_images_url(product_id) else {
            return Ok(UploadRoute::Unsupported);
        };
        let answer = self
            .execute(Method::POST, v3, &Payload::RouteProbe, None)
            .await?;
        match answer.status.as_u16() {
            400 | 422 => Ok(UploadRoute::V3),
            // A v3 "product not found" object: the endpoint exists, the product does not.
            404 if is_v3_error(&answer.body) => Err(answer.into_error()),
            404 | 405 | 415 => Ok(UploadRoute::Unsupported),
            _ => Err(answer.into_error()),
        }
    }

    /// `{v3 base}/catalog/products/{id}/images`, the v3 base being the v2 base with its last
    /// path segment `v2` replaced by `v3`; `None` when the base does not end in `v2`.
    fn v3_images_url(&self, product_id: i64) -> Option<Url> {
        let path = self.base.path().trim_end_matches('/');
        let parent = path.strip_suffix("/v2")?;
        let mut url = self.base.clone();
        url.set_path(&format!("{parent}/v3/catalog/products/{product_id}/images"));
        url.set_query(None);
        Some(url)
    }

    /// Uploads a local file (multipart, part `image_file`), calling `progress` as bytes go out.
    /// `fields.image_file` is ignored: the file is the picture. Returns the bare [`Image`];
    /// `Remote::upload_image` returns [`Created`], through [`Client::upload`].
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

    /// [`Client::upload_image`], also saying whether the store echoed the key. The file goes
    /// the way the store takes files: multipart on v2, or the v3 endpoint; a store that takes
    /// neither is an [`ApiError::UploadsUnsupported`].
    ///
    /// While the route is not known, the upload itself finds it out rather than a probe first
    /// (one request of the store's quota less): multipart on v2; a 415 created nothing, so the
    /// file then goes to v3. The route learnt is kept for every clone.
    pub async fn upload(
        &self,
        product_id: i64,
        source: &UploadSource,
        fields: &ImageWrite,
        idempotency_key: Option<&str>,
        progress: Option<Progress>,
    ) -> Result<Created, ApiError> {
        let payload = Payload::Upload {
            source,
            fields,
            progress,
        };
        let known = self.known_route();
        match known {
            Some(UploadRoute::V3) => {
                return self.upload_v3(product_id, &payload, idempotency_key).await;
            }
            Some(UploadRoute::Unsupported) => return Err(ApiError::UploadsUnsupported),
            Some(UploadRoute::V2Multipart) | None => {}
        }
        let url = self.url(&format!("products/{product_id}/images.json"), &[])?;
        let answer = self
            .execute(Method::POST, url, &payload, idempotency_key)
            .await?;
        if answer.status != StatusCode::UNSUPPORTED_MEDIA_TYPE {
            let answer = answer.into_result()?;
            if known.is_none() {
                self.learn(UploadRoute::V2Multipart);
            }
            return created(product_id, &answer, idempotency_key);
        }
        // v2 refused multipart (a real store; or the route was learnt on a store that has
        // since changed): nothing was created, so the file goes to v3.
        tracing::info!("the store refused a multipart upload on v2; using v3");
        self.upload_v3(product_id, &payload, idempotency_key).await
    }

    /// Uploads through v3, keeping what its answer says about the route: taken (V3), or no
    /// such endpoint (Unsupported).
    async fn upload_v3(
        &self,
        product_id: i64,
        payload: &Payload<'_>,
        idempotency_key: Option<&str>,
    ) -> Result<Created, ApiError> {
        let Some(url) = self.v3_images_url(product_id) else {
            return self.takes_no_uploads();
        };
        let answer = self
            .execute(Method::POST, url, payload, idempotency_key)
            .await?;
        let no_endpoint = match answer.status.as_u16() {
            404 => !is_v3_error(&answer.body),
            405 | 415 => true,
            _ => false,
        };
        if no_endpoint {
            return self.takes_no_uploads();
        }
        let answer = answer.into_result()?;
        self.learn(UploadRoute::V3);
        created(product_id, &answer, idempotency_key)
    }

    /// Remembers, for every clone, that this store takes no uploaded files (no upload tries
    /// again), and says so.
    fn takes_no_uploads<T>(&self) -> Result<T, ApiError> {
        self.learn(UploadRoute::Unsupported);
        Err(ApiError::UploadsUnsupported)
    }

    // -- other writes --------------------------------------------------------------------------

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
        let answer = self
            .send(Method::PUT, url, Payload::Json(body), None)
            .await?;
        lenient::read_image(product_id, &answer.body)
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
    ///
    /// A picture the store serves itself (same origin as the API) spends the store's request
    /// quota, so it goes through the shared [`Pacer`] like every API request: it waits its turn,
    /// its answer's `X-Rate-Limit-*` headers count, and a 429 pauses every clone and is waited
    /// out as the policy allows. A picture on a CDN (any other origin) spends no store quota and
    /// is not paced.
    pub async fn fetch_asset(&self, url: &str, max_bytes: usize) -> Result<Bytes, ApiError> {
        let parsed = Url::parse(url).map_err(|_| ApiError::InvalidUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ApiError::InvalidUrl(url.to_owned()));
        }
        let paced = parsed.origin() == self.base.origin();
        let mut rate_limit_waits = 0u32;
        let mut response = loop {
            if paced {
                self.pacer.before_request().await;
            }
            // `assets` carries no credentials, even to the store's own origin: a picture URL
            // is public, and the token must never travel where it is not needed.
            let response = self
                .assets
                .get(parsed.clone())
                .send()
                .await
                .map_err(|e| ApiError::Network(error_chain(&e)))?;
            if !paced {
                break response;
            }
            self.pacer.observe(response.headers());
            if response.status() != StatusCode::TOO_MANY_REQUESTS {
                self.pacer.accepted();
                break response;
            }
            let wait = self
                .pacer
                .refused(retry_after(response.headers()), self.retry.base_delay);
            if rate_limit_waits >= self.retry.max_rate_limit_waits
                || wait > self.retry.max_rate_limit_wait
            {
                break response;
            }
            rate_limit_waits += 1;
            tracing::debug!("picture fetch rate limited by the store; waiting {wait:?}");
            if !self.retry.pacing {
                // Without the pacer nothing else waits: this request does.
                tokio::time::sleep(wait).await;
            }
        };
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

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ApiError> {
        self.send(Method::GET, self.url(path, query)?, Payload::None, None)
            .await
    }

    async fn get_count(&self, path: &str) -> Result<u64, ApiError> {
        let answer = self.get(path, &[]).await?;
        let count: Count =
            serde_json::from_slice(&answer.body).map_err(|e| ApiError::Decode(e.to_string()))?;
        Ok(count.count)
    }

    /// The body of a list; 204 No Content (what v2 stores answer for an empty list) is empty.
    async fn get_list_body(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes, ApiError> {
        let answer = self.get(path, query).await?;
        if answer.status == StatusCode::NO_CONTENT {
            return Ok(Bytes::new());
        }
        Ok(answer.body)
    }

    /// Sends a request as [`Client::execute`] does and turns a refusal into [`ApiError`].
    async fn send(
        &self,
        method: Method,
        url: Url,
        payload: Payload<'_>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, ApiError> {
        self.execute(method, url, &payload, idempotency_key)
            .await?
            .into_result()
    }

    /// Sends a request paced to the store's budget, retrying as the policy allows, and reads
    /// its answer to the end. Retried: GET, PUT and DELETE after a connection error, a
    /// connection closed mid-answer, or a 502/503/504; any method after a 429 or a connection
    /// that was never made (the store saw nothing). A POST that may have reached the store is
    /// never sent again here: the engine decides, by looking in the list first.
    /// Returns the last answer, whatever its status.
    async fn execute(
        &self,
        method: Method,
        url: Url,
        payload: &Payload<'_>,
        idempotency_key: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let idempotent = matches!(
            method,
            Method::GET | Method::PUT | Method::DELETE | Method::HEAD
        );
        let mut failures = 0u32;
        let mut rate_limit_waits = 0u32;
        loop {
            self.pacer.before_request().await;
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            request = match payload {
                Payload::None => request,
                Payload::Json(body) => request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone()),
                Payload::Upload {
                    source,
                    fields,
                    progress,
                } => request.multipart(upload_form(source, fields, progress.clone()).await?),
                Payload::RouteProbe => request
                    .multipart(reqwest::multipart::Form::new().text("description", String::new())),
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(err) => {
                    // A connection that was never made carried nothing to the store.
                    let resendable = idempotent || err.is_connect();
                    if resendable && failures < self.retry.max_retries {
                        failures += 1;
                        tokio::time::sleep(backoff(&self.retry, failures)).await;
                        continue;
                    }
                    return Err(ApiError::Network(error_chain(&err)));
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.pacer.observe(&headers);
            if status == StatusCode::TOO_MANY_REQUESTS {
                // The store did not process the request, so any method may be sent again; the
                // pause holds every request of this client (the pacer), not only this one.
                let asked = retry_after(&headers);
                let wait = self.pacer.refused(asked, self.retry.base_delay);
                if rate_limit_waits < self.retry.max_rate_limit_waits
                    && wait <= self.retry.max_rate_limit_wait
                {
                    rate_limit_waits += 1;
                    tracing::debug!("rate limited by the store; waiting {wait:?}");
                    if !self.retry.pacing {
                        // Without the pacer nothing else waits: this request does.
                        tokio::time::sleep(wait).await;
                    }
                    continue;
                }
                let body = response.bytes().await.unwrap_or_default();
                return Err(ApiError::from_response(status.as_u16(), Some(wait), &body));
            }
            self.pacer.accepted();
            let transient = matches!(
                status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            if transient && idempotent && failures < self.retry.max_retries {
                failures += 1;
                tokio::time::sleep(backoff(&self.retry, failures)).await;
                continue;
            }
            match response.bytes().await {
                Ok(body) => {
                    return Ok(Answer {
                        status,
                        headers,
                        body,
                    });
                }
                // The connection closed mid-answer: the request may have been carried out, so
                // only an idempotent one is sent again.
                Err(err) if idempotent && failures < self.retry.max_retries => {
                    tracing::debug!("answer cut off ({}); retrying", error_chain(&err));
                    failures += 1;
                    tokio::time::sleep(backoff(&self.retry, failures)).await;
                }
                Err(err) => return Err(ApiError::Network(error_chain(&err))),
            }
        }
    }
}

impl Answer {
    /// The answer if it is a success, else the store's refusal as an [`ApiError`].
    fn into_result(self) -> Result<Answer, ApiError> {
        if self.status.is_success() {
            Ok(self)
        } else {
            Err(self.into_error())
        }
    }

    fn into_error(self) -> ApiError {
        ApiError::from_response(self.status.as_u16(), retry_after(&self.headers), &self.body)
    }
}

/// The answer to a create, read leniently (v2 record or v3 `data`), with whether the store
/// echoed the key.
fn created(
    product_id: i64,
    answer: &Answer,
    idempotency_key: Option<&str>,
) -> Result<Created, ApiError> {
    Ok(Created {
        image: lenient::read_image(product_id, &answer.body)?,
        key_echoed: key_echoed(&answer.headers, idempotency_key),
    })
}

/// Whether a refusal's body is a v3 error object (`{"status", "title"}`).
fn is_v3_error(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("title").is_some() && v.get("status").is_some())
}

/// How long [`Client::probe`] waits for a connection (and a name lookup).
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

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

/// `X-Retry-After` (seconds), else `X-Rate-Limit-Time-Reset-Ms`, else the standard `Retry-After`,
/// at most [`MAX_STORE_WAIT`]: a finite but huge number (`1e20`) would panic
/// `Duration::from_secs_f64`, and a wait of years is a broken header, not advice. A wait longer
/// than the policy's `max_rate_limit_wait` still makes the client give up rather than wait.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |name: &str, scale: f64| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| {
                Duration::try_from_secs_f64(v / scale)
                    .unwrap_or(MAX_STORE_WAIT)
                    .min(MAX_STORE_WAIT)
            })
    };
    seconds("x-retry-after", 1.0)
        .or_else(|| seconds("x-rate-limit-time-reset-ms", 1000.0))
        .or_else(|| seconds("retry-after", 1.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn store_given_waits_are_bounded_and_never_panic() {
        for (name, value) in [
            ("x-retry-after", "1e20"),
            ("x-retry-after", "1e300"),
            ("retry-after", "99999999999999999999"),
            ("x-rate-limit-time-reset-ms", "1e30"),
        ] {
            assert_eq!(
                retry_after(&with(name, value)),
                Some(MAX_STORE_WAIT),
                "{name}: {value}"
            );
        }
        assert_eq!(
            retry_after(&with("x-retry-after", "2.5")),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            retry_after(&with("x-rate-limit-time-reset-ms", "1500")),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(retry_after(&with("x-retry-after", "-1")), None);
        assert_eq!(retry_after(&with("x-retry-after", "inf")), None);
    }
}
