-- "Recently deleted": pictures the user deleted, kept locally for 30 days so that they can be
-- put back (see `trash.rs`). One row per deleted image; its picture copy is a file in
-- `<replica dir>/deleted/`, apart from the queued uploads' blobs (which their own garbage
-- collection removes when no queued edit names them).
CREATE TABLE recently_deleted (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id    INTEGER NOT NULL,
    image_id      INTEGER,                    -- images.local_id the image had
    description   TEXT    NOT NULL DEFAULT '',
    position      INTEGER NOT NULL,           -- index in the product's order when deleted
    sort_order    INTEGER NOT NULL DEFAULT 0, -- the store's sort_order then
    was_thumbnail INTEGER NOT NULL DEFAULT 0,
    file_name     TEXT    NOT NULL DEFAULT '',
    deleted_at_ms INTEGER NOT NULL,
    -- pending (the copy is fetched from the store just before the delete is sent) |
    -- original (the store's largest picture) | smaller (only a cached smaller variant) |
    -- upload (the local file of an upload that never reached the store)
    copy          TEXT    NOT NULL,
    copy_file     TEXT,                       -- file name in deleted/, once kept
    picture_urls  TEXT    NOT NULL DEFAULT '[]' -- JSON list, largest first, to fetch from
);
CREATE INDEX recently_deleted_by_image ON recently_deleted (image_id);
CREATE INDEX recently_deleted_by_time ON recently_deleted (deleted_at_ms);
