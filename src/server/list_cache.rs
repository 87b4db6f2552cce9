//! Rendered image-list pages (`GET /products/{id}/images`), kept until the next write.
//!
//! Listing is what clients do most (the app re-reads a product after every change it sends), and
//! rendering a page costs two SQLite round trips on the reader pool's threads, fifty RFC 2822
//! dates and two hundred URLs. Serving the same bytes again costs a hash lookup.
//!
//! Correctness rests on a generation counter:
//! - every request that may write (any method but GET, HEAD, OPTIONS) holds a
//!   [`InvalidateOnDrop`] guard for its whole life, so the cache is emptied and the generation
//!   bumped *after* the write committed and *before* its response is sent — even when the
//!   request is cut off half-way;
//! - a reader notes the generation *before* it reads the database and stores its page only if
//!   the generation is unchanged, so a page read before a commit can never outlive it.
//!
//! Entries also expire after [`MAX_AGE`], a bound on staleness should a write ever reach the
//! database by another road.
//!
//! With PostgreSQL that road is open: other nodes write to the same database, and this node's
//! middleware never hears of their writes. So each page is kept with its [`Freshness`]: the
//! product's version (bumped by every write of its images, in the write's transaction) read
//! *before* the page, and a page is served only if the product's version is still that one
//! (one read by primary key, `Records::freshness`). A page read after a concurrent commit is
//! newer than its version says, never older, so a reader that sees the old version and gets
//! the newer page got an answer its request overlapped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// How long a page may be served without being re-read.
pub const MAX_AGE: Duration = Duration::from_secs(2);
/// Bound on the bytes kept (a page of 250 images is about 150 KiB).
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Which page of which product, as seen from which host (image URLs embed the host).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub product_id: i64,
    pub offset: i64,
    pub limit: i64,
    pub base_url: String,
}

#[derive(Default)]
pub struct ListCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    bytes: usize,
    entries: HashMap<ListKey, Entry>,
}

struct Entry {
    body: Bytes,
    stored: Instant,
    freshness: Freshness,
}

/// What a cached page must still match to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// SQLite: this node is the only writer and empties the cache after every write.
    Local,
    /// PostgreSQL: the product's version when the page was read.
    Version(i64),
}

impl ListCache {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot leave the map half-updated, so a poisoned lock is usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The generation to pass to [`ListCache::insert`]; read it before reading the database.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// The page, if it was stored with this `freshness` less than [`MAX_AGE`] ago.
    pub fn get(&self, key: &ListKey, freshness: Freshness) -> Option<Bytes> {
        let inner = self.lock();
        let entry = inner.entries.get(key)?;
        (entry.freshness == freshness && entry.stored.elapsed() < MAX_AGE)
            .then(|| entry.body.clone())
    }

    /// Keeps a page read under `generation` (and `freshness`, read before the page), unless a
    /// write has happened on this node since.
    pub fn insert(&self, key: ListKey, generation: u64, freshness: Freshness, body: Bytes) {
        let mut inner = self.lock();
        if inner.generation != generation || body.len() > MAX_BYTES {
            return;
        }
        if inner.bytes + body.len() > MAX_BYTES {
            inner.entries.clear();
            inner.bytes = 0;
        }
        inner.bytes += body.len();
        let entry = Entry {
            body,
            stored: Instant::now(),
            freshness,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.body.len();
        }
    }

    /// Forgets every page and starts a new generation.
    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.bytes = 0;
    }

    /// A guard that invalidates the cache when dropped: hold it across a write.
    pub fn invalidate_on_drop(self: &Arc<Self>) -> InvalidateOnDrop {
        InvalidateOnDrop(self.clone())
    }
}

pub struct InvalidateOnDrop(Arc<ListCache>);

impl Drop for InvalidateOnDrop {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::Freshness::{Local, Version};
    use super::*;

    fn key(product_id: i64) -> ListKey {
        ListKey {
            product_id,
            offset: 0,
            limit: 50,
            base_url: "http://127.0.0.1:1".into(),
        }
    }

    #[test]
    fn serves_what_was_stored_until_invalidated() {
        let cache = ListCache::default();
        let generation = cache.generation();
        cache.insert(key(1), generation, Local, Bytes::from_static(b"[1]"));
        assert_eq!(cache.get(&key(1), Local), Some(Bytes::from_static(b"[1]")));
        assert_eq!(cache.get(&key(2), Local), None);
        cache.invalidate();
        assert_eq!(cache.get(&key(1), Local), None);
    }

    /// Another node's write bumps the product's version: a page read at the old version is
    /// not served any more, though this node's cache was never emptied.
    #[test]
    fn a_page_of_an_older_version_is_not_served() {
        let cache = ListCache::default();
        let generation = cache.generation();
        cache.insert(key(1), generation, Version(4), Bytes::from_static(b"[4]"));
        assert_eq!(
            cache.get(&key(1), Version(4)),
            Some(Bytes::from_static(b"[4]"))
        );
        assert_eq!(cache.get(&key(1), Version(5)), None);
        assert_eq!(cache.get(&key(1), Local), None);
    }

    #[test]
    fn a_page_read_before_a_write_is_not_kept() {
        let cache = Arc::new(ListCache::default());
        let generation = cache.generation();
        drop(cache.invalidate_on_drop()); // a write commits while the page is being read
        cache.insert(key(1), generation, Local, Bytes::from_static(b"[old]"));
        assert_eq!(cache.get(&key(1), Local), None);
    }

    #[test]
    fn stays_under_its_byte_bound() {
        let cache = ListCache::default();
        let page = Bytes::from(vec![b' '; MAX_BYTES / 3 + 1]);
        for product in 0..5 {
            cache.insert(key(product), cache.generation(), Local, page.clone());
            assert!(cache.lock().bytes <= MAX_BYTES);
        }
        assert!(cache.get(&key(4), Local).is_some());
    }
}
