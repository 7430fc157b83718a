-- +goose Up
-- The per-client limit counts requests in a rolling window (a sliding log
-- of the allowed requests' times), not per calendar window: a burst across
-- a boundary of the clock is one budget.
DROP TABLE rate_limits;

CREATE UNLOGGED TABLE rate_limits (
    key        TEXT          PRIMARY KEY,
    hits       TIMESTAMPTZ[] NOT NULL,
    -- when the newest hit leaves the window: the row can then go
    expires_at TIMESTAMPTZ   NOT NULL
);

CREATE INDEX rate_limits_expiry ON rate_limits (expires_at);

-- rate_limit_hit counts one request for p_key: allowed while fewer than
-- p_limit requests were allowed in the last p_window; otherwise retry_after
-- says when the oldest of them leaves it. The row lock serializes the
-- requests of one key across every registrar; the clock is the database's.
-- +goose StatementBegin
CREATE FUNCTION rate_limit_hit(p_key TEXT, p_limit INTEGER, p_window INTERVAL,
                               OUT allowed BOOLEAN, OUT retry_after INTERVAL)
LANGUAGE plpgsql AS $$
DECLARE
    now_  TIMESTAMPTZ;
    live  TIMESTAMPTZ[];
BEGIN
    -- One statement inserts or locks the row: a prune between two
    -- statements cannot make the hit go unrecorded.
    INSERT INTO rate_limits AS r (key, hits, expires_at) VALUES (p_key, '{}', '-infinity')
        ON CONFLICT (key) DO UPDATE SET key = r.key
        RETURNING r.hits INTO live;
    now_ := clock_timestamp(); -- read under the lock: hits stay in order
    SELECT coalesce(array_agg(h ORDER BY h), '{}') INTO live
        FROM unnest(live) AS h
        WHERE h > now_ - p_window;
    allowed := cardinality(live) < p_limit;
    IF allowed THEN
        live := live || now_;
        retry_after := interval '0';
    ELSE
        retry_after := live[1] + p_window - now_;
    END IF;
    UPDATE rate_limits SET hits = live, expires_at = live[cardinality(live)] + p_window
        WHERE key = p_key;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION rate_limit_hit(TEXT, INTEGER, INTERVAL);
DROP TABLE rate_limits;
CREATE UNLOGGED TABLE rate_limits (
    key          TEXT        NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    count        INTEGER     NOT NULL,
    PRIMARY KEY (key, window_start)
);
