-- +goose Up
-- The expiry sweep claims pending codes that expired without their event
-- (their actor's timer died with its process) for a lease, so that one
-- sweeper notes each.
ALTER TABLE registrations ADD COLUMN expiry_claimed_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX registrations_unnoted_expiry ON registrations (code_expires_at)
    WHERE status = 'pending' AND code_expiry_noted = 0 AND code_mac IS NOT NULL;

-- +goose Down
DROP INDEX registrations_unnoted_expiry;
ALTER TABLE registrations DROP COLUMN expiry_claimed_until;
