-- +goose Up
-- Wrong codes and wrong passwords are separate budgets: the old log of
-- failures becomes the code budget's, and the password throttle (two
-- buckets and the known sources, see actors/throttle.go) is a JSON
-- document of its own.
ALTER TABLE registrations RENAME COLUMN failures TO code_failures;
ALTER TABLE registrations ADD COLUMN password_guard JSONB NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE registrations DROP COLUMN password_guard;
ALTER TABLE registrations RENAME COLUMN code_failures TO failures;
