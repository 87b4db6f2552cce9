//! Undo and redo: each edit the user makes is recorded with what it replaced, so that undoing
//! it is another edit (the store only ever sees forward edits).
//!
//! Deletes are the exception that makes an Undo toast possible: a delete is *held* in the app for
//! a short grace period (the tiles disappear at once) and only then handed to the engine.
//! Undoing a held delete simply lets go of it; once it has been handed over Undo no longer
//! reaches it (the store keeps no copy of a deleted picture), but the engine kept one: the
//! picture can be restored from "Recently deleted" for 30 days (see `recently_deleted`).

use std::time::{Duration, Instant};

use crate::sync::ImageId;

/// One user edit and what it replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Enough for a working session; older edits fall off the bottom.
const DEPTH: usize = 100;

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
}
