-- Catalogues of 100,000 products and 1,000,000 images: what the engine knows about how fresh
-- each product's images are, per-product counts kept by triggers (so the product list and the
-- counts view never count images row by row), a search index, and indexes for sorting.

-- The store's `date_modified` of the product at the last products read (NULL: the store did
-- not send one).
ALTER TABLE products ADD COLUMN date_modified TEXT;
-- When the product's image list was last read from the store (unix ms); NULL: never. The
-- background sweep of a store without `min_date_modified` reads the oldest first.
ALTER TABLE products ADD COLUMN images_read_at INTEGER;
-- The product's `date_modified` when its images were last read: a product listed again with
-- the same value has nothing new to read.
ALTER TABLE products ADD COLUMN images_read_modified TEXT;
-- 1 when the last read of the product's images failed (a 403, an answer that cannot be read):
-- the sweep tries it again after a while, and the report survives a restart.
ALTER TABLE products ADD COLUMN images_read_failed INTEGER NOT NULL DEFAULT 0;
-- Visible images (hidden = 0) and visible thumbnails, kept by the triggers below.
ALTER TABLE products ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN thumbnail_count INTEGER NOT NULL DEFAULT 0;

UPDATE products SET
    image_count = (SELECT COUNT(*) FROM images i WHERE i.product_id = products.id AND i.hidden = 0),
    thumbnail_count = (SELECT COUNT(*) FROM images i
                       WHERE i.product_id = products.id AND i.hidden = 0 AND i.is_thumbnail = 1);

CREATE TRIGGER images_count_insert AFTER INSERT ON images BEGIN
    UPDATE products SET
        image_count = image_count + (NEW.hidden = 0),
        thumbnail_count = thumbnail_count + (NEW.hidden = 0 AND NEW.is_thumbnail = 1)
    WHERE id = NEW.product_id;
END;

CREATE TRIGGER images_count_delete AFTER DELETE ON images BEGIN
    UPDATE products SET
        image_count = image_count - (OLD.hidden = 0),
        thumbnail_count = thumbnail_count - (OLD.hidden = 0 AND OLD.is_thumbnail = 1)
    WHERE id = OLD.product_id;
END;

CREATE TRIGGER images_count_update AFTER UPDATE OF product_id, hidden, is_thumbnail ON images
BEGIN
    UPDATE products SET
        image_count = image_count - (OLD.hidden = 0),
        thumbnail_count = thumbnail_count - (OLD.hidden = 0 AND OLD.is_thumbnail = 1)
    WHERE id = OLD.product_id;
    UPDATE products SET
        image_count = image_count + (NEW.hidden = 0),
        thumbnail_count = thumbnail_count + (NEW.hidden = 0 AND NEW.is_thumbnail = 1)
    WHERE id = NEW.product_id;
END;

-- A product row made after its images (never today, but cheap to be right about).
CREATE TRIGGER products_count_insert AFTER INSERT ON products BEGIN
    UPDATE products SET
        image_count = (SELECT COUNT(*) FROM images i WHERE i.product_id = NEW.id AND i.hidden = 0),
        thumbnail_count = (SELECT COUNT(*) FROM images i
                           WHERE i.product_id = NEW.id AND i.hidden = 0 AND i.is_thumbnail = 1)
    WHERE id = NEW.id;
END;

-- Search by any part of the name or SKU (trigram: substrings of 3+ characters, any case).
CREATE VIRTUAL TABLE product_search USING fts5(
    name, sku, content = 'products', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO product_search (product_search) VALUES ('rebuild');

CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
    INSERT INTO product_search (rowid, name, sku) VALUES (NEW.id, NEW.name, NEW.sku);
END;
CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
    INSERT INTO product_search (product_search, rowid, name, sku)
        VALUES ('delete', OLD.id, OLD.name, OLD.sku);
END;
CREATE TRIGGER products_search_update AFTER UPDATE OF name, sku ON products BEGIN
    INSERT INTO product_search (product_search, rowid, name, sku)
        VALUES ('delete', OLD.id, OLD.name, OLD.sku);
    INSERT INTO product_search (rowid, name, sku) VALUES (NEW.id, NEW.name, NEW.sku);
END;

-- Sorting the product list and counts view, and the sweep's "oldest read first".
CREATE INDEX products_by_name ON products (name COLLATE NOCASE, id);
CREATE INDEX products_by_sku ON products (sku COLLATE NOCASE, id);
CREATE INDEX products_by_image_count ON products (image_count, id);
CREATE INDEX products_by_images_read ON products (images_read_at, id);
-- Products read before whose date moved since (or whose last read was not settled): the
-- images a round reads. A failed round leaves them here for the next.
CREATE INDEX products_stale ON products (id)
    WHERE images_read_at IS NOT NULL AND date_modified IS NOT NULL
      AND images_read_modified IS NOT date_modified;
CREATE INDEX products_read_failed ON products (images_read_at) WHERE images_read_failed = 1;
