-- +goose Up
-- Keyset pages walk (received_at, id), alone or within one sender, so each page reads only
-- the rows it returns.
CREATE INDEX messages_by_arrival ON messages (received_at, id);
CREATE INDEX messages_by_sender ON messages (sender, received_at, id);

-- Counters kept in the insert's own transaction, so /stats does not scan a million rows.
CREATE TABLE sender_counts (
    sender TEXT    NOT NULL PRIMARY KEY,
    n      INTEGER NOT NULL
) STRICT;
CREATE INDEX sender_counts_top ON sender_counts (n DESC, sender);

CREATE TABLE totals (
    one      INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    messages INTEGER NOT NULL,
    senders  INTEGER NOT NULL
) STRICT;

INSERT INTO sender_counts (sender, n) SELECT sender, count(*) FROM messages GROUP BY sender;
INSERT INTO totals (one, messages, senders)
    SELECT 1, (SELECT count(*) FROM messages), (SELECT count(*) FROM sender_counts);

-- +goose StatementBegin
CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN
    UPDATE totals SET
        messages = messages + 1,
        senders  = senders + NOT EXISTS (SELECT 1 FROM sender_counts WHERE sender = NEW.sender);
    INSERT INTO sender_counts (sender, n) VALUES (NEW.sender, 1)
        ON CONFLICT (sender) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER messages_counted;
DROP TABLE totals;
DROP TABLE sender_counts;
DROP INDEX messages_by_sender;
DROP INDEX messages_by_arrival;
