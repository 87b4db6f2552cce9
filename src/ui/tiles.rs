//! Grid textures, kept in a least-recently-used cache bounded by their memory. The cache does
//! not load anything itself: it lists the tiles it lacks, and the session asks for them. Also
//! what a tile says when the pointer rests on it about edits not yet in the store.

use std::collections::HashMap;

use egui::TextureHandle;

use super::words;
use crate::sync::{ImageId, LocalImage, SyncState};

/// What the user can do about a refused edit, and where.
pub const FAILED_ADVICE: &str = "Open Pending changes to retry or discard.";

/// The hover text of a tile whose edits are not all in the store: why, in plain words, and
/// what to do; `None` for a tile in step with the store. Shown over the whole tile, not only
/// its small coloured dot.
pub fn sync_hint(sync: &SyncState) -> Option<String> {
    match sync {
        SyncState::Synced => None,
        SyncState::Pending(1) => Some("1 change waiting to be sent to the store.".to_owned()),
        SyncState::Pending(n) => Some(format!("{n} changes waiting to be sent to the store.")),
        SyncState::Failed(reason) => {
            let why = if words::unreachable(reason) {
                "The store could not be reached.".to_owned()
            } else {
                format!(
                    "The store refused a change to this image: {}.",
                    words::store_reason(reason)
                )
            };
            Some(format!("{why}\n{FAILED_ADVICE}"))
        }
    }
}

/// What the grid can draw for an image now.
pub enum Tile<'a> {
    Ready(&'a TextureHandle),
    Loading,
    /// No picture to show (yet): the store has none, or it could not be decoded.
    Missing,
    /// The picture could not be fetched (the store did not answer); it is asked for again when
    /// the store answers ([`TileCache::forget_failures`]).
    Failed,
}

/// What came back for a tile (or the preview) from the backend.
pub enum Loaded {
    Picture(egui::ColorImage),
    /// There is nothing to show: the image has no picture yet, or its bytes do not decode.
    /// Asking again would not help.
    NoPicture,
    /// The bytes could not be had (the store or the disk failed): worth asking again later.
    Failed,
}

enum State {
    Loading,
    Ready(TextureHandle),
    NoPicture,
    Failed,
}

struct Entry {
    key: String,
    state: State,
    bytes: usize,
    last_used: u64,
    /// The cache's generation when the tile was asked for: a failure of a request older than
    /// the last [`TileCache::forget_failures`] came from before the store answered again.
    asked_in: u64,
}

pub struct TileCache {
    entries: HashMap<ImageId, Entry>,
    bytes: usize,
    budget: usize,
    clock: u64,
    /// Tiles drawn while missing or stale, not asked for yet: (image, key).
    wanted: Vec<(ImageId, String)>,
    /// Bumped by [`TileCache::forget_failures`].
    generation: u64,
}

/// What a tile is made from: a new picture (replaced, or uploaded) needs a new texture.
pub fn tile_key(image: &LocalImage) -> String {
    match (&image.local_file, &image.thumbnail_url) {
        (Some(path), _) => path.display().to_string(),
        (None, Some(url)) => url.clone(),
        (None, None) => image.image_file.clone(),
    }
}

impl TileCache {
    pub fn new(budget_bytes: usize) -> TileCache {
        TileCache {
            entries: HashMap::new(),
            bytes: 0,
            budget: budget_bytes,
            clock: 0,
            wanted: Vec::new(),
            generation: 0,
        }
    }

