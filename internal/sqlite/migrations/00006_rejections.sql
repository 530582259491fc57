-- +goose Up
-- The rejection journal: refused deliveries and conflicting bodies, appended in batches by
-- one background writer, read newest first, pruned from the oldest end. (Version 6 follows
-- the outbox's 00005; the two were written side by side.)
--
-- rid is AUTOINCREMENT, so that a rid is never handed out twice, even after the newest
-- entries were deleted: an API cursor or a link to /rejections/{rid} never names another
-- entry later. received_at and first_received_at are Unix nanoseconds like messages'.
--
-- Text a sender controls (source from the path, reason quoting a field, request id,
-- remote address, message id) is TEXT, which SQLite stores and compares byte for byte
-- whatever the bytes; headers, body_sha256 and body are BLOBs. hints is a JSON array of
-- strings ('[]' for none). The large columns come last, so that a listing that stops at
-- the filtered columns never reads their overflow pages.
CREATE TABLE rejections (
    rid               INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at       INTEGER NOT NULL,
    source            TEXT    NOT NULL,
    result            TEXT    NOT NULL,
    status            INTEGER NOT NULL,
    reason            TEXT    NOT NULL,
    request_id        TEXT    NOT NULL,
    remote_addr       TEXT    NOT NULL,
    message_id        TEXT    NOT NULL,
    first_received_at INTEGER,
    body_size         INTEGER NOT NULL,
    body_sha256       BLOB,
    hints             TEXT    NOT NULL,
    headers           BLOB    NOT NULL,
    body              BLOB    NOT NULL
) STRICT;

-- Listings are newest first, in (received_at, rid) order, and every filter the API offers
-- seeks one index whose columns after the filtered one are that order (SQLite ends each
-- entry with the rowid, rid): the default listing, since and until read rejections_by_arrival
-- backwards, a source or a result its own index, so a page reads only the rows it returns
-- and never sorts. Pruning by age deletes a range of rejections_by_arrival, pruning by rows a
-- range of the rowid. Each entry costs every append: three indexes beside the table.
CREATE INDEX rejections_by_arrival ON rejections (received_at);
CREATE INDEX rejections_by_source ON rejections (source, received_at);
CREATE INDEX rejections_by_result ON rejections (result, received_at);

-- +goose Down
DROP TABLE rejections;
