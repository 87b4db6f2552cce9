//! What the outbox holds: typed edits, their state, and how a row is read back.
//!
//! An edit is a named thing with exactly its fields ([`Edit`]); the outbox row stores its kind
//! and image in columns (the queries filter on them) and the rest as JSON. Reading a row either
//! gives a [`Queued`] edit or an [`Unreadable`] one, which is kept and reported, never guessed at:
//! a newer imagedesk may have written it.

use serde::{Deserialize, Serialize};

use super::super::model::{ConflictField, EditKind, ImageId};

/// Where a queued picture comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub(crate) enum Source {
    /// A copy in the engine's blob directory, and the name the user's file had.
    File {
        blob: String,
        file_name: String,
    },
    Url {
        url: String,
    },
}

impl Source {
    /// The engine-owned copy this source refers to, if any.
    pub fn blob(&self) -> Option<String> {
        match self {
            Source::File { blob, .. } => Some(blob.clone()),
            Source::Url { .. } => None,
        }
    }

    /// What the replica shows as the image's file name until the store names it.
    pub fn display_name(&self) -> &str {
        match self {
            Source::File { file_name, .. } => file_name,
            Source::Url { url } => url,
        }
    }
}

/// One edit the user made, with exactly the fields it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Edit {
    /// Adds an image (its row exists locally from the start, under `image`).
    Create {
        image: ImageId,
        source: Source,
        description: String,
    },
    Describe {
        image: ImageId,
        description: String,
    },
    /// A new picture for an existing image. From a file it is a POST of a new record and a
    /// DELETE of the old one; `new_server_id` records the first half once it succeeded.
    Replace {
        image: ImageId,
        source: Source,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        new_server_id: Option<i64>,
    },
    #[serde(rename = "thumbnail")]
    SetThumbnail {
        image: ImageId,
    },
    /// Makes the store's order match the replica's; planned when sent.
    Reorder,
    Delete {
        image: ImageId,
    },
    DeleteAll,
}

impl Edit {
    pub fn kind(&self) -> EditKind {
        match self {
            Edit::Create { .. } => EditKind::Create,
            Edit::Describe { .. } => EditKind::Describe,
            Edit::Replace { .. } => EditKind::Replace,
            Edit::SetThumbnail { .. } => EditKind::SetThumbnail,
            Edit::Reorder => EditKind::Reorder,
            Edit::Delete { .. } => EditKind::Delete,
            Edit::DeleteAll => EditKind::DeleteAll,
        }
    }

    /// The image the edit is about, if it is about one.
    pub fn image(&self) -> Option<ImageId> {
        match self {
            Edit::Create { image, .. }
            | Edit::Describe { image, .. }
            | Edit::Replace { image, .. }
            | Edit::SetThumbnail { image }
            | Edit::Delete { image } => Some(*image),
            Edit::Reorder | Edit::DeleteAll => None,
        }
    }

