//! An in-memory model of the store behind the [`Remote`] seam, with scriptable faults.
//!
//! It applies writes the way `server::repo` does (SPEC §1): the `sort_order` shift rule, one
//! thumbnail per product that has images, `Idempotency-Key` replays. So the engine's rules about
//! lost answers, retries, restarts and merges can be tried in milliseconds and in any
//! interleaving, without sockets or a database. `tests/memory_store.rs` runs one script of
//! writes against this model and against the real server and checks that they agree.
//!
//! What tests control:
//! - **Faults** ([`MemoryStore::inject`], [`MemoryStore::inject_any`]): a queue; each call takes
//!   the first queued fault meant for its [`CallKind`] (or for any call). A fault either stops
//!   the request before the store applies anything (network, 5xx, 429) or lets it apply and
//!   spoils the answer (lost, 502, slow).
//! - **Reachability** ([`MemoryStore::set_reachable`]): a store that is down refuses every call
//!   with [`ApiError::Network`] and consumes no faults.
//! - **Keys** ([`KeyPolicy`]): honoured like imagedesk's server, or ignored like a real
//!   BigCommerce v2 store.
//! - **Someone else** ([`MemoryStore::other_describe`] and friends): another client's writes
//!   between the engine's requests, applied by the same rules, neither counted nor faulted.
//! - **Counters** ([`MemoryStore::requests`], [`MemoryStore::applied`],
//!   [`MemoryStore::creates_applied`], [`MemoryStore::created`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;

use super::remote::{Remote, RemoteFuture};
pub use crate::api::naming::slug;
use crate::api::reorder::{SortWrite, plan_reorder};
use crate::api::{
    ApiError, Created, FieldValue, Image, ImageWrite, Listing, Product, Progress, RecordKind,
    UnreadableRecord, UploadRoute, UploadSource,
};
use crate::imaging::{self, Variant};

/// Where the model's pictures live: the base of every `*_url` it hands out.
pub const STORE_URL: &str = "http://memory-store.test";
/// The most images a product may have (SPEC §1: 409 past it).
pub const MAX_IMAGES_PER_PRODUCT: usize = 1000;
/// The largest `sort_order` a write may carry.
const MAX_SORT_ORDER: i64 = 2_147_483_647;
/// Dates start here (2023-11-14) and move one second per write, so that every write of a
/// record changes its `date_modified`, as it does on the server when writes are a second apart.
const CLOCK_START: i64 = 1_700_000_000;

/// The kinds of request the engine makes, for fault targets and counters. Creating from a URL
/// and uploading a file are both `Create` (both are a POST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallKind {
    ListProducts,
    ListImages,
    GetImage,
    Create,
    Update,
    Delete,
    DeleteAll,
    CountImages,
    CountProducts,
    FetchAsset,
    /// The engine's cheap "are you there" request.
    Probe,
    /// Finding out how the store takes local files.
    UploadRoute,
}

/// One scripted misbehaviour of the store or the network, for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The connection fails before the store sees the request: nothing is applied.
    Unreachable,
    /// The store (or a proxy in front of it) answers with this 5xx before applying anything.
    ServerError(u16),
    /// 429, with or without `X-Retry-After`; nothing is applied.
    RateLimited { retry_after: Option<Duration> },
    /// The request is applied, then the connection closes before the answer arrives.
    AnswerLost,
    /// The request is applied, then a proxy answers with this 5xx instead of the store's answer.
    AppliedThenServerError(u16),
    /// The request is applied, then its answer cannot be read (a 2xx with a broken body).
    AppliedThenUnreadable,
    /// The request is applied at once and answered after this delay: a caller dropped while it
    /// waits (an engine closed, a process killed) never hears of a write that happened.
    SlowAnswer(Duration),
    /// A create that ignores its `Idempotency-Key`, as a real BigCommerce store does.
    IgnoreIdempotencyKey,
}

/// What the store does with `Idempotency-Key` on creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPolicy {
    /// A repeat of a key on the same product returns the first answer and creates nothing.
    Honour,
    /// Every create creates, as on a real BigCommerce v2 store.
    Ignore,
}

/// One record a create made, kept after the record is deleted: what tests count to prove that
/// nothing was created twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedRecord {
    pub image: Image,
    /// The URL or path of a JSON create, or the uploaded file's name.
    pub source: String,
    pub idempotency_key: Option<String>,
    /// Made by [`MemoryStore::other_add`], not by a [`Remote`] call.
    pub by_other_client: bool,
}

/// Where a new picture comes from, once read.
struct NewPicture {
    /// The name the stored file is named after (URL, import path or upload file name).
    source: String,
    extension: &'static str,
    width: Option<u32>,
    height: Option<u32>,
    file_size: Option<u64>,
}

/// How one call goes, decided when it arrives.
struct CallPlan {
    ignore_key: bool,
    after_apply: AfterApply,
}

enum AfterApply {
    Answer,
    Fail(ApiError),
    AnswerAfter(Duration),
}

