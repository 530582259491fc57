-- +goose Up
-- Arrival order as the rowid. The writer hands out strictly increasing arrival stamps
-- (max(now, last + 1 ns)), so received_at is unique and can be the table's INTEGER PRIMARY
-- KEY: the rowid itself, not a column beside it. The table is then stored in arrival order,
-- messages_by_arrival is gone (a listing without filters, since and until read a range of
-- the table), and every index entry ends with received_at by itself, so the other indexes
-- need only their own column: (source), (type), (sender), and still (source, id) for
-- uniqueness. Each message is in three indexes instead of four, with smaller entries.
--
-- Stamps of the schema before may be equal (a clock that stood still or went back). The copy
-- makes them unique and keeps the listing order, (received_at, source, id): in that order,
-- each stamp becomes max(its own, the one before + 1). With rn the row's place in that order,
-- that is rn + the running maximum of (received_at - rn), which a window computes over
-- messages_by_arrival, narrow entries in that order; only the stamps that change are kept,
-- usually none. The copy then reads the table in rowid order (the order rows were written,
-- which is arrival order), and the indexes are built after it, each by one sort (see 00004,
-- which rebuilt the table the same way).
CREATE TEMP TABLE moved (
    rid INTEGER PRIMARY KEY,
    at  INTEGER NOT NULL
);
INSERT INTO moved (rid, at)
    SELECT rid, at FROM (
        SELECT rid, received_at, rn + max(received_at - rn) OVER (ORDER BY rn ROWS UNBOUNDED PRECEDING) AS at
        FROM (SELECT rowid AS rid, received_at, row_number() OVER (ORDER BY received_at, source, id) AS rn
              FROM messages INDEXED BY messages_by_arrival))
    WHERE at <> received_at;

CREATE TABLE messages_v7 (
    received_at  INTEGER PRIMARY KEY,
    source       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    type         TEXT,
    sender       TEXT,
    content      TEXT,
    content_type TEXT    NOT NULL,
    headers      BLOB,
    payload      BLOB    NOT NULL
) STRICT;

INSERT INTO messages_v7 (received_at, source, id, type, sender, content, content_type, headers, payload)
    SELECT coalesce(moved.at, m.received_at), m.source, m.id, m.type, m.sender, m.content, m.content_type, m.headers, m.payload
    FROM messages AS m LEFT JOIN moved ON moved.rid = m.rowid
    ORDER BY m.rowid;

DROP TABLE moved;
DROP TABLE messages; -- and its indexes
ALTER TABLE messages_v7 RENAME TO messages;

-- The database decides uniqueness: INSERT … ON CONFLICT (source, id) DO NOTHING.
CREATE UNIQUE INDEX messages_by_id ON messages (source, id);

-- Every listing is in arrival order, and each filter the API offers seeks one index whose
-- entries, after the filtered column, are in that order (received_at, the rowid that ends
-- every entry), so a page reads only the rows it returns and never sorts. The type and
-- sender ones are partial, holding only the rows that have one: a provider's message has a
-- type and no sender, a POST /webhook message a sender and no type.
CREATE INDEX messages_by_source ON messages (source);
CREATE INDEX messages_by_type ON messages (type) WHERE type IS NOT NULL;
CREATE INDEX messages_by_sender ON messages (sender) WHERE sender IS NOT NULL;

-- +goose Down
-- The schema before: the rowid apart from received_at, and the indexes that carry it. The
-- stamps stay unique, which that schema allows as well.
CREATE TABLE messages_v6 (
    source       TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    type         TEXT,
    sender       TEXT,
    content      TEXT,
    content_type TEXT    NOT NULL,
    headers      BLOB,
    payload      BLOB    NOT NULL
) STRICT;
INSERT INTO messages_v6 (source, id, received_at, type, sender, content, content_type, headers, payload)
    SELECT source, id, received_at, type, sender, content, content_type, headers, payload
    FROM messages ORDER BY received_at;
DROP TABLE messages;
ALTER TABLE messages_v6 RENAME TO messages;
CREATE UNIQUE INDEX messages_by_id ON messages (source, id);
CREATE INDEX messages_by_arrival ON messages (received_at, source, id);
CREATE INDEX messages_by_source ON messages (source, received_at, id);
CREATE INDEX messages_by_type ON messages (type, received_at, source, id) WHERE type IS NOT NULL;
CREATE INDEX messages_by_sender ON messages (sender, received_at, source, id) WHERE sender IS NOT NULL;
