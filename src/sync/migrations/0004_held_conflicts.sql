-- A queued edit whose field the store changed too is held (state 'held') until the person
-- chooses: it keeps the store's competing value and that value's date, so both can be shown.
ALTER TABLE outbox ADD COLUMN held_value TEXT;
ALTER TABLE outbox ADD COLUMN held_modified TEXT;
