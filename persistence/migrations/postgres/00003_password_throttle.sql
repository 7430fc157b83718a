-- +goose Up
-- Wrong codes and wrong passwords are separate budgets. The old log of
-- failures mixed both: the code budget starts empty in a column of its own
-- (starting from the old log would leave accounts attacked with wrong
-- passwords without codes for a day), and the old column stays for
-- instances of the previous version during a rolling upgrade. The password
-- throttle (its buckets and the known networks, see actors/throttle.go) is a
-- JSON document.
ALTER TABLE registrations ADD COLUMN code_failures TIMESTAMPTZ[] NOT NULL DEFAULT '{}';
ALTER TABLE registrations ADD COLUMN password_guard JSONB NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE registrations DROP COLUMN password_guard;
ALTER TABLE registrations DROP COLUMN code_failures;
