-- Issue 16: a perceptual hash of every picture, computed once at upload (the server decodes
-- the picture anyway) and sent with the image record, so that clients find duplicates without
-- downloading anything. The 64 bits of imaging::PerceptualHash as an INTEGER; NULL for pictures
-- stored before this migration (clients then compute it themselves, as for a real store).
ALTER TABLE pictures ADD COLUMN perceptual_hash INTEGER;
ALTER TABLE images ADD COLUMN perceptual_hash INTEGER;