struct State {
    products: BTreeMap<i64, Product>,
    images: BTreeMap<i64, Image>,
    next_product_id: i64,
    next_image_id: i64,
    clock: i64,
    replays: HashMap<(i64, String), Image>,
    key_policy: KeyPolicy,
    reachable: bool,
    write_answers_carry_urls: bool,
    /// Whether `min_date_modified` filters the product list (a store without it lists all).
    filters_products_by_date: bool,
    /// Whether product records carry `date_modified`.
    product_dates: bool,
    /// The base of the `*_url` fields handed out now.
    asset_base: String,
    /// Per product (`None`: the product list), records a lister cannot read.
    unreadable: BTreeMap<Option<i64>, Vec<UnreadableRecord>>,
    /// Per product (`None`: the product list), records skipped and reported without their id.
    idless: BTreeMap<Option<i64>, Vec<i64>>,
    faults: VecDeque<(Option<CallKind>, Fault)>,
    requests: BTreeMap<CallKind, u64>,
    applied: BTreeMap<CallKind, u64>,
    created: Vec<CreatedRecord>,
    /// The product of every images list asked for, in order of arrival.
    image_lists: Vec<i64>,
}

/// The model store. Cheap to share as `Arc<MemoryStore>` (and as `Arc<dyn Remote>`).
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store that honours `Idempotency-Key`, at [`STORE_URL`].
    pub fn new() -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State {
                products: BTreeMap::new(),
                images: BTreeMap::new(),
                next_product_id: 1,
                next_image_id: 1,
                clock: CLOCK_START,
                replays: HashMap::new(),
                key_policy: KeyPolicy::Honour,
                reachable: true,
                write_answers_carry_urls: true,
                filters_products_by_date: true,
                product_dates: true,
                asset_base: STORE_URL.to_owned(),
                unreadable: BTreeMap::new(),
                idless: BTreeMap::new(),
                faults: VecDeque::new(),
                requests: BTreeMap::new(),
                applied: BTreeMap::new(),
                created: Vec::new(),
                image_lists: Vec::new(),
            }),
        }
    }

    /// The store's state. A test that panicked while holding the lock left nothing half done
    /// (every change is made under one lock), so a poisoned lock is used as it is.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // -- setting the scene -----------------------------------------------------------------------

    pub fn add_product(&self, name: &str, sku: &str) -> Product {
        let mut state = self.lock();
        let id = state.next_product_id;
        state.next_product_id += 1;
        let date_created = rfc2822(state.tick());
        let product = Product {
            id,
            name: name.to_owned(),
            sku: sku.to_owned(),
            date_modified: Some(date_created.clone()),
            date_created,
        };
        state.products.insert(id, product.clone());
        product
    }

    pub fn set_key_policy(&self, policy: KeyPolicy) {
        self.lock().key_policy = policy;
    }

    /// Down: every call fails with [`ApiError::Network`] before reaching the store.
    pub fn set_reachable(&self, reachable: bool) {
        self.lock().reachable = reachable;
    }

    pub fn is_reachable(&self) -> bool {
        self.lock().reachable
    }

    /// Answers to POST and PUT without the `*_url` fields, as the seed's examples of a real v2
    /// store are (SPEC §2). Lists and GETs still carry them.
    pub fn set_write_answers_carry_urls(&self, carry: bool) {
        self.lock().write_answers_carry_urls = carry;
    }

    /// A store that ignores `min_date_modified` on the product list (every product comes back),
    /// and, with `dates` false, sends no `date_modified` on products at all.
    pub fn set_product_dates(&self, filters: bool, dates: bool) {
        let mut state = self.lock();
        state.filters_products_by_date = filters;
        state.product_dates = dates;
    }

    /// Another client renames a product: its `date_modified` moves, as on the store.
    pub fn other_rename_product(&self, product_id: i64, name: &str) {
        let mut state = self.lock();
        let now = state.tick();
        if let Some(product) = state.products.get_mut(&product_id) {
            product.name = name.to_owned();
        }
        state.touch(product_id, now);
    }

    /// Another client deletes a product and its images.
    pub fn other_delete_product(&self, product_id: i64) {
        let mut state = self.lock();
        state.products.remove(&product_id);
        state.images.retain(|_, i| i.product_id != product_id);
    }

    /// From now on, lists of `product_id`'s images skip the images these records name (by id)
    /// and report the records as unreadable, as the HTTP client does with records it cannot
    /// read (SPEC §2). An empty list makes every record readable again.
    pub fn set_unreadable(&self, product_id: i64, records: Vec<UnreadableRecord>) {
        self.set_unreadable_in(Some(product_id), records);
    }

    /// The same for the product list: products these records name are skipped and reported.
    pub fn set_unreadable_products(&self, records: Vec<UnreadableRecord>) {
        self.set_unreadable_in(None, records);
    }

    /// From now on, lists of `product_id`'s images (`None`: the product list) skip the records
    /// with these ids and report each as unreadable without an id, as a record whose `id`
    /// itself could not be read. An empty list ends it.
    pub fn set_unreadable_without_ids(&self, product_id: Option<i64>, ids: Vec<i64>) {
        let mut state = self.lock();
        if ids.is_empty() {
            state.idless.remove(&product_id);
        } else {
            state.idless.insert(product_id, ids);
        }
    }

    fn set_unreadable_in(&self, key: Option<i64>, records: Vec<UnreadableRecord>) {
        let mut state = self.lock();
        if records.is_empty() {
            state.unreadable.remove(&key);
        } else {
            state.unreadable.insert(key, records);
        }
    }

    /// Moves every picture to `base` (`scheme://host:port`), as a store restarted on another
    /// port or moved to a CDN: records' `*_url` fields change to the new base, and the old
    /// addresses no longer serve anything.
    pub fn set_asset_base(&self, base: &str) {
        let mut state = self.lock();
        let old = std::mem::replace(&mut state.asset_base, base.trim_end_matches('/').to_owned());
        let new = state.asset_base.clone();
        for image in state.images.values_mut() {
            for url in [
                &mut image.zoom_url,
                &mut image.standard_url,
                &mut image.thumbnail_url,
                &mut image.tiny_url,
            ]
            .into_iter()
            .flatten()
            {
                if let Some(path) = url.strip_prefix(&old) {
                    *url = format!("{new}{path}");
                }
            }
        }
    }

    /// Queues a fault for the next call of `kind` that finds no earlier fault for it.
    pub fn inject(&self, kind: CallKind, fault: Fault) {
        self.lock().faults.push_back((Some(kind), fault));
    }

    /// Queues a fault for the next call of any kind.
    pub fn inject_any(&self, fault: Fault) {
        self.lock().faults.push_back((None, fault));
    }

    /// Faults queued and not yet met by a call.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.len()
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    // -- looking at it ---------------------------------------------------------------------------

    /// A product's images in list order (`sort_order`, `id`), with every field.
    pub fn images(&self, product_id: i64) -> Vec<Image> {
        self.lock().list(product_id)
    }

    pub fn products(&self) -> Vec<Product> {
        self.lock().products.values().cloned().collect()
    }

    /// Calls of this kind that arrived, whatever became of them.
    pub fn requests(&self, kind: CallKind) -> u64 {
        self.lock().requests.get(&kind).copied().unwrap_or(0)
    }

    /// Calls of this kind that the store carried out successfully (a replayed create counts:
    /// it answered; see [`MemoryStore::creates_applied`] for records made).
    pub fn applied(&self, kind: CallKind) -> u64 {
        self.lock().applied.get(&kind).copied().unwrap_or(0)
    }

    /// Records made by [`Remote`] creates (replays and other clients' adds do not count).
    pub fn creates_applied(&self) -> u64 {
        let state = self.lock();
        state.created.iter().filter(|c| !c.by_other_client).count() as u64
    }

    /// The product of every images list the engine asked for, in order (failed ones too).
    pub fn image_lists(&self) -> Vec<i64> {
        self.lock().image_lists.clone()
    }

    /// Every record ever created, in order, deleted ones included.
    pub fn created(&self) -> Vec<CreatedRecord> {
        self.lock().created.clone()
    }

    // -- someone else ----------------------------------------------------------------------------

    /// Another client sets a description (a PUT).
    pub fn other_describe(
        &self,
        product_id: i64,
        image_id: i64,
        description: &str,
    ) -> Result<Image, ApiError> {
        let write = ImageWrite {
            description: Some(description.to_owned()),
            ..ImageWrite::default()
        };
        self.lock().update(product_id, image_id, &write)
    }

    /// Another client adds an image from a URL (a POST without a key), at `sort_order` if given
    /// (shifting the others), else last.
    pub fn other_add(
        &self,
        product_id: i64,
        url: &str,
        description: &str,
        sort_order: Option<i64>,
    ) -> Result<Image, ApiError> {
        let write = ImageWrite {
            image_file: Some(url.to_owned()),
            description: Some(description.to_owned()),
            sort_order,
            ..ImageWrite::default()
        };
        self.lock()
            .create(product_id, &write, reference_picture(url), None, true)
    }

    pub fn other_delete(&self, product_id: i64, image_id: i64) -> Result<(), ApiError> {
        self.lock().delete(product_id, image_id)
    }

    /// Another client writes one image's `sort_order` (a PUT, with the shift rule).
    pub fn other_set_sort_order(
        &self,
        product_id: i64,
        image_id: i64,
        sort_order: i64,
    ) -> Result<Image, ApiError> {
        let write = ImageWrite {
            sort_order: Some(sort_order),
            ..ImageWrite::default()
        };
        self.lock().update(product_id, image_id, &write)
    }

    /// Another client reorders the product's images to `desired` (ids, each once), with the
    /// planner's fewest PUTs, as imagedesk's own client does.
    pub fn other_reorder(&self, product_id: i64, desired: &[i64]) -> Result<(), ApiError> {
        let mut state = self.lock();
        let current: Vec<(i64, i64)> = state
            .list(product_id)
            .iter()
            .map(|i| (i.id, i.sort_order))
            .collect();
        let plan: Vec<SortWrite> = plan_reorder(&current, desired)?;
        for step in plan {
            let write = ImageWrite {
                sort_order: Some(step.sort_order),
                ..ImageWrite::default()
            };
            state.update(product_id, step.image_id, &write)?;
        }
        Ok(())
    }

    /// Another client makes an image the thumbnail (a PUT `is_thumbnail: true`).
    pub fn other_set_thumbnail(&self, product_id: i64, image_id: i64) -> Result<Image, ApiError> {
        let write = ImageWrite {
            is_thumbnail: Some(true),
            ..ImageWrite::default()
        };
        self.lock().update(product_id, image_id, &write)
    }

    // -- serving a call --------------------------------------------------------------------------

    /// Counts the call and decides its fate: refused before the store (down, or a fault of that
    /// kind), or carried out with a plan for its answer.
    fn arrive(&self, kind: CallKind) -> Result<CallPlan, ApiError> {
        let mut state = self.lock();
        *state.requests.entry(kind).or_default() += 1;
        if !state.reachable {
            return Err(network_error("the store is down"));
        }
        let fault = state
            .faults
            .iter()
            .position(|(target, _)| target.is_none_or(|t| t == kind))
            .and_then(|at| state.faults.remove(at))
            .map(|(_, fault)| fault);
        let mut plan = CallPlan {
            ignore_key: state.key_policy == KeyPolicy::Ignore,
            after_apply: AfterApply::Answer,
        };
        match fault {
            None => {}
            Some(Fault::Unreachable) => return Err(network_error("connection refused")),
            Some(Fault::ServerError(status)) => return Err(server_error(status)),
            Some(Fault::RateLimited { retry_after }) => return Err(rate_limited(retry_after)),
            Some(Fault::AnswerLost) => {
                plan.after_apply = AfterApply::Fail(network_error(
                    "the connection closed before the answer arrived",
                ));
            }
            Some(Fault::AppliedThenServerError(status)) => {
                plan.after_apply = AfterApply::Fail(server_error(status));
            }
            Some(Fault::AppliedThenUnreadable) => {
                plan.after_apply = AfterApply::Fail(ApiError::Decode(
                    "the answer was cut short (injected)".to_owned(),
                ));
            }
            Some(Fault::SlowAnswer(delay)) => plan.after_apply = AfterApply::AnswerAfter(delay),
            Some(Fault::IgnoreIdempotencyKey) => plan.ignore_key = true,
        }
        Ok(plan)
    }

    /// Serves one call: arrival (faults), the change under one lock, then the answer's fate.
    async fn serve<T>(
        &self,
        kind: CallKind,
        apply: impl FnOnce(&mut State, &CallPlan) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let plan = self.arrive(kind)?;
        let result = self.apply_counted(kind, &plan, apply);
        match plan.after_apply {
            AfterApply::Answer => result,
            AfterApply::Fail(err) => Err(err),
            AfterApply::AnswerAfter(delay) => {
                tokio::time::sleep(delay).await;
                result
            }
        }
    }

    /// Runs `apply` under the lock; a separate function so that the guard is gone before any
    /// await of the caller.
    fn apply_counted<T>(
        &self,
        kind: CallKind,
        plan: &CallPlan,
        apply: impl FnOnce(&mut State, &CallPlan) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut state = self.lock();
        let result = apply(&mut state, plan);
        if result.is_ok() {
            *state.applied.entry(kind).or_default() += 1;
        }
        result
    }

    /// The tiny picture served at one of an image's URLs, or `None` for a URL no image has.
    fn asset_at(&self, url: &str) -> Option<Bytes> {
        let state = self.lock();
        let image = state.images.values().find(|image| {
            let original = format!("{}/product_images/{}", state.asset_base, image.image_file);
            [
                &image.zoom_url,
                &image.standard_url,
                &image.thumbnail_url,
                &image.tiny_url,
            ]
            .into_iter()
            .any(|u| u.as_deref() == Some(url))
                || original == url
        })?;
        let seed = u64::try_from(image.id).unwrap_or_default();
        Some(Bytes::from(imaging::synthetic::jpeg(
            &imaging::synthetic::photo(16, 12, seed),
            80,
            false,
            None,
        )))
    }
}

