-- The app's local replica of one store, and its durable outbox of edits.

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,          -- the store's product id
    name         TEXT    NOT NULL,
    sku          TEXT    NOT NULL DEFAULT '',
    date_created TEXT    NOT NULL DEFAULT ''
);

-- One row per image the user sees (or has just deleted, while the delete is pending).
-- `local_id` is the engine's stable handle: an image created offline has one at once, and keeps
-- it when the store assigns `server_id`.
CREATE TABLE images (
    local_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    server_id     INTEGER UNIQUE,
    product_id    INTEGER NOT NULL,
    position      INTEGER NOT NULL,            -- display order within the product
    sort_order    INTEGER NOT NULL DEFAULT 0,  -- the store's value at the last pull
    is_thumbnail  INTEGER NOT NULL DEFAULT 0,
    description   TEXT    NOT NULL DEFAULT '',
    image_file    TEXT    NOT NULL DEFAULT '',
    date_created  TEXT    NOT NULL DEFAULT '',
    date_modified TEXT,
    zoom_url      TEXT,
    standard_url  TEXT,
    thumbnail_url TEXT,
    tiny_url      TEXT,
    width         INTEGER,
    height        INTEGER,
    file_size     INTEGER,
    local_file    TEXT,                        -- engine-owned copy of a picture not yet uploaded
    hidden        INTEGER NOT NULL DEFAULT 0   -- deleted locally; the delete is pending
);
CREATE INDEX images_by_product ON images (product_id, position);

-- Edits not yet confirmed by the store, sent in `seq` order.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,  -- create | describe | thumbnail | reorder | replace | delete | delete_all
    product_id       INTEGER NOT NULL,
    image_id         INTEGER,           -- images.local_id of the target, when there is one
    payload          TEXT    NOT NULL,  -- JSON of the edit's details
    revision         INTEGER NOT NULL DEFAULT 0, -- bumped when a later edit is folded into this one
    base_modified    TEXT,              -- the store's date_modified the edit was based on
    base_value       TEXT,              -- the field's value the edit was based on
    idempotency_key  TEXT,
    state            TEXT    NOT NULL DEFAULT 'pending', -- pending | failed
    attempts         INTEGER NOT NULL DEFAULT 0,         -- sends of a create that may have landed
    last_attempt_ms  INTEGER,           -- when the last send of a create began
    last_error       TEXT,
    created_ms       INTEGER NOT NULL
);
CREATE INDEX outbox_by_image ON outbox (image_id);
CREATE INDEX outbox_by_product ON outbox (product_id, kind);

-- Disk cache of tile-size picture bytes, evicted least recently used first.
CREATE TABLE tiles (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    url       TEXT    NOT NULL UNIQUE,
    bytes     INTEGER NOT NULL,
    last_used INTEGER NOT NULL
);
CREATE INDEX tiles_by_use ON tiles (last_used);
