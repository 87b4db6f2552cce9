//! The store as the engine sees it.
//!
//! The engine never names the HTTP client: it talks to an `Arc<dyn Remote>`. The real one is
//! [`crate::api::Client`] (imagedesk's server or a real store over HTTP); tests use an
//! in-memory model store with fault injection, so the rules that decide whether an edit is lost
//! or sent twice can be tried in milliseconds and in every interleaving.
//!
//! Errors are [`ApiError`]s because the engine's decisions depend on their HTTP meaning
//! (transient 5xx/429/network versus a refusal, 404 on a delete), whichever store answered.

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::api::reorder::SortWrite;
use crate::api::{
    ApiError, Client, Created, Image, ImageWrite, Listing, Product, Progress, UploadRoute,
    UploadSource,
};

/// What a [`Remote`] call returns: a boxed future, so that the trait can be used as `dyn`.
pub type RemoteFuture<'a, T> = BoxFuture<'a, Result<T, ApiError>>;

/// The store's Product Images API, as far as the engine uses it.
pub trait Remote: Send + Sync + 'static {
    /// Every product, all pages. Records that cannot be read are skipped and listed.
    fn list_all_products(&self) -> RemoteFuture<'_, Listing<Product>>;

    /// The products whose `date_modified` is `since` or later (RFC 2822), all pages. A store
    /// without the filter answers with every product; the engine tells by their dates.
    fn list_products_since<'a>(&'a self, since: &'a str) -> RemoteFuture<'a, Listing<Product>> {
        let _ = since;
        self.list_all_products()
    }

    /// How long background work should wait before its next request so that it leaves the
    /// store's quota to edits and the shown product; `None` when the store has not said.
    fn background_wait(&self) -> Option<std::time::Duration> {
        None
    }

    /// How many requests may be in flight at once now, at most `wanted` (at least 1): what
    /// the store's rate-limit budget has room for.
    fn parallel_allowance(&self, wanted: usize) -> usize {
        wanted.max(1)
    }

    /// Products in the store: a cheap way to notice that some were deleted.
    fn count_products(&self) -> RemoteFuture<'_, u64> {
        Box::pin(async move {
            let listing = self.list_all_products().await?;
            Ok((listing.records.len() + listing.unreadable.len()) as u64)
        })
    }

    /// Every image of a product, all pages, in the store's display order. Records that cannot
    /// be read are skipped and listed.
    fn list_all_images(&self, product_id: i64) -> RemoteFuture<'_, Listing<Image>>;

    fn get_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, Image>;

    /// Creates an image from a URL (`write.image_file`). The store may ignore the key; the
    /// answer says whether it echoed it. (For [`Client`] this is [`Client::create`]; the
    /// inherent `Client::create_image` returns the bare `Image`.)
    fn create_image<'a>(
        &'a self,
        product_id: i64,
        write: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
    ) -> RemoteFuture<'a, Created>;

    /// Creates an image from a local file's bytes, by the store's [`UploadRoute`]. (For
    /// [`Client`] this is [`Client::upload`]; the inherent `Client::upload_image` returns `Image`.)
    fn upload_image<'a>(
        &'a self,
        product_id: i64,
        source: &'a UploadSource,
        fields: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
        progress: Option<Progress>,
    ) -> RemoteFuture<'a, Created>;

    /// How the store takes local files, found out once (by requests that create nothing, on
    /// `product_id`, which must exist) and remembered.
    fn upload_route(&self, product_id: i64) -> RemoteFuture<'_, UploadRoute>;

    /// A cheap check that the store answers at all, spending as little of its request quota
    /// as possible: used to notice quickly that it went away or came back.
    fn probe(&self) -> RemoteFuture<'_, ()>;

    fn update_image<'a>(
        &'a self,
        product_id: i64,
        image_id: i64,
        write: &'a ImageWrite,
    ) -> RemoteFuture<'a, Image>;

    fn delete_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, ()>;

    /// Deletes every image of the product.
    fn delete_all_images(&self, product_id: i64) -> RemoteFuture<'_, ()>;

    /// Images in the whole store.
    fn count_store_images(&self) -> RemoteFuture<'_, u64>;

    /// Downloads a picture from one of an image's `*_url` fields, refusing more than
    /// `max_bytes`.
    fn fetch_asset<'a>(&'a self, url: &'a str, max_bytes: usize) -> RemoteFuture<'a, Bytes>;

    /// Sends a planned series of `sort_order` writes, in order, one PUT each.
    fn apply_sort_writes<'a>(
        &'a self,
        product_id: i64,
        writes: &'a [SortWrite],
    ) -> RemoteFuture<'a, ()> {
        Box::pin(async move {
            for write in writes {
                let change = ImageWrite {
                    sort_order: Some(write.sort_order),
                    ..ImageWrite::default()
                };
                self.update_image(product_id, write.image_id, &change)
                    .await?;
            }
            Ok(())
        })
    }
}