impl State {
    /// One second per write, so each write is seen in `date_modified`.
    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    /// A write of the product or of one of its images moves its `date_modified` (SPEC §1).
    fn touch(&mut self, product_id: i64, now: i64) {
        if let Some(product) = self.products.get_mut(&product_id) {
            product.date_modified = Some(rfc2822(now));
        }
    }

    /// The product list as sent: with or without dates, filtered or not.
    fn product_list(&self, since: Option<i64>) -> Vec<Product> {
        self.products
            .values()
            .filter(|p| match (since, self.filters_products_by_date) {
                (Some(since), true) => p
                    .date_modified
                    .as_deref()
                    .and_then(parse_rfc2822)
                    .is_some_and(|d| d >= since),
                _ => true,
            })
            .map(|p| Product {
                date_modified: p.date_modified.clone().filter(|_| self.product_dates),
                ..p.clone()
            })
            .collect()
    }

    fn require_product(&self, product_id: i64) -> Result<(), ApiError> {
        if self.products.contains_key(&product_id) {
            Ok(())
        } else {
            Err(refusal(404, "The requested product was not found.", None))
        }
    }

    fn list(&self, product_id: i64) -> Vec<Image> {
        let mut images: Vec<Image> = self
            .images
            .values()
            .filter(|i| i.product_id == product_id)
            .cloned()
            .collect();
        images.sort_by_key(|i| (i.sort_order, i.id));
        images
    }

