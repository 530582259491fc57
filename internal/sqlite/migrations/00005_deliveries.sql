-- +goose Up
-- The outbox: one delivery per message and destination, written in the transaction that
-- stores the message. did is the delivery's id in the API: AUTOINCREMENT, so that a did is
-- never handed out twice, even after the newest deliveries were deleted.
--
-- Times are Unix nanoseconds like received_at. next_attempt_at is when a pending delivery is
-- due, NULL otherwise; a Claim moves it to the end of the lease and sets owner, so that the
-- lease runs out by itself when its worker dies. delivered_at is set only when delivered.
--
-- attempts is a JSON array of the newest attempts (hookvault.MaxAttemptsKept), oldest first:
-- they are read and written only with their delivery, and a bounded array in the row costs one
-- row write per Record, where a table of attempts would need an insert, a delete of the
-- oldest and an index of its own. It comes last, like messages' payload: a Claim or a count
-- never reads its overflow pages.
CREATE TABLE deliveries (
    did             INTEGER PRIMARY KEY AUTOINCREMENT,
    destination     TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER,
    delivered_at    INTEGER,
    tries           INTEGER NOT NULL DEFAULT 0,
    owner           TEXT,
    attempts        TEXT
) STRICT;

-- Claim: the due deliveries of one destination, longest due first, read as a range of this
-- index. Partial, so it holds only what is pending: delivered and failed ones leave it, and
-- it stays the size of the backlog. PendingCounts reads it alone.
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_at) WHERE status = 'pending';

-- Listings are newest first (did, the rowid, descending), read from the table itself with
-- the filters applied row by row: every delivery is inserted while the sender waits for its
-- answer, and an index that every insert updates (by destination, by status) cost the ingest
-- rate more than it saved listings, whose pages are bounded. The exception is failed
-- deliveries, rare and the ones an operator looks for: this index holds only them, so no
-- insert touches it (a delivery becomes failed in a Record).
CREATE INDEX deliveries_failed ON deliveries (did) WHERE status = 'failed';

-- +goose Down
DROP TABLE deliveries;
