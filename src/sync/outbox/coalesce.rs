//! Coalescing: how a new edit joins the queue, as a pure function.
//!
//! The queue always holds the fewest requests that reach what the user sees: a later value of
//! a field replaces the queued one (or rides along in the image's unsent create), an image
//! created and deleted before it was sent leaves nothing behind, and moves share one queued
//! reorder whose plan is made when it is sent. [`coalesce`] decides; `Outbox::apply` (SQL) and
//! [`apply`] (memory, for tests) carry the decision out.
//!
//! The rule all of it must keep, tested below for arbitrary sequences: sending the coalesced
//! queue leaves the store exactly as sending every edit one by one would.

use super::super::model::ImageId;
use super::edit::{Base, Edit, EditState, NewEdit, Queued};

/// One step of carrying out a coalescing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Append(NewEdit),
    /// The queued edit now says `edit`; it becomes pending again and its revision moves (so an
    /// in-flight send of the old value is not taken as confirming the new one).
    Fold {
        seq: i64,
        edit: Edit,
    },
    /// A later move joins a queued reorder: same edit, new revision.
    Bump {
        seq: i64,
    },
    Remove {
        seq: i64,
    },
    /// The store never saw this image: its row and every edit queued for it go.
    Forget(ImageId),
}

/// For a delete: whether the deleted image was the product's thumbnail as the user sees it, and
/// which image took over (the first one left, as the store's own rule picks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Successor {
    NotThumbnail,
    Next(ImageId),
    NoneLeft,
}

/// What the product's queue (`queue`, oldest first, this product's readable edits only) must
/// do to take `new`. `successor` matters only for a delete.
pub(crate) fn coalesce(queue: &[Queued], new: NewEdit, successor: Successor) -> Vec<Change> {
    let append = |new: NewEdit| vec![Change::Append(new)];
    match &new.edit {
        Edit::Create { .. } => append(new),
        Edit::Describe { image, description } => {
            if let Some(create) = unsent_create(queue, *image) {
                return vec![fold_into_create(create, |c| {
                    if let Edit::Create { description: d, .. } = c {
                        d.clone_from(description);
                    }
                })];
            }
            match latest(
                queue,
                |e| matches!(e, Edit::Describe { image: i, .. } if i == image),
            ) {
                Some(queued) => vec![Change::Fold {
                    seq: queued.seq,
                    edit: new.edit.clone(),
                }],
                None => append(new),
            }
        }
        Edit::Replace { image, source, .. } => {
            if let Some(create) = unsent_create(queue, *image) {
                return vec![fold_into_create(create, |c| {
                    if let Edit::Create { source: s, .. } = c {
                        s.clone_from(source);
                    }
                })];
            }
            let unsent_replace = latest(
                queue,
                |e| matches!(e, Edit::Replace { image: i, .. } if i == image),
            )
            .filter(|q| q.attempts == 0);
            match unsent_replace {
                Some(queued) => vec![Change::Fold {
                    seq: queued.seq,
                    edit: new.edit.clone(),
                }],
                None => append(new),
            }
        }
        Edit::SetThumbnail { .. } => {
            // One thumbnail choice per product: the last one.
            match latest(queue, |e| matches!(e, Edit::SetThumbnail { .. })) {
                Some(queued) => vec![Change::Fold {
                    seq: queued.seq,
                    edit: new.edit.clone(),
                }],
                None => append(new),
            }
        }
        Edit::Reorder => {
            // One queued reorder serves every later move, as long as no create was queued after
            // it: the image that create adds has no store id when that reorder is sent.
            let last_create = queue
                .iter()
                .filter(|q| matches!(q.edit, Edit::Create { .. }))
                .map(|q| q.seq)
                .max()
                .unwrap_or(0);
            let absorbing = queue.iter().rev().find(|q| {
                q.edit == Edit::Reorder && q.state == EditState::Pending && q.seq > last_create
            });
            match absorbing {
                Some(queued) => vec![Change::Bump { seq: queued.seq }],
                None => append(new),
            }
        }
        Edit::Delete { image } => {
            let mut changes = pass_thumbnail_on(queue, *image, new.product_id, successor);
            if unsent_create(queue, *image).is_some() {
                changes.push(Change::Forget(*image));
                return changes;
            }
            changes.extend(
                queue
                    .iter()
                    .filter(|q| q.edit.image() == Some(*image) && made_moot_by_delete(q))
                    .map(|q| Change::Remove { seq: q.seq }),
            );
            changes.push(Change::Append(new));
            changes
        }
        Edit::DeleteAll => {
            let mut changes = Vec::new();
            let mut forgotten = Vec::new();
            for queued in queue {
                if let Edit::Create { image, .. } = queued.edit
                    && queued.is_unsent()
                {
                    forgotten.push(image);
                    changes.push(Change::Forget(image));
                }
            }
            changes.extend(
                queue
                    .iter()
                    .filter(|q| q.edit.image().is_none_or(|i| !forgotten.contains(&i)))
                    .filter(|q| {
                        made_moot_by_delete(q)
                            || matches!(q.edit, Edit::Reorder | Edit::SetThumbnail { .. })
                    })
                    .map(|q| Change::Remove { seq: q.seq }),
            );
            changes.push(Change::Append(new));
            changes
        }
    }
}