    fn image(&self, product_id: i64, image_id: i64) -> Result<&Image, ApiError> {
        self.require_product(product_id)?;
        self.images
            .get(&image_id)
            .filter(|i| i.product_id == product_id)
            .ok_or_else(image_not_found)
    }

    /// Refuses, as the server does and before anything changes, a write that would take an
    /// image past `MAX_SORT_ORDER`: a shift from `sort_order` that would move an image already
    /// at the maximum, or (no `sort_order`) a new image going last after one there.
    fn check_room(
        &self,
        product_id: i64,
        except_id: Option<i64>,
        sort_order: Option<i64>,
    ) -> Result<(), ApiError> {
        let from = sort_order.unwrap_or(0);
        let blocking = self
            .images
            .values()
            .filter(|i| {
                i.product_id == product_id
                    && Some(i.id) != except_id
                    && i.sort_order >= from
                    && i.sort_order >= MAX_SORT_ORDER
            })
            .max_by_key(|i| (i.sort_order, i.id));
        match blocking {
            Some(image) => Err(invalid_field(
                "sort_order",
                &format!(
                    "image {} is at sort_order {}, and {MAX_SORT_ORDER} is the largest allowed",
                    image.id, image.sort_order
                ),
            )),
            None => Ok(()),
        }
    }

