//! Grid textures, kept in a least-recently-used cache bounded by their memory. The cache does
//! not load anything itself: it lists the tiles it lacks, and the session asks for them.

use std::collections::HashMap;

use egui::TextureHandle;

use crate::sync::{ImageId, LocalImage};

/// What the grid can draw for an image now.
pub enum Tile<'a> {
    Ready(&'a TextureHandle),
    Loading,
    /// No picture to show (yet): the store has none, or it could not be decoded.
    Missing,
}

struct Entry {
    key: String,
    /// `None` while loading, `Some(None)` when there is nothing to show.
    texture: Option<Option<TextureHandle>>,
    bytes: usize,
    last_used: u64,
}

pub struct TileCache {
    entries: HashMap<ImageId, Entry>,
    bytes: usize,
    budget: usize,
    clock: u64,
    /// Tiles drawn while missing or stale, not asked for yet: (image, key).
    wanted: Vec<(ImageId, String)>,
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
                    texture: None,
                    bytes: 0,
                    last_used: self.clock,
                },
            );
        }
        let Some(entry) = self.entries.get_mut(&image.id) else {
            return Tile::Loading;
        };
        entry.last_used = self.clock;
        match &entry.texture {
            None => Tile::Loading,
            Some(None) => Tile::Missing,
            Some(Some(texture)) => Tile::Ready(texture),
        }
    }

    /// Takes a decoded tile from the backend (ignored if the image's picture changed since).
    pub fn insert(
        &mut self,
        ctx: &egui::Context,
        id: ImageId,
        key: &str,
        image: Option<egui::ColorImage>,
    ) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.key != key {
            return;
        }
        let bytes = image.as_ref().map_or(0, |i| i.pixels.len() * 4);
        let texture = image.map(|image| {
            ctx.load_texture(
                format!("tile-{}", id.0),
                image,
                egui::TextureOptions::LINEAR,
            )
        });
        self.bytes = self.bytes - entry.bytes + bytes;
        entry.bytes = bytes;
        entry.texture = Some(texture);
        self.evict();
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
            .filter(|e| e.texture.is_none())
            .count()
    }

    /// Tiles with a texture now.
    pub fn ready(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.texture, Some(Some(_))))
            .count()
    }
}
