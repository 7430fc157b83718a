-- +goose Up
-- The expiry sweep claims pending codes that expired without their event
-- (their actor's timer died with its member) for a lease, with SKIP LOCKED,
-- so that when several members sweep at once each row goes to one of them.
ALTER TABLE registrations ADD COLUMN expiry_claimed_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity';
CREATE INDEX registrations_unnoted_expiry ON registrations (code_expires_at)
    WHERE status = 'pending' AND NOT code_expiry_noted AND code_mac IS NOT NULL;

-- +goose Down
DROP INDEX registrations_unnoted_expiry;
ALTER TABLE registrations DROP COLUMN expiry_claimed_until;