    /// SPEC's shift rule: every other image of the product at or after `k` moves one down.
    fn shift_from(&mut self, product_id: i64, except_id: Option<i64>, k: i64, now: i64) {
        for image in self.images.values_mut() {
            if image.product_id == product_id
                && Some(image.id) != except_id
                && image.sort_order >= k
            {
                image.sort_order += 1;
                image.date_modified = Some(rfc2822(now));
            }
        }
    }

    /// Moves the flag to `image_id`, touching only the images whose flag changes hands.
    fn set_thumbnail(&mut self, product_id: i64, image_id: i64, now: i64) {
        for image in self.images.values_mut() {
            if image.product_id == product_id && (image.is_thumbnail || image.id == image_id) {
                image.is_thumbnail = image.id == image_id;
                image.date_modified = Some(rfc2822(now));
            }
        }
    }

    /// Restores "a product that has images has exactly one thumbnail": with none, the first
    /// image in list order other than `avoid` takes it (`avoid` itself if it is the only one).
    fn ensure_one_thumbnail(&mut self, product_id: i64, avoid: Option<i64>, now: i64) {
        let list = self.list(product_id);
        let thumbnails: Vec<i64> = list
            .iter()
            .filter(|i| i.is_thumbnail)
            .map(|i| i.id)
            .collect();
        if thumbnails.len() == 1 {
            return;
        }
        if let Some(&first) = thumbnails.first() {
            self.set_thumbnail(product_id, first, now);
            return;
        }
        let candidate = list
            .iter()
            .min_by_key(|i| (Some(i.id) == avoid, i.sort_order, i.id))
            .map(|i| i.id);
        if let Some(id) = candidate {
            self.set_thumbnail(product_id, id, now);
        }
    }

    fn create(
        &mut self,
        product_id: i64,
        write: &ImageWrite,
        picture: Result<NewPicture, ApiError>,
        key: Option<(&str, bool)>,
        by_other_client: bool,
    ) -> Result<Image, ApiError> {
        self.require_product(product_id)?;
        check_sort_order(write.sort_order)?;
        if let Some((key, _)) = key {
            check_key(key)?;
        }
        check_product_field(write.product_id, product_id)?;
        let honoured_key = key.filter(|(_, honour)| *honour).map(|(k, _)| k);
        if let Some(first) =
            honoured_key.and_then(|k| self.replays.get(&(product_id, k.to_owned())))
        {
            return Ok(first.clone());
        }
        let picture = picture?;
        // The server inserts (refusing a shift past the maximum, 400) before it counts (409).
        self.check_room(product_id, None, write.sort_order)?;
        if self.list(product_id).len() >= MAX_IMAGES_PER_PRODUCT {
            return Err(refusal(
                409,
                &format!(
                    "The product already has {MAX_IMAGES_PER_PRODUCT} images, the most allowed."
                ),
                None,
            ));
        }
        let image = self.insert(product_id, write, &picture)?;
        if let Some(key) = honoured_key {
            self.replays
                .insert((product_id, key.to_owned()), image.clone());
        }
        self.created.push(CreatedRecord {
            image: image.clone(),
            source: picture.source,
            idempotency_key: key.map(|(k, _)| k.to_owned()),
            by_other_client,
        });
        Ok(image)
    }