/// Field edits a delete makes pointless. A replace whose first half may have reached the store
/// stays, so that its new record is cleaned up. Thumbnail choices are handled by
/// [`pass_thumbnail_on`].
fn made_moot_by_delete(queued: &Queued) -> bool {
    match queued.edit {
        Edit::Describe { .. } => true,
        Edit::Replace { .. } => queued.attempts == 0,
        _ => false,
    }
}

/// Deleting the thumbnail makes the first image left the thumbnail, locally at once. The store
/// does the same when the delete arrives, but its "first" then depends on which moves it has
/// received, so the choice is queued explicitly: it folds into a queued choice or joins the
/// queue. With no image left, a queued choice goes.
fn pass_thumbnail_on(
    queue: &[Queued],
    deleted: ImageId,
    product_id: i64,
    successor: Successor,
) -> Vec<Change> {
    let queued = latest(queue, |e| matches!(e, Edit::SetThumbnail { .. }));
    match (successor, queued) {
        (Successor::Next(next), Some(queued)) => vec![Change::Fold {
            seq: queued.seq,
            edit: Edit::SetThumbnail { image: next },
        }],
        (Successor::Next(next), None) => vec![Change::Append(NewEdit {
            product_id,
            edit: Edit::SetThumbnail { image: next },
            base: Base {
                value: Some(deleted.to_string()),
                modified: None,
            },
            idempotency_key: None,
        })],
        (Successor::NoneLeft, Some(queued)) => vec![Change::Remove { seq: queued.seq }],
        (Successor::NotThumbnail, Some(queued))
            if queued.edit == (Edit::SetThumbnail { image: deleted }) =>
        {
            vec![Change::Remove { seq: queued.seq }]
        }
        _ => Vec::new(),
    }
}

fn latest(queue: &[Queued], matches: impl Fn(&Edit) -> bool) -> Option<&Queued> {
    queue.iter().rev().find(|q| matches(&q.edit))
}

fn unsent_create(queue: &[Queued], image: ImageId) -> Option<&Queued> {
    latest(
        queue,
        |e| matches!(e, Edit::Create { image: i, .. } if *i == image),
    )
    .filter(|q| q.is_unsent())
}

fn fold_into_create(create: &Queued, change: impl FnOnce(&mut Edit)) -> Change {
    let mut edit = create.edit.clone();
    change(&mut edit);
    Change::Fold {
        seq: create.seq,
        edit,
    }
}