    /// The picture the edit would upload, if any.
    pub fn source(&self) -> Option<&Source> {
        match self {
            Edit::Create { source, .. } | Edit::Replace { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The field value the edit sets, as a conflict compares it: the description, the
    /// thumbnail's image handle (`#local_id`), the new picture's name; `None` for the rest.
    pub fn value(&self) -> Option<String> {
        match self {
            Edit::Describe { description, .. } => Some(description.clone()),
            Edit::SetThumbnail { image } => Some(image.to_string()),
            Edit::Replace { source, .. } => Some(source.display_name().to_owned()),
            _ => None,
        }
    }

    /// The field a conflict of this edit is about, for the edits that can conflict.
    pub fn conflict_field(&self) -> Option<ConflictField> {
        match self {
            Edit::Describe { .. } => Some(ConflictField::Description),
            Edit::SetThumbnail { .. } => Some(ConflictField::Thumbnail),
            Edit::Replace { .. } => Some(ConflictField::Picture),
            _ => None,
        }
    }

    /// The engine-owned copy of a picture this edit keeps alive.
    pub fn blob(&self) -> Option<String> {
        self.source().and_then(Source::blob)
    }

    /// The row's `payload` column: the edit without the kind and image, which have columns.
    pub(super) fn details_json(&self) -> Result<String, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let Some(object) = value.as_object_mut() {
            object.remove("kind");
            object.remove("image");
        }
        serde_json::to_string(&value)
    }

    /// Reads an edit back from its row's columns.
    pub(super) fn from_columns(
        kind: &str,
        image: Option<i64>,
        details: &str,
    ) -> Result<Edit, String> {
        let mut value: serde_json::Value =
            serde_json::from_str(details).map_err(|e| format!("its details are not JSON: {e}"))?;
        let object = value
            .as_object_mut()
            .ok_or_else(|| "its details are not a JSON object".to_owned())?;
        object.insert("kind".into(), kind.into());
        if let Some(image) = image {
            object.insert("image".into(), image.into());
        }
        serde_json::from_value(value).map_err(|e| format!("a '{kind}' edit: {e}"))
    }
}

/// Where an edit stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EditState {
    /// Waiting to be sent (or being sent).
    Pending,
    /// The store refused it; it waits for the user's retry or discard.
    Failed { reason: String },
    /// The store changed the same field since the edit was made: it is not sent until the
    /// person keeps it or takes the store's value (`theirs`, dated `theirs_modified`).
    Held {
        theirs: String,
        theirs_modified: Option<String>,
    },
}

impl EditState {
    pub(super) const PENDING: &'static str = "pending";
    pub(super) const FAILED: &'static str = "failed";
    pub(super) const HELD: &'static str = "held";

    pub(super) fn from_columns(
        state: &str,
        last_error: Option<&str>,
        held_value: Option<&str>,
        held_modified: Option<&str>,
    ) -> Option<EditState> {
        match state {
            Self::PENDING => Some(EditState::Pending),
            Self::FAILED => Some(EditState::Failed {
                reason: last_error.unwrap_or_default().to_owned(),
            }),
            Self::HELD => Some(EditState::Held {
                theirs: held_value?.to_owned(),
                theirs_modified: held_modified.map(str::to_owned),
            }),
            _ => None,
        }
    }

    pub fn is_held(&self) -> bool {
        matches!(self, EditState::Held { .. })
    }

    /// The state after a newer local value (`edit`) of the same field is folded in. A refused
    /// edit gets another try; a held one stays held (the person has not chosen yet), unless
    /// the newer value is the store's own, which leaves nothing to choose between.
    pub fn after_fold(&self, edit: &Edit) -> EditState {
        match self {
            EditState::Held { theirs, .. } if edit.value().as_deref() != Some(theirs.as_str()) => {
                self.clone()
            }
            _ => EditState::Pending,
        }
    }

    pub fn is_failed(&self) -> bool {
        matches!(self, EditState::Failed { .. })
    }
}

/// The value a field had when the user changed it, to tell a conflict from a stale read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Base {
    pub value: Option<String>,
    /// The store's `date_modified` then (kept for the record; values decide conflicts).
    pub modified: Option<String>,
}

/// An edit about to join the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewEdit {
    pub product_id: i64,
    pub edit: Edit,
    pub base: Base,
    /// Sent with a create so that a resend after a lost answer creates nothing twice.
    pub idempotency_key: Option<String>,
}

impl NewEdit {
    /// An edit with no base value and no key (a reorder, a delete).
    pub fn plain(product_id: i64, edit: Edit) -> NewEdit {
        NewEdit {
            product_id,
            edit,
            base: Base::default(),
            idempotency_key: None,
        }
    }
}

/// One readable outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Queued {
    pub seq: i64,
    pub product_id: i64,
    pub edit: Edit,
    /// Moves each time a later edit is folded into this one; the worker retires an edit only
    /// if its revision is still the one it sent.
    pub revision: i64,
    pub base: Base,
    pub idempotency_key: Option<String>,
    pub state: EditState,
    /// Sends of a create (or a file replace's first half) that may have landed.
    pub attempts: i64,
    pub last_attempt_ms: Option<i64>,
    /// When the edit was queued (ms since the epoch): no later than its key's first send.
    pub created_ms: i64,
}