    /// Inserts a record with the shift rule and the thumbnail invariant; returns it as stored.
    fn insert(
        &mut self,
        product_id: i64,
        write: &ImageWrite,
        picture: &NewPicture,
    ) -> Result<Image, ApiError> {
        let now = self.tick();
        let sort_order = match write.sort_order {
            Some(k) => {
                self.shift_from(product_id, None, k, now);
                k
            }
            None => self
                .list(product_id)
                .iter()
                .map(|i| i.sort_order)
                .max()
                .map_or(0, |max| max + 1),
        };
        let id = self.next_image_id;
        self.next_image_id += 1;
        let image_file = stored_name(id, &picture.source, picture.extension);
        let [zoom_url, standard_url, thumbnail_url, tiny_url] =
            Variant::ALL.map(|v| Some(variant_url(&self.asset_base, v, &image_file)));
        self.touch(product_id, now);
        let image = Image {
            id,
            product_id,
            image_file,
            is_thumbnail: false,
            sort_order,
            description: write.description.clone().unwrap_or_default(),
            date_created: rfc2822(now),
            date_modified: Some(rfc2822(now)),
            zoom_url,
            standard_url,
            thumbnail_url,
            tiny_url,
            width: picture.width,
            height: picture.height,
            file_size: picture.file_size,
            // Like a real BigCommerce store, this model computes no perceptual hash.
            perceptual_hash: None,
        };
        self.images.insert(id, image);
        if write.is_thumbnail == Some(true) {
            self.set_thumbnail(product_id, id, now);
        }
        self.ensure_one_thumbnail(product_id, None, now);
        self.image(product_id, id).cloned()
    }

    /// An answer to a POST or PUT, without the URLs when the store is set to leave them out.
    fn write_answer(&self, image: Image) -> Image {
        if self.write_answers_carry_urls {
            image
        } else {
            Image {
                zoom_url: None,
                standard_url: None,
                thumbnail_url: None,
                tiny_url: None,
                ..image
            }
        }
    }

    /// A PUT: `sort_order` with the shift rule, `is_thumbnail`, `description`, or a new picture
    /// from a URL or import path (one equal to the current `image_file` changes nothing).
    fn update(
        &mut self,
        product_id: i64,
        image_id: i64,
        write: &ImageWrite,
    ) -> Result<Image, ApiError> {
        let current = self.image(product_id, image_id)?.clone();
        check_sort_order(write.sort_order)?;
        check_product_field(write.product_id, product_id)?;
        let new_picture = match &write.image_file {
            Some(file) if *file != current.image_file => Some(reference_picture(file)?),
            _ => None,
        };
        if let Some(k) = write.sort_order
            && k != current.sort_order
        {
            self.check_room(product_id, Some(image_id), Some(k))?;
        }
        let now = self.tick();
        self.touch(product_id, now);
        if let Some(k) = write.sort_order
            && k != current.sort_order
        {
            self.shift_from(product_id, Some(image_id), k, now);
        }
        let base = self.asset_base.clone();
        if let Some(image) = self.images.get_mut(&image_id) {
            if let Some(k) = write.sort_order {
                image.sort_order = k;
            }
            if let Some(description) = &write.description {
                image.description.clone_from(description);
            }
            if let Some(picture) = &new_picture {
                image.image_file = stored_name(image_id, &picture.source, picture.extension);
                let [zoom, standard, thumbnail, tiny] =
                    Variant::ALL.map(|v| Some(variant_url(&base, v, &image.image_file)));
                image.zoom_url = zoom;
                image.standard_url = standard;
                image.thumbnail_url = thumbnail;
                image.tiny_url = tiny;
                image.width = picture.width;
                image.height = picture.height;
                image.file_size = picture.file_size;
            }
            image.date_modified = Some(rfc2822(now));
        }
        match write.is_thumbnail {
            Some(true) => self.set_thumbnail(product_id, image_id, now),
            Some(false) if current.is_thumbnail => {
                if let Some(image) = self.images.get_mut(&image_id) {
                    image.is_thumbnail = false;
                }
                self.ensure_one_thumbnail(product_id, Some(image_id), now);
            }
            _ => {}
        }
        self.ensure_one_thumbnail(product_id, None, now);
        self.image(product_id, image_id).cloned()
    }

    fn delete(&mut self, product_id: i64, image_id: i64) -> Result<(), ApiError> {
        self.image(product_id, image_id)?;
        let now = self.tick();
        self.touch(product_id, now);
        self.images.remove(&image_id);
        self.ensure_one_thumbnail(product_id, None, now);
        Ok(())
    }

    fn delete_all(&mut self, product_id: i64) -> Result<(), ApiError> {
        self.require_product(product_id)?;
        let now = self.tick();
        self.touch(product_id, now);
        self.images
            .retain(|_, image| image.product_id != product_id);
        Ok(())
    }
}

impl State {
    fn product_listing(&self, since: Option<i64>) -> Listing<Product> {
        let (unreadable, idless) = self.unreadable_in(None, RecordKind::Product);
        let records = self
            .product_list(since)
            .into_iter()
            .filter(|p| !unreadable.iter().any(|r| r.id == Some(p.id)))
            .filter(|p| !idless.contains(&p.id))
            .collect();
        Listing {
            records,
            unreadable,
        }
    }

