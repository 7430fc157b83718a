-- +goose Up
-- The purge sweep claims pending registrations whose last code expired
-- longer ago than PENDING_RETENTION for a lease, so that one sweeper
-- purges each.
ALTER TABLE registrations ADD COLUMN purge_claimed_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX registrations_pending_expiry ON registrations (coalesce(code_expires_at, updated_at))
    WHERE status = 'pending';
-- The purge deletes a user's unpublished messages with the registration.
CREATE INDEX outbox_key ON outbox (key);

-- +goose Down
DROP INDEX outbox_key;
DROP INDEX registrations_pending_expiry;
ALTER TABLE registrations DROP COLUMN purge_claimed_until;
