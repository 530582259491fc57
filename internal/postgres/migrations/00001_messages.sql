-- +goose Up
-- id, sender and content are bytea so that they compare and store byte for byte, as in
-- the SQLite store: text cannot hold U+0000, which a JSON string may contain.
CREATE TABLE messages (
    id          bytea       PRIMARY KEY,
    sender      bytea       NOT NULL,
    content     bytea       NOT NULL,
    received_at timestamptz NOT NULL,
    payload     bytea       NOT NULL
);

-- Keyset pages over all messages and over one sender, each in (received_at, id) order.
CREATE INDEX messages_by_arrival ON messages (received_at, id);
CREATE INDEX messages_by_sender ON messages (sender, received_at, id);

-- /stats counters. Each batch appends one row per sender instead of updating a shared row,
-- so writers on different replicas never wait on each other's counter locks; the rows of a
-- sender are summed when read and folded into one from time to time.
CREATE TABLE sender_counts (
    sender bytea  NOT NULL,
    n      bigint NOT NULL
);
CREATE INDEX sender_counts_by_sender ON sender_counts (sender);

-- +goose Down
DROP TABLE sender_counts;
DROP TABLE messages;
