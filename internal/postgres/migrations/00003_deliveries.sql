-- +goose Up
-- The outbox: one delivery per message and destination, inserted by the statement that
-- inserts the message (one transaction). did is the delivery's id in the API.
--
-- destination, source and message_id are bytea like messages' keys, for the same reasons:
-- compared byte for byte, and never an error for a value that text would refuse. owner names
-- the worker that holds the lease; next_attempt_at is when a pending delivery is due (NULL
-- otherwise), and a Claim moves it to the end of the lease, so that a lease runs out by itself
-- when its worker dies.
--
-- attempts is a jsonb array of the newest attempts (hookvault.MaxAttemptsKept), oldest first:
-- they are read and written only with their delivery, so Record appends and trims them in the
-- one UPDATE that also releases the lease, where a table of attempts would need an insert, a
-- delete of the oldest and an index of its own. Large values are TOASTed, out of the way of a
-- Claim's index scan.
CREATE TABLE deliveries (
    did             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination     bytea       NOT NULL,
    source          bytea       NOT NULL,
    message_id      bytea       NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    tries           integer     NOT NULL DEFAULT 0,
    owner           bytea,
    attempts        jsonb       NOT NULL DEFAULT '[]'
);

-- Claim: the due deliveries of one destination, longest due first, a range of this index
-- locked with FOR UPDATE SKIP LOCKED. Partial, so it holds only what is pending and stays the
-- size of the backlog; PendingCounts reads it alone.
CREATE INDEX deliveries_due ON deliveries (destination, next_attempt_at) WHERE status = 'pending';

-- Listings are newest first: all of them from the primary key, one destination's in one
-- status from this index, and in every status by merging its three statuses' ranges.
CREATE INDEX deliveries_by_destination ON deliveries (destination, status, did);
CREATE INDEX deliveries_by_status ON deliveries (status, did);

-- +goose Down
DROP TABLE deliveries;
