-- +goose Up
-- The /stats counters in one table instead of three. Every commit updates the totals, its
-- sources' counts and its senders' counts; in three tables that is three B-trees, three
-- pages, each appended to the WAL and synced with the commit. WITHOUT ROWID stores the rows
-- in the primary key's own B-tree, in (kind, name) order, so while there are few sources and
-- senders they all share one leaf page: a lone message's commit writes two pages fewer (see
-- BenchmarkWALPages/lone), and at a low steady rate a sender waits for the sync of what its
-- commit wrote.
--
-- kind is 'total' (name 'messages' or 'senders'), 'source' or 'sender'. counts_top keeps
-- the senders in /stats' order, so that the top ten are read without a sort of every sender;
-- partial, so that a commit moves only its senders' entries in it, not the totals'.
CREATE TABLE counts (
    kind TEXT    NOT NULL,
    name TEXT    NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
) STRICT, WITHOUT ROWID;

INSERT INTO counts (kind, name, n)
    SELECT 'total', 'messages', messages FROM totals
    UNION ALL SELECT 'total', 'senders', senders FROM totals
    UNION ALL SELECT 'source', source, n FROM source_counts
    UNION ALL SELECT 'sender', sender, n FROM sender_counts;

CREATE INDEX counts_top ON counts (n DESC, name) WHERE kind = 'sender';

DROP TABLE totals;
DROP TABLE source_counts;
DROP TABLE sender_counts; -- and sender_counts_top

-- +goose Down
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

CREATE TABLE source_counts (
    source TEXT    NOT NULL PRIMARY KEY,
    n      INTEGER NOT NULL
) STRICT;

INSERT INTO sender_counts (sender, n) SELECT name, n FROM counts WHERE kind = 'sender';
INSERT INTO source_counts (source, n) SELECT name, n FROM counts WHERE kind = 'source';
INSERT INTO totals (one, messages, senders)
    SELECT 1, (SELECT n FROM counts WHERE kind = 'total' AND name = 'messages'),
              (SELECT n FROM counts WHERE kind = 'total' AND name = 'senders');
DROP TABLE counts;
