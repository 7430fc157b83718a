-- +goose Up
-- The W3C trace context of the span that wrote each message (empty when
-- tracing is off), so that the relay's publish and the consumers' spans
-- join the request's trace.
ALTER TABLE outbox ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE outbox DROP COLUMN tracestate;
ALTER TABLE outbox DROP COLUMN traceparent;
