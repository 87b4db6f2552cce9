-- What the engine has learnt about the store itself, kept across restarts: one row per fact.
-- `echoes_idempotency_key`: 1 when the store's last answer to a keyed create echoed the key
-- (so a create that may have landed can be resent with its key), 0 when it did not.
CREATE TABLE store_facts (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
