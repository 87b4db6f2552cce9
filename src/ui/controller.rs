//! What the user's gestures mean for one store, without any drawing: which images are shown and
//! selected, and which engine calls a click, a drag, a delete, an undo or a redo asks for.
//!
//! Nothing here touches the engine or egui: each method changes the controller's state and
//! returns the engine calls it needs as [`Edit`] values, which the session hands to the backend.
//! That keeps the rules (held deletes and their grace period, what undo and redo send, what a
//! drag of a selection moves) testable with plain unit tests.

use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::history::{Change, HeldDelete, History};
use crate::sync::{ImageId, LocalImage};

/// A keyboard move of the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveStep {
    /// One place towards the first image (Alt+←).
    Back,
    /// One place towards the last (Alt+→).
    On,
    /// To the first place, the picture shoppers see first (Home, Alt+Home).
    First,
}

/// One engine call, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Describe {
        id: ImageId,
        text: String,
    },
    SetThumbnail(ImageId),
    /// `Engine::move_images(product, moving, index)`: `moving` starts at `index` of the list
    /// without them.
    Move {
        product: i64,
        moving: Vec<ImageId>,
        index: usize,
    },
    /// Puts the product's images back in `order`, as far as they still exist
    /// ([`restored_order`]).
    RestoreOrder {
        product: i64,
        order: Vec<ImageId>,
    },
    /// A held delete whose grace period is over (or the window is closing).
    Delete(HeldDelete),
    AddFiles {
        product: i64,
        paths: Vec<PathBuf>,
    },
    AddUrl {
        product: i64,
        url: String,
    },
    Replace {
        id: ImageId,
        path: PathBuf,
    },
}

impl Edit {
    /// What the edit does, for "Could not {what}: …".
    pub fn what(&self) -> &'static str {
        match self {
            Edit::Describe { .. } => "save the description",
            Edit::SetThumbnail(_) => "set the thumbnail",
            Edit::Move { .. } => "move the images",
            Edit::RestoreOrder { .. } => "restore the order",
            Edit::Delete(_) => "delete the images",
            Edit::AddFiles { .. } => "add the file",
            Edit::AddUrl { .. } => "add the image from its URL",
            Edit::Replace { .. } => "replace the picture",
        }
    }
}

/// Why an undo sent nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UndoRefused {
    /// The product had no thumbnail to go back to (the change leaves the history).
    #[error(
        "There was no thumbnail before that change; choose the one you want with \"Set as thumbnail\"."
    )]
    NoEarlierThumbnail,
}

/// The shown product's images, the selection, held deletes and the undo history of one store.
#[derive(Debug)]
pub struct Controller {
    product: Option<i64>,
    /// The product's images as the engine has them.
    all_images: Vec<LocalImage>,
    /// What the grid shows: `all_images` less the deletes held for Undo.
    images: Vec<LocalImage>,
    selection: BTreeSet<ImageId>,
    focus: Option<ImageId>,
    /// The description editor's text: the focused image's, until the user types.
    pub draft: String,
    /// What the editor's text was last saved as (or started from): the draft is committed
    /// when the focus leaves it only if it differs, so a blur after "Save" sends nothing twice.
    draft_base: String,
    history: History,
    held: Vec<HeldDelete>,
    delete_grace: Duration,
}

impl Controller {
    /// `delete_grace`: how long a delete waits for Undo before it goes to the engine.
    pub fn new(delete_grace: Duration) -> Controller {
        Controller {
            product: None,
            all_images: Vec::new(),
            images: Vec::new(),
            selection: BTreeSet::new(),
            focus: None,
            draft: String::new(),
            draft_base: String::new(),
            history: History::default(),
            held: Vec::new(),
            delete_grace,
        }
    }

    pub fn product(&self) -> Option<i64> {
        self.product
    }

    /// The images shown, in order.
    pub fn images(&self) -> &[LocalImage] {
        &self.images
    }

    pub fn selection(&self) -> &BTreeSet<ImageId> {
        &self.selection
    }

    pub fn focus(&self) -> Option<ImageId> {
        self.focus
    }

