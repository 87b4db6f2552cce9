CREATE TABLE products (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    sku          TEXT    NOT NULL DEFAULT '',
    date_created INTEGER NOT NULL
);

CREATE TABLE images (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    product_id    INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    image_file    TEXT    NOT NULL UNIQUE,
    is_thumbnail  INTEGER NOT NULL DEFAULT 0,
    sort_order    INTEGER NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    date_created  INTEGER NOT NULL,
    date_modified INTEGER NOT NULL,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    file_size     INTEGER NOT NULL
);

CREATE INDEX images_by_product_order ON images(product_id, sort_order, id);

-- Responses of creates made with an Idempotency-Key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    product_id  INTEGER NOT NULL,
    key         TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    image_id    INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (product_id, key)
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
