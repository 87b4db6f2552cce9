//! Undo and redo: each edit the user makes is recorded with what it replaced, so that undoing
//! it is another edit (the store only ever sees forward edits).
//!
//! Deletes are the exception that makes an Undo toast possible: a delete is *held* in the app for
//! a short grace period (the tiles disappear at once) and only then handed to the engine.
//! Undoing a held delete simply lets go of it; once it has been handed over Undo no longer
//! reaches it (the store keeps no copy of a deleted picture), but the engine kept one: the
//! picture can be restored from "Recently deleted" for 30 days (see `recently_deleted`).
//!
//! The history outlives a restart: eframe's `save` hook writes it ([`SavedHistories`], one per
//! store, keyed like the store's replica) into `app.ron`, and the next start reads it back.
//! Held deletes are not kept: the window hands them to the engine on exit (from there on,
//! "Recently deleted" has them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::sync::ImageId;

/// One user edit and what it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    Describe {
        id: ImageId,
        before: String,
        after: String,
    },
    Thumbnail {
        product: i64,
        before: Option<ImageId>,
        after: ImageId,
    },
    /// A drag: `moving` went to `index` of the list without them ([`Engine::move_images`]'s
    /// arguments, so a redo is the same call); `before` is the whole order it replaced.
    ///
    /// [`Engine::move_images`]: crate::sync::Engine::move_images
    Move {
        product: i64,
        before: Vec<ImageId>,
        moving: Vec<ImageId>,
        index: usize,
    },
    /// Never saved: a held delete is sent when the window closes, and its `until` is an
    /// [`Instant`], meaningless in another run.
    #[serde(skip)]
    Delete(HeldDelete),
}

impl Change {
    /// What the menu and the notices call it.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Describe { .. } => "description change",
            Change::Thumbnail { .. } => "thumbnail change",
            Change::Move { .. } => "move",
            Change::Delete(d) if d.all => "delete all",
            Change::Delete(_) => "delete",
        }
    }
}

/// A delete waiting out its grace period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDelete {
    pub product: i64,
    pub product_name: String,
    pub ids: Vec<ImageId>,
    /// "Delete all images": sent as one request when the product still has exactly these.
    pub all: bool,
    pub until: Instant,
}

/// The undo and redo stacks.
#[derive(Debug, Default)]
pub struct History {
    undo: Vec<Change>,
    redo: Vec<Change>,
}

/// Enough for a working session; older edits fall off the bottom. Also the most a saved
/// history brings back.
pub const DEPTH: usize = 100;

impl History {
    /// Records a new edit; whatever could be redone is forgotten, as in every editor.
    pub fn record(&mut self, change: Change) {
        self.redo.clear();
        self.undo.push(change);
        if self.undo.len() > DEPTH {
            self.undo.remove(0);
        }
    }

    pub fn take_undo(&mut self) -> Option<Change> {
        self.undo.pop()
    }

    pub fn take_redo(&mut self) -> Option<Change> {
        self.redo.pop()
    }

    /// After an undo was applied: it can be redone.
    pub fn undone(&mut self, change: Change) {
        self.redo.push(change);
    }

    /// After a redo was applied: it can be undone again (the redo stack stays).
    pub fn redone(&mut self, change: Change) {
        self.undo.push(change);
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    pub fn next_undo(&self) -> Option<&Change> {
        self.undo.last()
    }

    /// A held delete was handed to the engine: it can no longer be undone or redone.
    pub fn forget_delete(&mut self, ids: &[ImageId]) {
        let same = |c: &Change| matches!(c, Change::Delete(d) if d.ids == ids);
        self.undo.retain(|c| !same(c));
        self.redo.retain(|c| !same(c));
    }

    /// What is kept for the next run: every change but deletes, the newest [`DEPTH`].
    pub fn saved(&self) -> SavedHistory {
        SavedHistory {
            undo: lasting(&self.undo),
            redo: lasting(&self.redo),
        }
    }

    /// The history a previous run saved (bounded again: the file may come from elsewhere).
    pub fn from_saved(saved: SavedHistory) -> History {
        History {
            undo: lasting(&saved.undo),
            redo: lasting(&saved.redo),
        }
    }
}

/// The newest [`DEPTH`] changes of `changes` that mean something in another run.
fn lasting(changes: &[Change]) -> Vec<Change> {
    let kept: Vec<Change> = changes
        .iter()
        .filter(|c| !matches!(c, Change::Delete(_)))
        .cloned()
        .collect();
    let skip = kept.len().saturating_sub(DEPTH);
    kept.into_iter().skip(skip).collect()
}

/// One store's undo and redo stacks as saved between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHistory {
    undo: Vec<Change>,
    redo: Vec<Change>,
}

/// The key of the saved histories in eframe's storage.
pub const STORAGE_KEY: &str = "imagedesk.history";

/// Every store's saved history, by the store's key (`CurrentStore::key`): a history names
/// images by the engine's ids, which mean something only in that store's replica.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHistories(BTreeMap<String, SavedHistory>);