    pub fn focused_image(&self) -> Option<&LocalImage> {
        let focus = self.focus?;
        self.images.iter().find(|i| i.id == focus)
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Replaces the (empty) history with one saved by a previous run.
    pub fn restore_history(&mut self, history: History) {
        self.history = history;
    }

    /// Deletes waiting out their grace period, oldest first.
    pub fn held(&self) -> &[HeldDelete] {
        &self.held
    }

    pub fn delete_grace(&self) -> Duration {
        self.delete_grace
    }

    pub fn is_shown(&self, id: ImageId) -> bool {
        self.images.iter().any(|i| i.id == id)
    }

    /// Shows another product; its images arrive later through [`Controller::set_images`].
    /// A description typed and not saved is committed first (see [`Controller::commit_draft`]).
    pub fn select_product(&mut self, product: i64) -> Option<Edit> {
        let mut commit = None;
        if self.product != Some(product) {
            commit = self.commit_draft();
            self.product = Some(product);
            self.all_images.clear();
            self.images.clear();
            self.selection.clear();
            self.focus = None;
        }
        commit
    }

    /// The engine's images of `product_id` (ignored unless it is the product shown).
    pub fn set_images(&mut self, product_id: i64, images: Vec<LocalImage>) {
        if Some(product_id) == self.product {
            self.all_images = images;
            self.refilter();
        }
    }

    /// A click on a tile: alone it selects only it, `add` (Ctrl) toggles it, `extend` (Shift)
    /// selects the range from the focused tile. When the focus moves, a description typed and
    /// not saved is committed as an edit, like a form that saves on blur.
    pub fn click(&mut self, id: ImageId, add: bool, extend: bool) -> Option<Edit> {
        let mut commit = None;
        if extend && let Some(anchor) = self.focus {
            let position = |x: ImageId| self.images.iter().position(|i| i.id == x);
            if let (Some(a), Some(b)) = (position(anchor), position(id)) {
                let (lo, hi) = (a.min(b), a.max(b));
                self.selection
                    .extend(self.images[lo..=hi].iter().map(|i| i.id));
            }
        } else if add {
            if !self.selection.remove(&id) {
                self.selection.insert(id);
            }
        } else {
            self.selection.clear();
            self.selection.insert(id);
        }
        if self.focus != Some(id) {
            commit = self.commit_draft();
            self.focus = Some(id);
            self.draft = self
                .focused_image()
                .map(|i| i.description.clone())
                .unwrap_or_default();
            self.draft_base = self.draft.clone();
        }
        commit
    }

    /// The focused image's typed description as an edit (recorded for undo), if it differs
    /// from what the editor last saved; `None` when nothing was typed.
    pub fn commit_draft(&mut self) -> Option<Edit> {
        let id = self.focus?;
        if self.draft == self.draft_base {
            return None;
        }
        self.describe(id, self.draft.clone())
    }

    /// Escape in the editor: the typed text goes back to what was last saved.
    pub fn revert_draft(&mut self) {
        self.draft = self.draft_base.clone();
    }

    pub fn select_all(&mut self) {
        self.selection = self.images.iter().map(|i| i.id).collect();
    }

    pub fn clear_selection(&mut self) {
        self.selection.clear();
    }

    /// The dragged tile (with the rest of the selection, if it is part of it) dropped in the gap
    /// before the tile at `slot` of the list shown (`slot` = the list's length: at the end), as
    /// the grid's insertion line showed it.
    pub fn move_to_slot(&mut self, dragged: ImageId, slot: usize) -> Option<Edit> {
        let moving = if self.selection.contains(&dragged) {
            self.selected_in_order()
        } else {
            vec![dragged]
        };
        let index = self
            .images
            .iter()
            .take(slot)
            .filter(|i| !moving.contains(&i.id))
            .count();
        self.move_to_index(moving, index)
    }

    /// The selection (in list order) one place back or on, or first (the keyboard's moves).
    pub fn move_selection(&mut self, step: MoveStep) -> Option<Edit> {
        let moving = self.selected_in_order();
        let first = self.images.iter().position(|i| moving.contains(&i.id))?;
        // Where the selection's first image sits in the list without the selection.
        let at = self.images[..first]
            .iter()
            .filter(|i| !moving.contains(&i.id))
            .count();
        let index = match step {
            MoveStep::Back => at.checked_sub(1)?,
            MoveStep::On => at + 1,
            MoveStep::First => 0,
        };
        self.move_to_index(moving, index)
    }

    fn selected_in_order(&self) -> Vec<ImageId> {
        self.images
            .iter()
            .map(|i| i.id)
            .filter(|id| self.selection.contains(id))
            .collect()
    }

    /// Moves `moving` to start at `index` of the list without them; nothing when that is
    /// where they are already.
    fn move_to_index(&mut self, moving: Vec<ImageId>, index: usize) -> Option<Edit> {
        let product = self.product?;
        if moving.is_empty() {
            return None;
        }
        let order: Vec<ImageId> = self.images.iter().map(|i| i.id).collect();
        let mut after: Vec<ImageId> = order
            .iter()
            .copied()
            .filter(|id| !moving.contains(id))
            .collect();
        let index = index.min(after.len());
        after.splice(index..index, moving.iter().copied());
        if after == order {
            return None;
        }
        self.history.record(Change::Move {
            product,
            before: self.all_images.iter().map(|i| i.id).collect(),
            moving: moving.clone(),
            index,
        });
        Some(Edit::Move {
            product,
            moving,
            index,
        })
    }

    /// The user saved a description (recorded for undo).
    pub fn describe(&mut self, id: ImageId, text: String) -> Option<Edit> {
        // Saved already (the button, then the blur): nothing new to send or to undo.
        if self.focus == Some(id) && text == self.draft_base {
            return None;
        }
        self.recorded_describe(id, text)
    }

    /// A describe edit of a shown image, recorded for undo with the text it replaces.
    fn recorded_describe(&mut self, id: ImageId, text: String) -> Option<Edit> {
        let before = self.images.iter().find(|i| i.id == id)?.description.clone();
        self.history.record(Change::Describe {
            id,
            before,
            after: text.clone(),
        });
        Some(self.describe_edit(id, text))
    }

    /// Descriptions for every selected image from `pattern` ([`fill_pattern`]): one ordinary
    /// describe edit (undoable, queued like any other) per image whose text changes.
    pub fn describe_selection(&mut self, pattern: &str, product: &str, sku: &str) -> Vec<Edit> {
        let changed: Vec<(ImageId, String)> = self
            .images
            .iter()
            .enumerate()
            .filter(|(_, image)| self.selection.contains(&image.id))
            .map(|(at, image)| (image, fill_pattern(pattern, product, sku, at + 1)))
            .filter(|(image, text)| image.description != *text)
            .map(|(image, text)| (image.id, text))
            .collect();
        changed
            .into_iter()
            .filter_map(|(id, text)| self.recorded_describe(id, text))
            .collect()
    }

    /// Descriptions for images of any product (the bulk edit of several products):
    /// `(image, before, after)`, each recorded for undo and sent as an ordinary describe edit.
    pub fn describe_images(&mut self, changes: Vec<(ImageId, String, String)>) -> Vec<Edit> {
        changes
            .into_iter()
            .filter(|(_, before, after)| before != after)
            .map(|(id, before, after)| {
                self.history.record(Change::Describe {
                    id,
                    before,
                    after: after.clone(),
                });
                self.describe_edit(id, after)
            })
            .collect()
    }

    /// A description typed in the alt-text prompt for a picture just added: recorded for undo
    /// like [`Controller::describe`], also when its product is no longer shown or its row has
    /// not been read back yet (a new picture had no description). A blank one sends nothing.
    pub fn describe_added(&mut self, id: ImageId, text: String) -> Option<Edit> {
        let before = self
            .all_images
            .iter()
            .find(|i| i.id == id)
            .map_or_else(String::new, |i| i.description.clone());
        if text.trim().is_empty() || text == before {
            return None;
        }
        self.history.record(Change::Describe {
            id,
            before,
            after: text.clone(),
        });
        Some(self.describe_edit(id, text))
    }

    /// The user made an image the thumbnail (recorded for undo).
    pub fn set_thumbnail(&mut self, id: ImageId) -> Option<Edit> {
        let product = self.images.iter().find(|i| i.id == id)?.product_id;
        let before = self.images.iter().find(|i| i.is_thumbnail).map(|i| i.id);
        self.history.record(Change::Thumbnail {
            product,
            before,
            after: id,
        });
        Some(Edit::SetThumbnail(id))
    }

    /// Undoes the last change: another forward edit, or letting go of a held delete.
    pub fn undo(&mut self) -> Result<Option<Edit>, UndoRefused> {
        let Some(change) = self.history.take_undo() else {
            return Ok(None);
        };
        let edit = match &change {
            Change::Describe { id, before, .. } => Some(self.describe_edit(*id, before.clone())),
            Change::Thumbnail { before: None, .. } => return Err(UndoRefused::NoEarlierThumbnail),
            Change::Thumbnail {
                before: Some(id), ..
            } => Some(Edit::SetThumbnail(*id)),
            Change::Move {
                product, before, ..
            } => Some(Edit::RestoreOrder {
                product: *product,
                order: before.clone(),
            }),
            Change::Delete(held) => {
                // Only a delete still held can be undone (sent ones leave the history).
                self.held.retain(|h| h.ids != held.ids);
                self.refilter();
                None
            }
        };
        self.history.undone(change);
        Ok(edit)
    }

    /// Redoes the last undone change; a delete is held again for a full grace period.
    pub fn redo(&mut self, now: Instant) -> Option<Edit> {
        let change = self.history.take_redo()?;
        let edit = match &change {
            Change::Describe { id, after, .. } => self.describe_edit(*id, after.clone()),
            Change::Thumbnail { after, .. } => Edit::SetThumbnail(*after),
            Change::Move {
                product,
                moving,
                index,
                ..
            } => Edit::Move {
                product: *product,
                moving: moving.clone(),
                index: *index,
            },
            Change::Delete(held) => {
                let mut again = held.clone();
                again.until = now + self.delete_grace;
                self.held.push(again.clone());
                self.refilter();
                self.history.redone(Change::Delete(again));
                return None;
            }
        };
        self.history.redone(change);
        Some(edit)
    }

    /// Holds a delete of the selected images of the shown product, called `product_name`.
    pub fn delete_selection(&mut self, product_name: String, now: Instant) {
        let Some(product) = self.product else { return };
        if self.selection.is_empty() {
            return;
        }
        self.hold_delete(product, product_name, false, now);
    }

    /// Holds a delete of every image shown (the user confirmed "Delete all images").
    pub fn delete_all(&mut self, product: i64, product_name: String, now: Instant) {
        self.hold_delete(product, product_name, true, now);
    }

    /// Holds a delete of every image `ids` of `product`, which need not be the one shown (the
    /// bulk delete of several products): like "Delete all images", with Undo and the toast.
    pub fn delete_all_of(
        &mut self,
        product: i64,
        product_name: String,
        ids: Vec<ImageId>,
        now: Instant,
    ) {
        if ids.is_empty() {
            return;
        }
        let held = HeldDelete {
            product,
            product_name,
            ids,
            all: true,
            until: now + self.delete_grace,
        };
        self.history.record(Change::Delete(held.clone()));
        self.held.push(held);
        self.refilter();
    }

    /// Hides the images at once; the delete goes to the engine when its grace period ends.
    fn hold_delete(&mut self, product: i64, product_name: String, all: bool, now: Instant) {
        let ids: Vec<ImageId> = self
            .images
            .iter()
            .map(|i| i.id)
            .filter(|id| all || self.selection.contains(id))
            .collect();
        if ids.is_empty() {
            return;
        }
        let held = HeldDelete {
            product,
            product_name,
            ids,
            all,
            until: now + self.delete_grace,
        };
        self.history.record(Change::Delete(held.clone()));
        self.held.push(held);
        self.selection.clear();
        self.refilter();
    }

    /// The toast's "Undo delete": lets go of the held delete of `ids`.
    pub fn release_held(&mut self, ids: &[ImageId]) {
        let before = self.held.len();
        self.held.retain(|h| h.ids != ids);
        if self.held.len() != before {
            self.history.forget_delete(ids);
            self.refilter();
        }
    }

    /// The held deletes whose grace period is over, as edits (they leave the history: the
    /// store keeps no copy to undo them with), and when the next one falls due.
    pub fn take_due_deletes(&mut self, now: Instant) -> (Vec<Edit>, Option<Instant>) {
        let (due, waiting): (Vec<HeldDelete>, Vec<HeldDelete>) =
            self.held.drain(..).partition(|h| h.until <= now);
        self.held = waiting;
        let next = self.held.iter().map(|h| h.until).min();
        let edits = due
            .into_iter()
            .map(|held| {
                self.history.forget_delete(&held.ids);
                Edit::Delete(held)
            })
            .collect();
        (edits, next)
    }

    /// Every held delete, due or not: the window is closing or the store is switched, and what
    /// the user saw deleted must stay deleted.
    pub fn take_held(&mut self) -> Vec<Edit> {
        std::mem::take(&mut self.held)
            .into_iter()
            .map(Edit::Delete)
            .collect()
    }

    fn describe_edit(&mut self, id: ImageId, text: String) -> Edit {
        if self.focus == Some(id) {
            self.draft = text.clone();
            self.draft_base = text.clone();
        }
        Edit::Describe { id, text }
    }

    /// Recomputes what the grid shows after the images or the held deletes changed.
    fn refilter(&mut self) {
        let hidden: HashSet<ImageId> = self
            .held
            .iter()
            .flat_map(|h| h.ids.iter().copied())
            .collect();
        self.images = self
            .all_images
            .iter()
            .filter(|i| !hidden.contains(&i.id))
            .cloned()
            .collect();
        let shown: HashSet<ImageId> = self.images.iter().map(|i| i.id).collect();
        self.selection.retain(|id| shown.contains(id));
        if self.focus.is_some_and(|f| !shown.contains(&f)) {
            self.focus = None;
        }
    }
}

/// The order to restore: `wanted` as far as its images still exist (`now`), then the images
/// added since, in their current order.
pub fn restored_order(wanted: Vec<ImageId>, now: Vec<ImageId>) -> Vec<ImageId> {
    let mut desired: Vec<ImageId> = wanted.into_iter().filter(|id| now.contains(id)).collect();
    let added: Vec<ImageId> = now.into_iter().filter(|id| !desired.contains(id)).collect();
    desired.extend(added);
    desired
}

/// Whether a held delete goes out as one "delete all" request: only when it was one and the
/// product (`now`) has no image that was added since the user confirmed.
pub fn sends_as_delete_all(held: &HeldDelete, now: &[ImageId]) -> bool {
    held.all && now.iter().all(|id| held.ids.contains(id))
}

/// The image a conflict's value names ("#13").
pub fn parse_image_id(text: &str) -> Option<ImageId> {
    text.trim_start_matches('#').parse().ok().map(ImageId)
}

/// The placeholders of a bulk alt text: `{product}` (its name), `{sku}`, `{n}` (the image's
/// position, counting from 1).
pub const PATTERN_HELP: &str =
    "{product} is the product's name, {sku} its SKU, {n} the image's position (1, 2, …)";

/// `pattern` with its placeholders filled in for the image at `position` (from 1).
pub fn fill_pattern(pattern: &str, product: &str, sku: &str, position: usize) -> String {
    pattern
        .replace("{product}", product)
        .replace("{sku}", sku)
        .replace("{n}", &position.to_string())
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_pattern_names_the_product_sku_and_position() {
        assert_eq!(
            fill_pattern("{product} — view {n} ({sku})", "Lamp", "L-1", 3),
            "Lamp — view 3 (L-1)"
        );
        assert_eq!(fill_pattern("  plain  ", "Lamp", "", 1), "plain");
    }
    use super::*;

    const LAMP: i64 = 7;
    const GRACE: Duration = Duration::from_secs(8);

    fn image(n: i64) -> LocalImage {
        LocalImage {
            sort_order: 0,
            is_thumbnail: n == 1,
            description: format!("img-{n}"),
            image_file: format!("p{n}.jpg"),
            ..LocalImage::example(n, LAMP)
        }
    }

    /// The Lamp product shown, with images 1..=n (image 1 the thumbnail).
    fn lamp(n: i64) -> Controller {
        let mut controller = Controller::new(GRACE);
        controller.select_product(LAMP);
        controller.set_images(LAMP, (1..=n).map(image).collect());
        controller
    }

    fn ids(list: &[i64]) -> Vec<ImageId> {
        list.iter().copied().map(ImageId).collect()
    }

    fn shown(controller: &Controller) -> Vec<ImageId> {
        controller.images().iter().map(|i| i.id).collect()
    }

    #[test]
    fn dragging_one_tile_forward_lands_after_the_target() {
        let mut c = lamp(3);
        let edit = c.move_to_slot(ImageId(1), 3);
        assert_eq!(
            edit,
            Some(Edit::Move {
                product: LAMP,
                moving: ids(&[1]),
                index: 2,
            }),
            "without 1 the list is [2, 3]; after 3 is index 2"
        );
    }

    #[test]
    fn dragging_one_tile_back_lands_before_the_target() {
        let mut c = lamp(4);
        let edit = c.move_to_slot(ImageId(4), 1);
        assert_eq!(
            edit,
            Some(Edit::Move {
                product: LAMP,
                moving: ids(&[4]),
                index: 1,
            })
        );
    }

    #[test]
    fn dragging_a_selected_tile_moves_the_whole_selection_in_order() {
        let mut c = lamp(4);
        c.click(ImageId(3), false, false);
        c.click(ImageId(1), true, false);
        let edit = c.move_to_slot(ImageId(1), 4);
        assert_eq!(
            edit,
            Some(Edit::Move {
                product: LAMP,
                moving: ids(&[1, 3]),
                index: 2,
            }),
            "the selection keeps its order; the rest is [2, 4]"
        );
    }

    #[test]
    fn dragging_an_unselected_tile_leaves_the_selection_behind() {
        let mut c = lamp(3);
        c.click(ImageId(2), false, false);
        let edit = c.move_to_slot(ImageId(1), 3);
        assert!(matches!(edit, Some(Edit::Move { moving, .. }) if moving == ids(&[1])));
    }

    #[test]
    fn dropping_a_selection_onto_one_of_its_own_tiles_does_nothing() {
        let mut c = lamp(3);
        c.click(ImageId(1), false, false);
        c.click(ImageId(2), true, false);
        assert_eq!(c.move_to_slot(ImageId(1), 2), None);
        assert!(!c.history().can_undo(), "nothing recorded");
    }

    #[test]
    fn a_move_is_undone_by_restoring_the_order_and_redone_by_the_same_move() {
        let mut c = lamp(3);
        let moved = c.move_to_slot(ImageId(1), 3);
        assert_eq!(
            c.undo(),
            Ok(Some(Edit::RestoreOrder {
                product: LAMP,
                order: ids(&[1, 2, 3]),
            }))
        );
        assert_eq!(c.redo(Instant::now()), moved);
    }

    #[test]
    fn the_order_restored_keeps_images_added_since_at_the_end() {
        let order = restored_order(ids(&[3, 1, 2]), ids(&[1, 2, 4, 5]));
        assert_eq!(order, ids(&[1, 2, 4, 5]));
        let order = restored_order(ids(&[3, 1, 2]), ids(&[1, 2, 3, 4]));
        assert_eq!(order, ids(&[3, 1, 2, 4]));
    }

    #[test]
    fn a_delete_hides_the_tiles_at_once_and_goes_to_the_engine_after_its_grace() {
        let start = Instant::now();
        let mut c = lamp(3);
        c.click(ImageId(2), false, false);
        c.delete_selection("Lamp".into(), start);
        assert_eq!(shown(&c), ids(&[1, 3]));
        assert!(c.selection().is_empty());
        assert_eq!(c.focus(), None, "the focused tile went");

        let (sent, next) = c.take_due_deletes(start + GRACE / 2);
        assert!(sent.is_empty(), "held during the grace period");
        assert_eq!(next, Some(start + GRACE));

        let (sent, next) = c.take_due_deletes(start + GRACE);
        assert_eq!(next, None);
        let [Edit::Delete(held)] = sent.as_slice() else {
            panic!("one delete due, got {sent:?}");
        };
        assert_eq!(
            (held.product, held.ids.clone(), held.all),
            (LAMP, ids(&[2]), false)
        );
        assert_eq!(held.product_name, "Lamp");
        assert!(!c.history().can_undo(), "a sent delete cannot be undone");
    }

    #[test]
    fn undoing_a_held_delete_brings_the_tiles_back_and_sends_nothing() {
        let start = Instant::now();
        let mut c = lamp(3);
        c.click(ImageId(3), false, false);
        c.delete_selection("Lamp".into(), start);
        assert_eq!(c.undo(), Ok(None));
        assert_eq!(shown(&c), ids(&[1, 2, 3]));
        let (sent, next) = c.take_due_deletes(start + GRACE * 2);
        assert!(sent.is_empty());
        assert_eq!(next, None);
    }

    #[test]
    fn the_toast_lets_go_of_its_delete_and_the_history_forgets_it() {
        let start = Instant::now();
        let mut c = lamp(3);
        c.click(ImageId(1), false, false);
        c.delete_selection("Lamp".into(), start);
        c.release_held(&ids(&[1]));
        assert_eq!(shown(&c), ids(&[1, 2, 3]));
        assert!(c.held().is_empty());
        assert!(!c.history().can_undo());
    }

    #[test]
    fn redoing_a_delete_holds_it_again_for_a_full_grace_period() {
        let start = Instant::now();
        let mut c = lamp(3);
        c.click(ImageId(2), false, false);
        c.delete_selection("Lamp".into(), start);
        assert_eq!(c.undo(), Ok(None));
        let later = start + GRACE * 3;
        assert_eq!(c.redo(later), None, "a delete is held, not sent");
        assert_eq!(shown(&c), ids(&[1, 3]));
        assert_eq!(c.held()[0].until, later + GRACE);
        assert!(c.history().can_undo(), "and can be undone again");
    }

    #[test]
    fn delete_all_holds_every_shown_image_and_closing_hands_over_what_is_held() {
        let start = Instant::now();
        let mut c = lamp(3);
        c.delete_all(LAMP, "Lamp".into(), start);
        assert!(c.images().is_empty());
        let held = c.take_held();
        let [Edit::Delete(held)] = held.as_slice() else {
            panic!("one delete held, got {held:?}");
        };
        assert!(held.all);
        assert_eq!(held.ids, ids(&[1, 2, 3]));
        assert!(c.held().is_empty());
    }

    #[test]
    fn bulk_edits_of_other_products_are_recorded_for_undo_and_held_like_delete_all() {
        let start = Instant::now();
        let mut c = lamp(2);
        let edits = c.describe_images(vec![
            (ImageId(40), String::new(), "Desk — view 1".into()),
            (ImageId(41), "same".into(), "same".into()),
        ]);
        assert_eq!(
            edits,
            [Edit::Describe {
                id: ImageId(40),
                text: "Desk — view 1".into()
            }],
            "an unchanged text sends nothing"
        );
        assert_eq!(
            c.undo(),
            Ok(Some(Edit::Describe {
                id: ImageId(40),
                text: String::new()
            }))
        );
        // Another product's images are held as a delete-all; the shown ones stay.
        c.delete_all_of(9, "Desk".into(), ids(&[40, 41]), start);
        assert_eq!(c.images().len(), 2);
        assert_eq!(c.undo(), Ok(None), "Ctrl+Z lets go of it");
        assert!(c.held().is_empty());
        c.delete_all_of(9, "Desk".into(), ids(&[40, 41]), start);
        let (due, _) = c.take_due_deletes(start + GRACE);
        let [Edit::Delete(held)] = due.as_slice() else {
            panic!("one delete due, got {due:?}");
        };
        assert!(held.all);
        assert_eq!((held.product, held.ids.clone()), (9, ids(&[40, 41])));
    }

    #[test]
    fn delete_all_goes_out_as_one_request_only_if_nothing_was_added_since() {
        let held = HeldDelete {
            product: LAMP,
            product_name: "Lamp".into(),
            ids: ids(&[1, 2]),
            all: true,
            until: Instant::now(),
        };
        assert!(sends_as_delete_all(&held, &ids(&[1, 2])));
        assert!(!sends_as_delete_all(&held, &ids(&[1, 2, 9])));
        let some = HeldDelete { all: false, ..held };
        assert!(!sends_as_delete_all(&some, &ids(&[1, 2])));
    }

    #[test]
    fn a_typed_description_is_saved_when_the_focus_moves_and_only_once() {
        let mut c = lamp(3);
        c.click(ImageId(2), false, false);
        c.draft = "typed".into();
        let commit = c.click(ImageId(3), false, false);
        assert_eq!(
            commit,
            Some(Edit::Describe {
                id: ImageId(2),
                text: "typed".into()
            })
        );
        assert_eq!(c.draft, "img-3", "the editor follows the focus");
        assert!(c.history().can_undo());

        // Saved with the button, then the field loses the focus: one edit, not two.
        c.draft = "saved".into();
        assert!(c.describe(ImageId(3), "saved".into()).is_some());
        assert_eq!(c.commit_draft(), None);
        assert_eq!(c.click(ImageId(1), false, false), None);

        // Escape drops what was typed; nothing is committed afterwards.
        c.draft = "dropped".into();
        c.revert_draft();
        assert_eq!(c.draft, "img-1");
        assert_eq!(c.select_product(LAMP + 1), None);
    }

    #[test]
    fn a_description_is_undone_and_redone_and_the_editor_follows() {
        let mut c = lamp(2);
        c.click(ImageId(2), false, false);
        assert_eq!(c.draft, "img-2");
        let saved = c.describe(ImageId(2), "front".into());
        assert_eq!(
            saved,
            Some(Edit::Describe {
                id: ImageId(2),
                text: "front".into()
            })
        );
        assert_eq!(
            c.undo(),
            Ok(Some(Edit::Describe {
                id: ImageId(2),
                text: "img-2".into()
            }))
        );
        assert_eq!(
            c.draft, "img-2",
            "the focused image's editor shows the old text"
        );
        assert_eq!(c.redo(Instant::now()), saved);
        assert_eq!(c.draft, "front");
    }

    #[test]
    fn a_thumbnail_change_is_undone_to_the_previous_thumbnail() {
        let mut c = lamp(3);
        assert_eq!(
            c.set_thumbnail(ImageId(3)),
            Some(Edit::SetThumbnail(ImageId(3)))
        );
        assert_eq!(c.undo(), Ok(Some(Edit::SetThumbnail(ImageId(1)))));
        assert_eq!(c.redo(Instant::now()), Some(Edit::SetThumbnail(ImageId(3))));
    }

    #[test]
    fn without_an_earlier_thumbnail_undo_refuses_and_drops_the_change() {
        let mut c = Controller::new(GRACE);
        c.select_product(LAMP);
        let mut images: Vec<LocalImage> = (1..=2).map(image).collect();
        images[0].is_thumbnail = false;
        c.set_images(LAMP, images);
        c.set_thumbnail(ImageId(2));
        assert_eq!(c.undo(), Err(UndoRefused::NoEarlierThumbnail));
        assert!(!c.history().can_undo());
        assert!(!c.history().can_redo());
    }

    #[test]
    fn clicks_select_one_toggle_with_ctrl_and_extend_with_shift() {
        let mut c = lamp(5);
        c.click(ImageId(2), false, false);
        c.click(ImageId(4), false, true);
        assert_eq!(
            c.selection().iter().copied().collect::<Vec<_>>(),
            ids(&[2, 3, 4])
        );
        c.click(ImageId(3), true, false);
        assert_eq!(
            c.selection().iter().copied().collect::<Vec<_>>(),
            ids(&[2, 4])
        );
        c.click(ImageId(5), false, false);
        assert_eq!(c.selection().iter().copied().collect::<Vec<_>>(), ids(&[5]));
        assert_eq!(c.focus(), Some(ImageId(5)));
        c.select_all();
        assert_eq!(c.selection().len(), 5);
        c.clear_selection();
        assert!(c.selection().is_empty());
    }

    #[test]
    fn another_product_starts_empty_and_late_images_of_the_old_one_are_ignored() {
        let mut c = lamp(3);
        c.click(ImageId(1), false, false);
        c.select_product(LAMP + 1);
        assert!(c.images().is_empty());
        assert!(c.selection().is_empty());
        assert_eq!(c.focus(), None);
        c.set_images(LAMP, (1..=3).map(image).collect());
        assert!(c.images().is_empty(), "a late answer for the old product");
    }

    #[test]
    fn keyboard_moves_step_the_selection_and_put_it_first() {
        let mut c = lamp(4);
        c.click(ImageId(2), false, false);
        c.click(ImageId(3), true, false);
        let on = c.move_selection(MoveStep::On);
        assert!(
            matches!(&on, Some(Edit::Move { moving, index: 2, .. }) if *moving == ids(&[2, 3])),
            "without 2 and 3 the list is [1, 4]: one place on is after 4, {on:?}"
        );
        let first = c.move_selection(MoveStep::First);
        assert!(matches!(first, Some(Edit::Move { index: 0, .. })));
        c.click(ImageId(1), false, false);
        assert_eq!(
            c.move_selection(MoveStep::Back),
            None,
            "the first image goes no further back"
        );
    }
}
