-- +goose Up
-- One row per normalized email.
CREATE TABLE registrations (
    email             TEXT        PRIMARY KEY,
    id                UUID        NOT NULL UNIQUE,
    password_hash     TEXT        NOT NULL,
    status            TEXT        NOT NULL CHECK (status IN ('pending', 'active')),
    generation        BIGINT      NOT NULL CHECK (generation >= 0),
    -- HMAC-SHA-256 of the current code; NULL when no code is outstanding.
    code_mac          BYTEA,
    code_issued_at    TIMESTAMPTZ,
    code_expires_at   TIMESTAMPTZ,
    code_attempts     INTEGER     NOT NULL DEFAULT 0,
    code_expiry_noted BOOLEAN     NOT NULL DEFAULT false,
    -- Sliding logs, oldest first.
    failures          TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    issues            TIMESTAMPTZ[] NOT NULL DEFAULT '{}',
    created_at        TIMESTAMPTZ NOT NULL,
    activated_at      TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL,
    version           BIGINT      NOT NULL CHECK (version >= 1)
);

-- Messages written in the same transaction as the state change that caused
-- them. Relays claim batches with FOR UPDATE SKIP LOCKED and a lease, publish
-- them, then delete them.
CREATE TABLE outbox (
    seq           BIGSERIAL   PRIMARY KEY,
    id            TEXT        NOT NULL UNIQUE,
    topic         TEXT        NOT NULL,
    key           TEXT        NOT NULL,
    type          TEXT        NOT NULL,
    source        TEXT        NOT NULL,
    time          TIMESTAMPTZ NOT NULL,
    payload       BYTEA       NOT NULL,
    claimed_until TIMESTAMPTZ NOT NULL DEFAULT '-infinity'
);

CREATE INDEX outbox_claimable ON outbox (claimed_until, seq);

-- Requests per client and window, shared by every registrar instance. Losing
-- it in a crash only forgives some requests: unlogged, so it costs no WAL.
CREATE UNLOGGED TABLE rate_limits (
    key          TEXT        NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER     NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- +goose Down
DROP TABLE rate_limits;
DROP TABLE outbox;
DROP TABLE registrations;