impl Queued {
    /// A create or replace that was never sent, or that the store refused: it can still be
    /// changed or cancelled without the store ever knowing.
    pub fn is_unsent(&self) -> bool {
        self.attempts == 0 || self.state.is_failed()
    }
}

/// A row this version cannot read (an unknown kind or state, details that do not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub seq: i64,
    pub product_id: i64,
    pub image: Option<ImageId>,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(edit: Edit) {
        let json = edit.details_json().unwrap();
        let image = edit.image().map(|i| i.0);
        let back = Edit::from_columns(edit.kind().as_str(), image, &json).unwrap();
        assert_eq!(back, edit);
    }

    #[test]
    fn every_edit_reads_back_as_written() {
        let file = Source::File {
            blob: "ab.jpg".into(),
            file_name: "mug.jpg".into(),
        };
        round_trip(Edit::Create {
            image: ImageId(3),
            source: file.clone(),
            description: "front".into(),
        });
        round_trip(Edit::Describe {
            image: ImageId(3),
            description: String::new(),
        });
        round_trip(Edit::Replace {
            image: ImageId(3),
            source: file,
            new_server_id: Some(9),
        });
        round_trip(Edit::Replace {
            image: ImageId(3),
            source: Source::Url {
                url: "http://x/y.jpg".into(),
            },
            new_server_id: None,
        });
        round_trip(Edit::SetThumbnail { image: ImageId(4) });
        round_trip(Edit::Reorder);
        round_trip(Edit::Delete { image: ImageId(5) });
        round_trip(Edit::DeleteAll);
    }

    #[test]
    fn rows_of_the_earlier_payload_format_still_read() {
        // Before edits were typed, every row's payload was one struct of optionals.
        let create = Edit::from_columns(
            "create",
            Some(7),
            r#"{"description":"d","source":{"from":"url","url":"http://h/p.png"}}"#,
        )
        .unwrap();
        assert_eq!(create.kind(), EditKind::Create);
        assert_eq!(
            Edit::from_columns("thumbnail", Some(2), "{}").unwrap(),
            Edit::SetThumbnail { image: ImageId(2) }
        );
        assert_eq!(
            Edit::from_columns("reorder", None, "{}").unwrap(),
            Edit::Reorder
        );
    }

    #[test]
    fn what_cannot_be_read_is_an_error_not_a_default() {
        assert!(Edit::from_columns("rotate", Some(1), "{}").is_err());
        assert!(Edit::from_columns("describe", Some(1), "{}").is_err());
        assert!(Edit::from_columns("describe", Some(1), "not json").is_err());
        assert!(Edit::from_columns("create", Some(1), r#"{"description":"d"}"#).is_err());
        assert!(Edit::from_columns("delete", None, "{}").is_err());
    }

    #[test]
    fn folding_keeps_a_held_edit_held_and_makes_a_refused_one_pending() {
        let held = EditState::Held {
            theirs: "theirs".into(),
            theirs_modified: None,
        };
        let describe = |text: &str| Edit::Describe {
            image: ImageId(1),
            description: text.into(),
        };
        assert_eq!(held.after_fold(&describe("newer")), held);
        assert_eq!(held.after_fold(&describe("theirs")), EditState::Pending);
        let thumbnail_held = EditState::Held {
            theirs: "#3".into(),
            theirs_modified: None,
        };
        assert_eq!(
            thumbnail_held.after_fold(&Edit::SetThumbnail { image: ImageId(3) }),
            EditState::Pending
        );
        assert_eq!(
            thumbnail_held.after_fold(&Edit::SetThumbnail { image: ImageId(4) }),
            thumbnail_held
        );
        let failed = EditState::Failed {
            reason: "no".into(),
        };
        assert_eq!(failed.after_fold(&describe("x")), EditState::Pending);
    }

    #[test]
    fn a_held_row_without_the_stores_value_cannot_be_read() {
        assert_eq!(EditState::from_columns("held", None, None, None), None);
        assert_eq!(
            EditState::from_columns("held", None, Some("t"), Some("d")),
            Some(EditState::Held {
                theirs: "t".into(),
                theirs_modified: Some("d".into()),
            })
        );
    }
}