    /// What a list of `key` reports as unreadable, and the ids it skips without naming them.
    fn unreadable_in(
        &self,
        key: Option<i64>,
        kind: RecordKind,
    ) -> (Vec<UnreadableRecord>, Vec<i64>) {
        let mut unreadable = self.unreadable.get(&key).cloned().unwrap_or_default();
        let idless = self.idless.get(&key).cloned().unwrap_or_default();
        unreadable.extend(idless.iter().map(|_| UnreadableRecord {
            kind,
            product_id: key,
            id: None,
            field: Some("id".to_owned()),
            value: FieldValue::Json("\"unreadable\"".to_owned()),
            reason: "expected an integer".to_owned(),
        }));
        (unreadable, idless)
    }
}

impl Remote for MemoryStore {
    fn list_all_products(&self) -> RemoteFuture<'_, Listing<Product>> {
        Box::pin(self.serve(CallKind::ListProducts, |state, _| {
            Ok(state.product_listing(None))
        }))
    }

    fn list_products_since<'a>(&'a self, since: &'a str) -> RemoteFuture<'a, Listing<Product>> {
        Box::pin(self.serve(CallKind::ListProducts, move |state, _| {
            let since = parse_rfc2822(since)
                .ok_or_else(|| refusal(400, "min_date_modified is not a date.", None))?;
            Ok(state.product_listing(Some(since)))
        }))
    }

    fn count_products(&self) -> RemoteFuture<'_, u64> {
        Box::pin(self.serve(CallKind::CountProducts, |state, _| {
            Ok(state.products.len() as u64)
        }))
    }

    fn list_all_images(&self, product_id: i64) -> RemoteFuture<'_, Listing<Image>> {
        self.lock().image_lists.push(product_id);
        Box::pin(self.serve(CallKind::ListImages, move |state, _| {
            state.require_product(product_id)?;
            let (unreadable, idless) = state.unreadable_in(Some(product_id), RecordKind::Image);
            let records = state
                .list(product_id)
                .into_iter()
                .filter(|i| !unreadable.iter().any(|r| r.id == Some(i.id)))
                .filter(|i| !idless.contains(&i.id))
                .collect();
            Ok(Listing {
                records,
                unreadable,
            })
        }))
    }

    fn get_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, Image> {
        Box::pin(self.serve(CallKind::GetImage, move |state, _| {
            state.image(product_id, image_id).cloned()
        }))
    }

    fn create_image<'a>(
        &'a self,
        product_id: i64,
        write: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
    ) -> RemoteFuture<'a, Created> {
        Box::pin(self.serve(CallKind::Create, move |state, plan| {
            let picture = match write.image_file.as_deref() {
                Some(reference) => reference_picture(reference),
                None => Err(invalid_field("image_file", "is required")),
            };
            let key = idempotency_key.map(|k| (k, !plan.ignore_key));
            let image = state.create(product_id, write, picture, key, false)?;
            Ok(Created {
                image: state.write_answer(image),
                key_echoed: idempotency_key.is_some() && !plan.ignore_key,
            })
        }))
    }

    fn upload_image<'a>(
        &'a self,
        product_id: i64,
        source: &'a UploadSource,
        fields: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
        progress: Option<Progress>,
    ) -> RemoteFuture<'a, Created> {
        Box::pin(async move {
            let (file_name, bytes) = source.read().await?;
            let total = bytes.len() as u64;
            let answer = self
                .serve(CallKind::Create, move |state, plan| {
                    let picture = uploaded_picture(&file_name, &bytes);
                    let key = idempotency_key.map(|k| (k, !plan.ignore_key));
                    let image = state.create(product_id, fields, picture, key, false)?;
                    Ok(Created {
                        image: state.write_answer(image),
                        key_echoed: idempotency_key.is_some() && !plan.ignore_key,
                    })
                })
                .await;
            if let Some(progress) = progress {
                progress(total, total);
            }
            answer
        })
    }

    fn update_image<'a>(
        &'a self,
        product_id: i64,
        image_id: i64,
        write: &'a ImageWrite,
    ) -> RemoteFuture<'a, Image> {
        Box::pin(self.serve(CallKind::Update, move |state, _| {
            let image = state.update(product_id, image_id, write)?;
            Ok(state.write_answer(image))
        }))
    }

    fn upload_route(&self, product_id: i64) -> RemoteFuture<'_, UploadRoute> {
        Box::pin(self.serve(CallKind::UploadRoute, move |state, _| {
            state.require_product(product_id)?;
            Ok(UploadRoute::V2Multipart)
        }))
    }

    fn probe(&self) -> RemoteFuture<'_, ()> {
        Box::pin(self.serve(CallKind::Probe, |_, _| Ok(())))
    }

    fn delete_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, ()> {
        Box::pin(self.serve(CallKind::Delete, move |state, _| {
            state.delete(product_id, image_id)
        }))
    }

    fn delete_all_images(&self, product_id: i64) -> RemoteFuture<'_, ()> {
        Box::pin(self.serve(CallKind::DeleteAll, move |state, _| {
            state.delete_all(product_id)
        }))
    }

    fn count_store_images(&self) -> RemoteFuture<'_, u64> {
        Box::pin(self.serve(CallKind::CountImages, |state, _| {
            Ok(state.images.len() as u64)
        }))
    }

    fn fetch_asset<'a>(&'a self, url: &'a str, max_bytes: usize) -> RemoteFuture<'a, Bytes> {
        Box::pin(async move {
            self.serve(CallKind::FetchAsset, |_, _| Ok(())).await?;
            let bytes = self.asset_at(url).ok_or_else(|| {
                refusal(
                    404,
                    &format!("the picture at {url} could not be fetched"),
                    None,
                )
            })?;
            if bytes.len() > max_bytes {
                return Err(ApiError::Decode(format!(
                    "the picture at {url} is larger than {max_bytes} bytes"
                )));
            }
            Ok(bytes)
        })
    }
}

