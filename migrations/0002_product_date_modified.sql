-- A product's date_modified (SPEC §1): the last write of the product or of any of its images,
-- so that GET /products?min_date_modified=D finds what changed since D. Existing products
-- start at their latest known write.
ALTER TABLE products ADD COLUMN date_modified INTEGER NOT NULL DEFAULT 0;

UPDATE products SET date_modified = MAX(
    date_created,
    COALESCE((SELECT MAX(date_modified) FROM images WHERE images.product_id = products.id), 0)
);

CREATE INDEX products_by_date_modified ON products(date_modified, id);