    /// The tile of an image; one missing or stale is listed for [`TileCache::take_wanted`].
    pub fn get(&mut self, image: &LocalImage) -> Tile<'_> {
        self.clock += 1;
        let key = tile_key(image);
        let stale = self.entries.get(&image.id).is_none_or(|e| e.key != key);
        if stale {
            if let Some(old) = self.entries.remove(&image.id) {
                self.bytes -= old.bytes;
            }
            self.wanted.push((image.id, key.clone()));
            self.entries.insert(
                image.id,
                Entry {
                    key,
                    state: State::Loading,
                    bytes: 0,
                    last_used: self.clock,
                    asked_in: self.generation,
                },
            );
        }
        let Some(entry) = self.entries.get_mut(&image.id) else {
            return Tile::Loading;
        };
        entry.last_used = self.clock;
        match &entry.state {
            State::Loading => Tile::Loading,
            State::Ready(texture) => Tile::Ready(texture),
            State::NoPicture => Tile::Missing,
            State::Failed => Tile::Failed,
        }
    }

    /// Takes a decoded tile from the backend (ignored if the image's picture changed since).
    pub fn insert(&mut self, ctx: &egui::Context, id: ImageId, key: &str, loaded: Loaded) {
        let generation = self.generation;
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.key != key {
            return;
        }
        let (state, bytes) = match loaded {
            Loaded::Picture(image) => {
                let bytes = image.pixels.len() * 4;
                let texture = ctx.load_texture(
                    format!("tile-{}", id.0),
                    image,
                    egui::TextureOptions::LINEAR,
                );
                (State::Ready(texture), bytes)
            }
            Loaded::NoPicture => (State::NoPicture, 0),
            // Asked before the store came back: that failure says nothing about now.
            Loaded::Failed if entry.asked_in < generation => {
                entry.asked_in = generation;
                self.wanted.push((id, entry.key.clone()));
                return;
            }
            Loaded::Failed => (State::Failed, 0),
        };
        self.bytes = self.bytes - entry.bytes + bytes;
        entry.bytes = bytes;
        entry.state = state;
        self.evict();
    }

    /// The store answers again (or the user refreshed): tiles that could not be fetched are
    /// asked for again when next drawn, and those in flight are asked again if they fail.
    pub fn forget_failures(&mut self) {
        self.generation += 1;
        self.entries
            .retain(|_, entry| !matches!(entry.state, State::Failed));
    }

    /// Drops the least recently drawn textures until the cache fits its budget.
    fn evict(&mut self) {
        while self.bytes > self.budget {
            let oldest = self
                .entries
                .iter()
                .filter(|(_, e)| e.bytes > 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| *id);
            let Some(id) = oldest else { break };
            if let Some(entry) = self.entries.remove(&id) {
                self.bytes -= entry.bytes;
            }
        }
    }

    /// The tiles to load: drawn since the last call, and missing or stale.
    pub fn take_wanted(&mut self) -> Vec<(ImageId, String)> {
        std::mem::take(&mut self.wanted)
    }

    /// Bytes of texture memory held.
    pub fn texture_bytes(&self) -> usize {
        self.bytes
    }

    /// Tiles asked for and not decoded yet.
    pub fn loading(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.state, State::Loading))
            .count()
    }

    /// Tiles that could not be fetched, waiting for the store to answer.
    pub fn failed(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.state, State::Failed))
            .count()
    }

    /// Tiles with a texture now.
    pub fn ready(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.state, State::Ready(_)))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_edit_says_why_in_plain_words_and_what_to_do() {
        let raw = "the store refused the request (HTTP 400): The field 'image_file' is invalid";
        let hint = sync_hint(&SyncState::Failed(raw.into())).unwrap();
        assert_eq!(
            hint,
            "The store refused a change to this image: The field 'picture file' is invalid.\n\
             Open Pending changes to retry or discard."
        );
        assert_eq!(sync_hint(&SyncState::Synced), None);
        assert_eq!(
            sync_hint(&SyncState::Pending(2)).as_deref(),
            Some("2 changes waiting to be sent to the store.")
        );
    }

    fn image(id: i64) -> LocalImage {
        LocalImage {
            server_id: Some(id),
            sort_order: 0,
            image_file: format!("{id}.jpg"),
            thumbnail_url: Some(format!("http://store/{id}.jpg")),
            ..LocalImage::example(id, 1)
        }
    }

    fn picture() -> Loaded {
        Loaded::Picture(egui::ColorImage::filled([2, 2], egui::Color32::RED))
    }

    #[test]
    fn a_failed_tile_is_not_no_picture_and_is_asked_again_once_failures_are_forgotten() {
        let ctx = egui::Context::default();
        let mut cache = TileCache::new(1 << 20);
        let (failed, empty) = (image(1), image(2));
        assert!(matches!(cache.get(&failed), Tile::Loading));
        assert!(matches!(cache.get(&empty), Tile::Loading));
        let wanted = cache.take_wanted();
        assert_eq!(wanted.len(), 2);
        cache.insert(&ctx, failed.id, &tile_key(&failed), Loaded::Failed);
        cache.insert(&ctx, empty.id, &tile_key(&empty), Loaded::NoPicture);
        assert!(matches!(cache.get(&failed), Tile::Failed));
        assert!(matches!(cache.get(&empty), Tile::Missing));
        assert!(
            cache.take_wanted().is_empty(),
            "a failure is not retried by itself"
        );
        assert_eq!(cache.failed(), 1);

        cache.forget_failures();
        assert!(matches!(cache.get(&failed), Tile::Loading));
        assert!(matches!(cache.get(&empty), Tile::Missing));
        assert_eq!(cache.take_wanted(), vec![(failed.id, tile_key(&failed))]);
        cache.insert(&ctx, failed.id, &tile_key(&failed), picture());
        assert!(matches!(cache.get(&failed), Tile::Ready(_)));
        assert_eq!((cache.ready(), cache.failed()), (1, 0));
    }

    #[test]
    fn a_failure_asked_before_the_store_came_back_is_asked_again() {
        let ctx = egui::Context::default();
        let mut cache = TileCache::new(1 << 20);
        let one = image(1);
        cache.get(&one);
        cache.take_wanted();
        // The store answers again while the request is in flight; then it fails.
        cache.forget_failures();
        cache.insert(&ctx, one.id, &tile_key(&one), Loaded::Failed);
        assert!(matches!(cache.get(&one), Tile::Loading));
        assert_eq!(cache.take_wanted(), vec![(one.id, tile_key(&one))]);
        // The second request fails too: now it is a failure of its own.
        cache.insert(&ctx, one.id, &tile_key(&one), Loaded::Failed);
        assert!(matches!(cache.get(&one), Tile::Failed));
    }
}
