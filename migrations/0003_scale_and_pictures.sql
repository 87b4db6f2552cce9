-- Issue 13: catalogues of 100,000 products and 1,000,000 images.
--
-- Counts without scanning `images`: each product keeps its image count and the store keeps
-- its total, both changed by triggers in the same transaction as every insert and delete of an
-- image (a cascade from a deleted product fires them too), so they cannot drift from the rows.
ALTER TABLE products ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;

UPDATE products SET image_count = (SELECT COUNT(*) FROM images WHERE images.product_id = products.id);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO counters (name, value) VALUES ('images', (SELECT COUNT(*) FROM images));

CREATE TRIGGER images_count_insert AFTER INSERT ON images BEGIN
    UPDATE products SET image_count = image_count + 1 WHERE id = NEW.product_id;
    UPDATE counters SET value = value + 1 WHERE name = 'images';
END;

CREATE TRIGGER images_count_delete AFTER DELETE ON images BEGIN
    UPDATE products SET image_count = image_count - 1 WHERE id = OLD.product_id;
    UPDATE counters SET value = value - 1 WHERE name = 'images';
END;

-- Pictures stored by content: one row (and one set of five files under
-- images/content/{copy}/{hash[0..2]}/{hash}.{extension}) per distinct original, shared by
-- every image whose original has those bytes. A row exists only while an image points to it
-- (the write that removes the last reference deletes it in the same transaction).
CREATE TABLE pictures (
    id        INTEGER PRIMARY KEY,
    -- SHA-256 of the original's bytes, lower-case hex.
    hash      TEXT    NOT NULL UNIQUE,
    extension TEXT    NOT NULL,
    width     INTEGER NOT NULL,
    height    INTEGER NOT NULL,
    file_size INTEGER NOT NULL
);

-- NULL: an image written before this migration, whose files keep their old place
-- (images/{copy}/{image_file}).
ALTER TABLE images ADD COLUMN picture_id INTEGER REFERENCES pictures(id);

-- "Does any image still use this picture?" without a scan.
CREATE INDEX images_by_picture ON images(picture_id) WHERE picture_id IS NOT NULL;
