-- +goose Up
-- The rejection journal: refused deliveries and conflicting bodies, appended in batches by
-- one background writer, read newest first, pruned from the oldest end. (Version 4 follows
-- the outbox's 00003; the two were written side by side.)
--
-- Text a sender controls (source from the path, reason quoting a field, request id, remote
-- address, message id) is bytea like messages' keys, for the same reasons: byte for byte, and
-- never an error (a lost batch) for a NUL or bytes that are not UTF-8. headers is the HTTP
-- layer's JSON object kept exactly, so bytea too. hints is a JSON array of strings; json, not
-- jsonb, which refuses \u0000. rid is an identity: never handed out twice.
CREATE TABLE rejections (
    rid               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at       timestamptz NOT NULL,
    source            bytea       NOT NULL,
    result            text        NOT NULL,
    status            integer     NOT NULL,
    reason            bytea       NOT NULL,
    request_id        bytea       NOT NULL,
    remote_addr       bytea       NOT NULL,
    message_id        bytea       NOT NULL,
    first_received_at timestamptz,
    body_size         bigint      NOT NULL,
    body_sha256       bytea,
    hints             json        NOT NULL,
    headers           bytea       NOT NULL,
    body              bytea       NOT NULL
);

-- Listings are newest first, in (received_at, rid) order, and every filter the API offers
-- has an index that leads with its column and continues in that order: the default listing,
-- since and until read rejections_by_arrival backwards, a source or a result its own index,
-- so a page reads only the rows it returns and never sorts. Pruning by age deletes a range of
-- rejections_by_arrival, pruning by rows a range of the primary key. Each entry costs every
-- append: three indexes beside the primary key.
CREATE INDEX rejections_by_arrival ON rejections (received_at, rid);
CREATE INDEX rejections_by_source ON rejections (source, received_at, rid);
CREATE INDEX rejections_by_result ON rejections (result, received_at, rid);

-- Retention deletes the deliveries of each message it deletes, in the same statement: this
-- index finds them by message id and source instead of a scan of the outbox. It leads with
-- message_id so that no listing of one source picks it over the newest-first order (a sort).
-- It costs each delivery insert one more index entry (deliveries exist only for messages
-- with destinations).
CREATE INDEX deliveries_by_message ON deliveries (message_id, source);

-- +goose Down
DROP INDEX deliveries_by_message;
DROP TABLE rejections;
