-- +goose Up
-- The counters are now updated once per commit by the writer, for all the messages of the
-- batch, instead of twice per message by a trigger: same transaction, a fraction of the work.
DROP TRIGGER messages_counted;

-- +goose Down
-- +goose StatementBegin
CREATE TRIGGER messages_counted AFTER INSERT ON messages BEGIN
    UPDATE totals SET
        messages = messages + 1,
        senders  = senders + NOT EXISTS (SELECT 1 FROM sender_counts WHERE sender = NEW.sender);
    INSERT INTO sender_counts (sender, n) VALUES (NEW.sender, 1)
        ON CONFLICT (sender) DO UPDATE SET n = n + 1;
END;
-- +goose StatementEnd
