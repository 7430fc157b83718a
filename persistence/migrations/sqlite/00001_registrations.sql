-- +goose Up
-- One row per normalized email. Times are Unix milliseconds (UTC).
CREATE TABLE registrations (
    email             TEXT    PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    password_hash     TEXT    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'active')),
    generation        INTEGER NOT NULL CHECK (generation >= 0),
    -- HMAC-SHA-256 of the current code; NULL when no code is outstanding.
    code_mac          BLOB,
    code_issued_at    INTEGER,
    code_expires_at   INTEGER,
    code_attempts     INTEGER NOT NULL DEFAULT 0,
    code_expiry_noted INTEGER NOT NULL DEFAULT 0 CHECK (code_expiry_noted IN (0, 1)),
    -- Sliding logs (JSON arrays of Unix milliseconds, oldest first).
    failures          TEXT    NOT NULL DEFAULT '[]',
    issues            TEXT    NOT NULL DEFAULT '[]',
    created_at        INTEGER NOT NULL,
    activated_at      INTEGER,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL CHECK (version >= 1)
) STRICT;

-- Messages written in the same transaction as the state change that caused
-- them; the relay publishes and then deletes them.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    topic         TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    type          TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    time          INTEGER NOT NULL,
    payload       BLOB    NOT NULL,
    claimed_until INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX outbox_claimable ON outbox (claimed_until, seq);

-- +goose Down
DROP TABLE outbox;
DROP TABLE registrations;
