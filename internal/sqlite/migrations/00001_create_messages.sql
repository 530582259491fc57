-- +goose Up
-- received_at is Unix nanoseconds (UTC), assigned by the single writer in commit order, so
-- that ordering by (received_at, id) never lets a later commit sort before an earlier one.
-- payload is the request body byte for byte; sender and content are copied out of it for
-- queries.
CREATE TABLE messages (
    id          TEXT    NOT NULL PRIMARY KEY,
    sender      TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    payload     BLOB    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE messages;