impl SavedHistories {
    /// What eframe's storage holds; nothing (not an error) when it holds none or an older,
    /// unreadable form: losing the history is better than not starting.
    pub fn load(storage: &dyn eframe::Storage) -> SavedHistories {
        storage
            .get_string(STORAGE_KEY)
            .and_then(|text| match serde_json::from_str(&text) {
                Ok(saved) => Some(saved),
                Err(err) => {
                    tracing::warn!("the saved undo history could not be read: {err}");
                    None
                }
            })
            .unwrap_or_default()
    }

    pub fn save(&self, storage: &mut dyn eframe::Storage) {
        match serde_json::to_string(self) {
            Ok(text) => storage.set_string(STORAGE_KEY, text),
            Err(err) => tracing::error!("could not save the undo history: {err}"),
        }
    }

    /// The history of the store `key`, or an empty one.
    pub fn get(&self, key: &str) -> History {
        self.0
            .get(key)
            .cloned()
            .map(History::from_saved)
            .unwrap_or_default()
    }

    pub fn set(&mut self, key: String, history: &History) {
        self.0.insert(key, history.saved());
    }
}

/// How long a delete is held for its Undo toast.
pub const DELETE_GRACE: Duration = Duration::from_secs(8);

#[cfg(test)]
mod tests {
    use super::*;

    fn describe(n: i64) -> Change {
        Change::Describe {
            id: ImageId(n),
            before: format!("old {n}"),
            after: format!("new {n}"),
        }
    }

    #[test]
    fn undo_then_redo_walks_back_and_forth_and_a_new_edit_clears_redo() {
        let mut history = History::default();
        history.record(describe(1));
        history.record(describe(2));
        let undone = history.take_undo().unwrap();
        assert_eq!(undone, describe(2));
        history.undone(undone);
        assert!(history.can_redo());
        let redone = history.take_redo().unwrap();
        assert_eq!(redone, describe(2));
        history.redone(redone);
        assert_eq!(history.next_undo(), Some(&describe(2)));
        let undone = history.take_undo().unwrap();
        history.undone(undone);
        history.record(describe(3));
        assert!(!history.can_redo(), "a new edit forgets the redo stack");
    }

    #[test]
    fn a_sent_delete_leaves_both_stacks() {
        let mut history = History::default();
        let held = HeldDelete {
            product: 1,
            product_name: "Lamp".into(),
            ids: vec![ImageId(4)],
            all: false,
            until: Instant::now(),
        };
        history.record(describe(1));
        history.record(Change::Delete(held));
        history.forget_delete(&[ImageId(4)]);
        assert_eq!(history.next_undo(), Some(&describe(1)));
    }

    fn held(n: i64) -> Change {
        Change::Delete(HeldDelete {
            product: 1,
            product_name: "Lamp".into(),
            ids: vec![ImageId(n)],
            all: false,
            until: Instant::now(),
        })
    }

    #[test]
    fn a_history_survives_serializing_without_its_held_deletes_and_bounded() {
        let mut history = History::default();
        for n in 0..(DEPTH as i64 + 20) {
            history.record(describe(n));
        }
        history.record(Change::Move {
            product: 3,
            before: vec![ImageId(1), ImageId(2)],
            moving: vec![ImageId(2)],
            index: 0,
        });
        history.record(Change::Thumbnail {
            product: 3,
            before: None,
            after: ImageId(2),
        });
        let undone = history.take_undo().unwrap();
        history.undone(undone);
        history.record(held(7));

        let mut saved = SavedHistories::default();
        saved.set("shop".into(), &history);
        let text = serde_json::to_string(&saved).unwrap();
        let back: SavedHistories = serde_json::from_str(&text).unwrap();
        let mut restored = back.get("shop");

        assert_eq!(
            restored.next_undo(),
            Some(&Change::Move {
                product: 3,
                before: vec![ImageId(1), ImageId(2)],
                moving: vec![ImageId(2)],
                index: 0,
            }),
            "the held delete stays behind; the change before it is next"
        );
        let mut undo = Vec::new();
        while let Some(change) = restored.take_undo() {
            undo.push(change);
        }
        assert_eq!(undo.len(), DEPTH - 1, "at most DEPTH, less the delete");
        assert!(!undo.iter().any(|c| matches!(c, Change::Delete(_))));
        assert_eq!(undo.last(), Some(&describe(22)), "the oldest fell off");
        assert!(back.get("another shop").next_undo().is_none());
    }

    #[test]
    fn a_saved_history_larger_than_the_bound_is_cut_to_its_newest_changes() {
        let saved = SavedHistory {
            undo: (0..(DEPTH as i64 * 2)).map(describe).collect(),
            redo: vec![held(1), describe(-1)],
        };
        let mut history = History::from_saved(saved);
        assert_eq!(history.saved().undo.len(), DEPTH);
        assert_eq!(history.next_undo(), Some(&describe(DEPTH as i64 * 2 - 1)));
        assert_eq!(history.take_redo(), Some(describe(-1)));
        assert!(!history.can_redo());
    }
}
