-- Perceptual hashes of images' pictures (issue 16: duplicates), computed once per picture from
-- the tile the app downloads anyway. A table of its own: the image rows are rewritten by every
-- pull, and a hash is not part of the store's record.
CREATE TABLE perceptual_hashes (
    local_id INTEGER PRIMARY KEY,  -- images.local_id
    picture  TEXT    NOT NULL,     -- what it was computed from (see sync/phash.rs): a new
                                   -- picture, a new key, a new hash
    hash     INTEGER NOT NULL      -- the 64 bits of imaging::PerceptualHash
);

-- An image that goes takes its hash with it (a trigger rather than a foreign key, which needs
-- a pragma on every connection to be enforced).
CREATE TRIGGER perceptual_hashes_image_gone AFTER DELETE ON images BEGIN
    DELETE FROM perceptual_hashes WHERE local_id = OLD.local_id;
END;