/// Carries out `changes` on an in-memory queue, as `Outbox::apply` does in SQL.
#[cfg(test)]
pub(crate) fn apply(queue: &mut Vec<Queued>, changes: Vec<Change>) {
    for change in changes {
        match change {
            Change::Append(new) => {
                let seq = queue.iter().map(|q| q.seq).max().unwrap_or(0) + 1;
                queue.push(Queued {
                    seq,
                    product_id: new.product_id,
                    edit: new.edit,
                    revision: 0,
                    base: new.base,
                    idempotency_key: new.idempotency_key,
                    state: EditState::Pending,
                    attempts: 0,
                    last_attempt_ms: None,
                    created_ms: 0,
                });
            }
            Change::Fold { seq, edit } => {
                if let Some(q) = queue.iter_mut().find(|q| q.seq == seq) {
                    q.state = q.state.after_fold(&edit);
                    q.edit = edit;
                    q.revision += 1;
                }
            }
            Change::Bump { seq } => {
                if let Some(q) = queue.iter_mut().find(|q| q.seq == seq) {
                    q.revision += 1;
                }
            }
            Change::Remove { seq } => queue.retain(|q| q.seq != seq),
            Change::Forget(image) => queue.retain(|q| q.edit.image() != Some(image)),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::edit::Source;
    use super::*;

    const PRODUCT: i64 = 1;

    /// A toy store with the API's rules that matter here: creates go last, the first image is
    /// the thumbnail, deleting the thumbnail passes it to the first image left.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    struct Store {
        /// In display order.
        images: Vec<StoreImage>,
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct StoreImage {
        id: ImageId,
        description: String,
        picture: String,
        thumbnail: bool,
    }

    impl Store {
        fn position(&self, id: ImageId) -> Option<usize> {
            self.images.iter().position(|i| i.id == id)
        }

        /// Sends one edit. `local_order` is the replica's order at send time, from which a
        /// reorder is planned (images the replica does not show keep their slots).
        fn send(&mut self, edit: &Edit, local_order: &[ImageId]) {
            match edit {
                Edit::Create {
                    image,
                    source,
                    description,
                } => {
                    let first = self.images.is_empty();
                    self.images.push(StoreImage {
                        id: *image,
                        description: description.clone(),
                        picture: source.display_name().to_owned(),
                        thumbnail: first,
                    });
                }
                Edit::Describe { image, description } => {
                    if let Some(p) = self.position(*image) {
                        self.images[p].description.clone_from(description);
                    }
                }
                Edit::Replace { image, source, .. } => {
                    if let Some(p) = self.position(*image) {
                        self.images[p].picture = source.display_name().to_owned();
                    }
                }
                Edit::SetThumbnail { image } => {
                    if self.position(*image).is_some() {
                        for i in &mut self.images {
                            i.thumbnail = i.id == *image;
                        }
                    }
                }
                Edit::Reorder => {
                    let known: Vec<ImageId> = local_order
                        .iter()
                        .copied()
                        .filter(|id| self.position(*id).is_some())
                        .collect();
                    let mut wanted = known.iter();
                    let old = self.images.clone();
                    for slot in &mut self.images {
                        if known.contains(&slot.id)
                            && let Some(next) = wanted.next()
                            && let Some(found) = old.iter().find(|i| i.id == *next)
                        {
                            *slot = found.clone();
                        }
                    }
                }
                Edit::Delete { image } => {
                    if let Some(p) = self.position(*image) {
                        let was_thumbnail = self.images.remove(p).thumbnail;
                        if was_thumbnail && let Some(first) = self.images.first_mut() {
                            first.thumbnail = true;
                        }
                    }
                }
                Edit::DeleteAll => self.images.clear(),
            }
        }
    }

    /// What a user does, as indexes into the images visible at that moment.
    #[derive(Debug, Clone)]
    enum Action {
        Add(String),
        Describe(usize, String),
        Replace(usize, String),
        Thumbnail(usize),
        Move(usize, usize),
        Delete(usize),
        DeleteAll,
    }

    fn action() -> impl Strategy<Value = Action> {
        let text = "[a-c]{1,2}";
        prop_oneof![
            3 => text.prop_map(Action::Add),
            3 => (0..6usize, text).prop_map(|(i, t)| Action::Describe(i, t)),
            2 => (0..6usize, text).prop_map(|(i, t)| Action::Replace(i, t)),
            2 => (0..6usize).prop_map(Action::Thumbnail),
            3 => (0..6usize, 0..6usize).prop_map(|(a, b)| Action::Move(a, b)),
            2 => (0..6usize).prop_map(Action::Delete),
            1 => Just(Action::DeleteAll),
        ]
    }

    /// The replica's view while the user works offline: order and who is the thumbnail.
    struct Local {
        order: Vec<ImageId>,
        thumbnail: Option<ImageId>,
        next_id: i64,
    }

    /// Runs the actions against an initial store of `existing` images; returns the queue as
    /// coalesced, every edit as made, and the final local order.
    /// Each edit as made comes with the replica's order at that moment: what a client without
    /// coalescing would plan a reorder from.
    #[allow(clippy::type_complexity)]
    fn record(
        existing: usize,
        actions: &[Action],
    ) -> (Vec<Queued>, Vec<(Edit, Vec<ImageId>)>, Local) {
        let order: Vec<ImageId> = (1..=existing as i64).map(ImageId).collect();
        let mut local = Local {
            thumbnail: order.first().copied(),
            next_id: existing as i64 + 1,
            order,
        };
        let mut queue = Vec::new();
        let mut every = Vec::new();
        for action in actions {
            let mut successor = Successor::NotThumbnail;
            let pick = |i: &usize| local.order.get(i % local.order.len().max(1)).copied();
            let edit = match action {
                Action::Add(name) => {
                    let image = ImageId(local.next_id);
                    local.next_id += 1;
                    local.order.push(image);
                    local.thumbnail.get_or_insert(image);
                    Edit::Create {
                        image,
                        source: Source::Url {
                            url: format!("http://pictures/{name}"),
                        },
                        description: name.clone(),
                    }
                }
                Action::Describe(i, text) => match pick(i) {
                    Some(image) => Edit::Describe {
                        image,
                        description: text.clone(),
                    },
                    None => continue,
                },
                Action::Replace(i, name) => match pick(i) {
                    Some(image) => Edit::Replace {
                        image,
                        source: Source::Url {
                            url: format!("http://pictures/new-{name}"),
                        },
                        new_server_id: None,
                    },
                    None => continue,
                },
                Action::Thumbnail(i) => match pick(i) {
                    Some(image) if local.thumbnail != Some(image) => {
                        local.thumbnail = Some(image);
                        Edit::SetThumbnail { image }
                    }
                    _ => continue,
                },
                Action::Move(from, to) => {
                    if local.order.len() < 2 {
                        continue;
                    }
                    let from = from % local.order.len();
                    let to = to % local.order.len();
                    if from == to {
                        continue;
                    }
                    let image = local.order.remove(from);
                    local.order.insert(to, image);
                    Edit::Reorder
                }
                Action::Delete(i) => match pick(i) {
                    Some(image) => {
                        local.order.retain(|id| *id != image);
                        successor = Successor::NotThumbnail;
                        if local.thumbnail == Some(image) {
                            local.thumbnail = local.order.first().copied();
                            successor =
                                local.thumbnail.map_or(Successor::NoneLeft, Successor::Next);
                        }
                        Edit::Delete { image }
                    }
                    None => continue,
                },
                Action::DeleteAll => {
                    if local.order.is_empty() {
                        continue;
                    }
                    local.order.clear();
                    local.thumbnail = None;
                    Edit::DeleteAll
                }
            };
            every.push((edit.clone(), local.order.clone()));
            let changes = coalesce(&queue, NewEdit::plain(PRODUCT, edit), successor);
            apply(&mut queue, changes);
        }
        (queue, every, local)
    }

    /// Sends the queue as the worker does: the oldest edit that is ready, where an edit about an
    /// image waits until that image's create has reached the store.
    fn send_as_the_worker_does(store: &mut Store, mut left: Vec<Queued>, local_order: &[ImageId]) {
        loop {
            let waiting_for_create = |image: ImageId, left: &[Queued]| {
                left.iter()
                    .any(|q| matches!(q.edit, Edit::Create { image: i, .. } if i == image))
            };
            let ready = left.iter().position(|q| match (&q.edit, q.edit.image()) {
                (Edit::Create { .. }, _) | (_, None) => true,
                (_, Some(image)) => !waiting_for_create(image, &left),
            });
            let Some(next) = ready else {
                assert!(left.is_empty(), "edits that never become ready: {left:?}");
                return;
            };
            let queued = left.remove(next);
            store.send(&queued.edit, local_order);
        }
    }

    fn initial_store(existing: usize) -> Store {
        Store {
            images: (1..=existing as i64)
                .map(|id| StoreImage {
                    id: ImageId(id),
                    description: format!("old {id}"),
                    picture: format!("old-{id}.jpg"),
                    thumbnail: id == 1,
                })
                .collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn the_coalesced_queue_leaves_the_store_as_every_edit_would(
            existing in 0..4usize,
            actions in prop::collection::vec(action(), 0..14),
        ) {
            let (queue, every, local) = record(existing, &actions);
            // The coalesced queue is sent after the fact: a reorder is planned from the
            // replica's order at that time.
            let mut coalesced = initial_store(existing);
            send_as_the_worker_does(&mut coalesced, queue.clone(), &local.order);
            let mut one_by_one = initial_store(existing);
            for (edit, order_then) in &every {
                one_by_one.send(edit, order_then);
            }
            prop_assert_eq!(&coalesced, &one_by_one);
            let thumbnail_hand_overs = queue
                .iter()
                .filter(|q| matches!(q.edit, Edit::SetThumbnail { .. }))
                .count();
            prop_assert!(
                queue.len() <= every.len() + thumbnail_hand_overs,
                "coalescing adds no request but an explicit thumbnail hand-over"
            );
            // And what the user saw is what the store ends with.
            let order: Vec<ImageId> = coalesced.images.iter().map(|i| i.id).collect();
            prop_assert_eq!(order, local.order);
            let thumbnail = coalesced.images.iter().find(|i| i.thumbnail).map(|i| i.id);
            prop_assert_eq!(thumbnail, local.thumbnail);
        }
    }

    fn queued(seq: i64, edit: Edit, attempts: i64) -> Queued {
        Queued {
            seq,
            product_id: PRODUCT,
            edit,
            revision: 0,
            base: Default::default(),
            idempotency_key: None,
            state: EditState::Pending,
            attempts,
            last_attempt_ms: None,
            created_ms: 0,
        }
    }

    #[test]
    fn a_description_rides_along_in_an_unsent_create_but_not_a_sent_one() {
        let create = Edit::Create {
            image: ImageId(1),
            source: Source::Url { url: "u".into() },
            description: "a".into(),
        };
        let describe = NewEdit::plain(
            PRODUCT,
            Edit::Describe {
                image: ImageId(1),
                description: "b".into(),
            },
        );
        let unsent = [queued(1, create.clone(), 0)];
        assert!(matches!(
            coalesce(&unsent, describe.clone(), Successor::NotThumbnail).as_slice(),
            [Change::Fold { seq: 1, edit: Edit::Create { description, .. } }] if description == "b"
        ));
        let maybe_landed = [queued(1, create, 1)];
        assert_eq!(
            coalesce(&maybe_landed, describe.clone(), Successor::NotThumbnail),
            vec![Change::Append(describe)]
        );
    }

    #[test]
    fn deleting_an_image_the_store_never_saw_sends_nothing() {
        let mut queue = Vec::new();
        let create = Edit::Create {
            image: ImageId(1),
            source: Source::Url { url: "u".into() },
            description: "a".into(),
        };
        let changes = coalesce(
            &queue,
            NewEdit::plain(PRODUCT, create),
            Successor::NotThumbnail,
        );
        apply(&mut queue, changes);
        let describe = Edit::Describe {
            image: ImageId(1),
            description: "b".into(),
        };
        let changes = coalesce(
            &queue,
            NewEdit::plain(PRODUCT, describe),
            Successor::NotThumbnail,
        );
        apply(&mut queue, changes);
        let delete = Edit::Delete { image: ImageId(1) };
        let changes = coalesce(&queue, NewEdit::plain(PRODUCT, delete), Successor::NoneLeft);
        assert_eq!(changes, vec![Change::Forget(ImageId(1))]);
        apply(&mut queue, changes);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_reorder_after_a_create_starts_a_new_one() {
        let mut queue = vec![queued(1, Edit::Reorder, 0)];
        assert_eq!(
            coalesce(
                &queue,
                NewEdit::plain(PRODUCT, Edit::Reorder),
                Successor::NotThumbnail
            ),
            vec![Change::Bump { seq: 1 }]
        );
        queue.push(queued(
            2,
            Edit::Create {
                image: ImageId(5),
                source: Source::Url { url: "u".into() },
                description: String::new(),
            },
            0,
        ));
        assert_eq!(
            coalesce(
                &queue,
                NewEdit::plain(PRODUCT, Edit::Reorder),
                Successor::NotThumbnail
            ),
            vec![Change::Append(NewEdit::plain(PRODUCT, Edit::Reorder))]
        );
    }
}