impl Remote for Client {
    fn list_all_products(&self) -> RemoteFuture<'_, Listing<Product>> {
        Box::pin(Client::read_products(self))
    }

    fn list_products_since<'a>(&'a self, since: &'a str) -> RemoteFuture<'a, Listing<Product>> {
        Box::pin(Client::read_products_since(self, Some(since)))
    }

    fn count_products(&self) -> RemoteFuture<'_, u64> {
        Box::pin(Client::count_products(self))
    }

    fn background_wait(&self) -> Option<std::time::Duration> {
        Client::background_wait(self)
    }

    fn parallel_allowance(&self, wanted: usize) -> usize {
        Client::parallel_allowance(self, wanted)
    }

    fn list_all_images(&self, product_id: i64) -> RemoteFuture<'_, Listing<Image>> {
        Box::pin(Client::read_images(self, product_id))
    }

    fn get_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, Image> {
        Box::pin(Client::get_image(self, product_id, image_id))
    }

    fn create_image<'a>(
        &'a self,
        product_id: i64,
        write: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
    ) -> RemoteFuture<'a, Created> {
        Box::pin(Client::create(self, product_id, write, idempotency_key))
    }

    fn upload_image<'a>(
        &'a self,
        product_id: i64,
        source: &'a UploadSource,
        fields: &'a ImageWrite,
        idempotency_key: Option<&'a str>,
        progress: Option<Progress>,
    ) -> RemoteFuture<'a, Created> {
        Box::pin(Client::upload(
            self,
            product_id,
            source,
            fields,
            idempotency_key,
            progress,
        ))
    }

    fn update_image<'a>(
        &'a self,
        product_id: i64,
        image_id: i64,
        write: &'a ImageWrite,
    ) -> RemoteFuture<'a, Image> {
        Box::pin(Client::update_image(self, product_id, image_id, write))
    }

    fn upload_route(&self, product_id: i64) -> RemoteFuture<'_, UploadRoute> {
        Box::pin(Client::upload_route(self, product_id))
    }

    fn probe(&self) -> RemoteFuture<'_, ()> {
        Box::pin(Client::probe(self))
    }

    fn delete_image(&self, product_id: i64, image_id: i64) -> RemoteFuture<'_, ()> {
        Box::pin(Client::delete_image(self, product_id, image_id))
    }

    fn delete_all_images(&self, product_id: i64) -> RemoteFuture<'_, ()> {
        Box::pin(Client::delete_all_images(self, product_id, None))
    }

    fn count_store_images(&self) -> RemoteFuture<'_, u64> {
        Box::pin(Client::count_store_images(self))
    }

    fn fetch_asset<'a>(&'a self, url: &'a str, max_bytes: usize) -> RemoteFuture<'a, Bytes> {
        Box::pin(Client::fetch_asset(self, url, max_bytes))
    }

    fn apply_sort_writes<'a>(
        &'a self,
        product_id: i64,
        writes: &'a [SortWrite],
    ) -> RemoteFuture<'a, ()> {
        Box::pin(Client::apply_sort_writes(self, product_id, writes))
    }
}
