-- +goose Up
-- The mailer's memory of sent emails, by message id: a redelivered message
-- (Kafka is at least once) does not send a second email.
CREATE TABLE mail_deliveries (
    message_id TEXT        PRIMARY KEY,
    sent_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    keep_until TIMESTAMPTZ NOT NULL
);

CREATE INDEX mail_deliveries_keep_until ON mail_deliveries (keep_until);

-- +goose Down
DROP TABLE mail_deliveries;
