-- +goose Up
-- Sources: a message belongs to the source it was received for, and its id is unique within
-- that source only (GitHub's delivery "abc" and Stripe's event "abc" are two messages).
-- Every message stored before is the default source's, POST /webhook's: no type, a JSON body,
-- no headers kept.
--
-- A STRICT table cannot drop NOT NULL from sender and content, nor move its uniqueness from id
-- to (source, id), without a rebuild: a new table, a copy, a swap. The copy keeps each rowid,
-- so the rows stay in arrival order on disk, and the indexes are built after it, each by one
-- sort instead of a million scattered inserts.
--
-- Column order matters to reads: SQLite reads a row's columns up to the last one a query
-- needs, so the columns a listing shows come first, and the large ones only Get reads
-- (headers, payload) last, where a listing never touches their overflow pages.
--
-- type, sender and content are NULL when a message has none: sender and content exist only
-- for POST /webhook's {id,sender,content} format. headers is the HTTP layer's JSON object, or
-- NULL; content_type is the request's Content-Type.
CREATE TABLE messages_v4 (
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

INSERT INTO messages_v4 (rowid, source, id, received_at, type, sender, content, content_type, headers, payload)
    SELECT rowid, 'default', id, received_at, NULL, sender, content, 'application/json', NULL, payload
    FROM messages ORDER BY rowid;

DROP TABLE messages; -- and its indexes
ALTER TABLE messages_v4 RENAME TO messages;

-- The database decides uniqueness: INSERT … ON CONFLICT (source, id) DO NOTHING.
CREATE UNIQUE INDEX messages_by_id ON messages (source, id);

-- Every listing is in (received_at, source, id) order, and each filter the API offers seeks
-- one index whose columns after the filtered one are that order, so a page reads only the
-- rows it returns and never sorts. Each index entry costs every insert, so there are as few
-- as that allows: the arrival order, one per source, and the type and sender ones are partial,
-- holding only the rows that have one. A provider's message has a type and no sender, a
-- POST /webhook message a sender and no type: each row is in four indexes, the unique one
-- included (three before sources).
-- Source needs no place before id in messages_by_source: within one source it is constant.
CREATE INDEX messages_by_arrival ON messages (received_at, source, id);
CREATE INDEX messages_by_source ON messages (source, received_at, id);
CREATE INDEX messages_by_type ON messages (type, received_at, source, id) WHERE type IS NOT NULL;
CREATE INDEX messages_by_sender ON messages (sender, received_at, source, id) WHERE sender IS NOT NULL;

-- /stats per source, kept by the writer in the insert's transaction like sender_counts: one
-- row per source, updated once per batch.
CREATE TABLE source_counts (
    source TEXT    NOT NULL PRIMARY KEY,
    n      INTEGER NOT NULL
) STRICT;
INSERT INTO source_counts (source, n) SELECT 'default', count(*) FROM messages HAVING count(*) > 0;

-- +goose Down
-- The previous schema holds one source and needs a sender: it cannot take messages of other
-- sources, or without a sender. Refuse instead of dropping them (a failed CHECK stops the
-- migration, and its transaction rolls back).
CREATE TEMP TABLE downgrade_check (
    others INTEGER NOT NULL CHECK (others = 0) -- messages of another source or without a sender
);
INSERT INTO downgrade_check SELECT count(*) FROM messages WHERE source <> 'default' OR sender IS NULL;
DROP TABLE downgrade_check;

CREATE TABLE messages_v3 (
    id          TEXT    NOT NULL PRIMARY KEY,
    sender      TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    payload     BLOB    NOT NULL
) STRICT;
INSERT INTO messages_v3 (rowid, id, sender, content, received_at, payload)
    SELECT rowid, id, sender, coalesce(content, ''), received_at, payload FROM messages ORDER BY rowid;
DROP TABLE messages;
ALTER TABLE messages_v3 RENAME TO messages;
CREATE INDEX messages_by_arrival ON messages (received_at, id);
CREATE INDEX messages_by_sender ON messages (sender, received_at, id);
DROP TABLE source_counts;
