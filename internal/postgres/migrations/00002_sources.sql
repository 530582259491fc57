-- +goose Up
-- Sources: a message belongs to the source it was received for, and its id is unique within
-- that source only (GitHub's delivery "abc" and Stripe's event "abc" are two messages).
-- Every message stored before is the default source's, POST /webhook's: no type, a JSON body,
-- no headers kept.
--
-- The new columns are bytea, like id, sender and content, and for the same reasons: they are
-- compared and returned byte for byte, and text would refuse some valid deliveries with an
-- error, which a retry cannot fix (a 503 forever):
--   source        names are ASCII by configuration, but a lookup may come with any bytes
--                 (a query parameter), which must find nothing rather than fail;
--   type          from a header or a JSON string: a header may carry bytes that are not
--                 UTF-8, a JSON string may hold U+0000, which text cannot store;
--   content_type  the header as received, which may carry bytes that are not UTF-8;
--   headers       the JSON object the HTTP layer encoded, kept exactly: jsonb would reorder
--                 its members and drop repeated names, and json is text, which cannot hold
--                 header bytes that are not UTF-8.
-- type, sender, content and headers are NULL when a message has none: sender and content
-- exist only for POST /webhook's {id,sender,content} format.
--
-- Adding a column with a constant default and dropping NOT NULL change only the catalog:
-- the table is not rewritten. The defaults fill the existing rows and are dropped at once,
-- so a message without a source or a content type is an error, not a silent default.
ALTER TABLE messages
    ADD COLUMN source       bytea NOT NULL DEFAULT 'default'::bytea,
    ADD COLUMN type         bytea,
    ADD COLUMN content_type bytea NOT NULL DEFAULT 'application/json'::bytea,
    ADD COLUMN headers      bytea,
    ALTER COLUMN sender  DROP NOT NULL,
    ALTER COLUMN content DROP NOT NULL;
ALTER TABLE messages
    ALTER COLUMN source       DROP DEFAULT,
    ALTER COLUMN content_type DROP DEFAULT;

-- The database decides uniqueness: INSERT … ON CONFLICT (source, id) DO NOTHING.
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (source, id);

-- Every listing is in (received_at, source, id) order, and each filter the API offers has an
-- index that leads with its column and continues in that order, so a page reads only the
-- rows it returns and never sorts. Each index entry costs every insert, so there are as few
-- as that allows: the arrival order, one per source, and the type and sender ones are partial,
-- holding only the rows that have one. A provider's message has a type and no sender, a
-- POST /webhook message a sender and no type: each row is in four indexes, the primary key
-- included (three before sources).
-- Source needs no place before id in messages_by_source: within one source it is constant.
DROP INDEX messages_by_arrival;
DROP INDEX messages_by_sender;
CREATE INDEX messages_by_arrival ON messages (received_at, source, id);
CREATE INDEX messages_by_source ON messages (source, received_at, id);
CREATE INDEX messages_by_type ON messages (type, received_at, source, id) WHERE type IS NOT NULL;
CREATE INDEX messages_by_sender ON messages (sender, received_at, source, id) WHERE sender IS NOT NULL;

CREATE STATISTICS messages_keys (dependencies) ON source, type, sender FROM messages;

-- /stats per source, kept like sender_counts: each batch appends one row per source, summed
-- when read and folded together from time to time.
CREATE TABLE source_counts (
    source bytea  NOT NULL,
    n      bigint NOT NULL
);
CREATE INDEX source_counts_by_source ON source_counts (source);
INSERT INTO source_counts (source, n) SELECT 'default'::bytea, count(*) FROM messages HAVING count(*) > 0;

-- +goose Down
-- The previous schema holds one source and needs a sender: it cannot take messages of other
-- sources, or without a sender. Refuse instead of dropping them.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM messages WHERE source <> 'default'::bytea OR sender IS NULL) THEN
        RAISE EXCEPTION 'messages of other sources than default, or without a sender, exist: the schema before sources cannot hold them';
    END IF;
END
$$;
-- +goose StatementEnd
DROP TABLE source_counts;
DROP INDEX messages_by_sender;
DROP INDEX messages_by_type;
DROP INDEX messages_by_source;
DROP INDEX messages_by_arrival;
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE messages ADD CONSTRAINT messages_pkey PRIMARY KEY (id);
UPDATE messages SET content = '' WHERE content IS NULL;
ALTER TABLE messages
    DROP COLUMN source,
    DROP COLUMN type,
    DROP COLUMN content_type,
    DROP COLUMN headers,
    ALTER COLUMN sender  SET NOT NULL,
    ALTER COLUMN content SET NOT NULL;
CREATE INDEX messages_by_arrival ON messages (received_at, id);
CREATE INDEX messages_by_sender ON messages (sender, received_at, id);