// -- pictures and names ------------------------------------------------------------------------

/// A picture named by a URL or an import path. The model does not download it: it only checks
/// the name as the server does before fetching (http(s), or a relative path that stays inside).
fn reference_picture(reference: &str) -> Result<NewPicture, ApiError> {
    let is_url = reference.starts_with("http://") || reference.starts_with("https://");
    let escapes = reference.starts_with('/') || reference.split(['/', '\\']).any(|s| s == "..");
    if reference.is_empty() || (!is_url && escapes) {
        return Err(invalid_field(
            "image_file",
            "must be an http(s) URL or a path inside the import directory",
        ));
    }
    Ok(NewPicture {
        source: reference.to_owned(),
        extension: extension_of(reference),
        width: None,
        height: None,
        file_size: None,
    })
}

/// An uploaded file: checked for real, as the server decodes it (the extension proves nothing).
fn uploaded_picture(file_name: &str, bytes: &[u8]) -> Result<NewPicture, ApiError> {
    let probe = imaging::probe(bytes).map_err(|e| invalid_field("image_file", &e.to_string()))?;
    Ok(NewPicture {
        source: file_name.to_owned(),
        extension: probe.format.extension(),
        width: Some(probe.width),
        height: Some(probe.height),
        file_size: Some(bytes.len() as u64),
    })
}

/// The extension a stored copy gets, from the source's name (the model decodes no URL).
fn extension_of(reference: &str) -> &'static str {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    let extension = last.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("png") => "png",
        Some("gif") => "gif",
        Some("webp") => "webp",
        Some("bmp") => "bmp",
        _ => "jpg",
    }
}

/// `{letter}/{3 digits}/{slug}__{5 digits}.{ext}` (SPEC §1). The server draws the bucket and
/// suffix at random; here they come from the id, so that runs repeat.
fn stored_name(id: i64, source: &str, extension: &str) -> String {
    let slug = slug(source);
    let letter = slug
        .chars()
        .next()
        .filter(char::is_ascii_lowercase)
        .unwrap_or('i');
    let bucket = id.wrapping_mul(37).rem_euclid(1000);
    let suffix = id.wrapping_mul(7919).rem_euclid(100_000);
    format!("{letter}/{bucket:03}/{slug}__{suffix:05}.{extension}")
}

fn variant_url(base: &str, variant: Variant, image_file: &str) -> String {
    format!("{base}/product_images/{}/{image_file}", variant.as_str())
}

/// RFC 2822 with `+0000`, as v2 stores write dates.
fn rfc2822(timestamp: i64) -> String {
    crate::api::dates::format_store_date(timestamp)
}

fn parse_rfc2822(text: &str) -> Option<i64> {
    crate::api::dates::parse_store_date(text)
}

// -- checks and errors, in the server's words --------------------------------------------------

fn check_sort_order(sort_order: Option<i64>) -> Result<(), ApiError> {
    match sort_order {
        Some(k) if !(0..=MAX_SORT_ORDER).contains(&k) => Err(invalid_field(
            "sort_order",
            "must be an integer from 0 to 2147483647",
        )),
        _ => Ok(()),
    }
}

fn check_key(key: &str) -> Result<(), ApiError> {
    let printable = key.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if (1..=200).contains(&key.len()) && printable {
        Ok(())
    } else {
        Err(refusal(400, "The Idempotency-Key header is invalid.", None))
    }
}

fn check_product_field(given: Option<i64>, product_id: i64) -> Result<(), ApiError> {
    match given {
        Some(given) if given != product_id => Err(invalid_field(
            "product_id",
            &format!("{given} is not the product in the path ({product_id})"),
        )),
        _ => Ok(()),
    }
}

fn refusal(status: u16, message: &str, invalid_reason: Option<String>) -> ApiError {
    ApiError::Status {
        status,
        message: message.to_owned(),
        invalid_reason,
        retry_after: None,
    }
}

fn invalid_field(field: &str, reason: &str) -> ApiError {
    refusal(
        400,
        &format!("The field '{field}' is invalid."),
        Some(reason.to_owned()),
    )
}

fn image_not_found() -> ApiError {
    refusal(404, "The requested image was not found.", None)
}

fn server_error(status: u16) -> ApiError {
    refusal(status, &format!("HTTP {status} (injected)"), None)
}

fn rate_limited(retry_after: Option<Duration>) -> ApiError {
    ApiError::Status {
        status: 429,
        message: "Too many requests (injected).".to_owned(),
        invalid_reason: None,
        retry_after,
    }
}

fn network_error(what: &str) -> ApiError {
    ApiError::Network(format!("{what} (injected)"))
}
