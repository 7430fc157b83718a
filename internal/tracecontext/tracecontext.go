// Package tracecontext carries a span's context where a Go context cannot
// go: into an actor command, an outbox row, a Kafka header. It is the W3C
// trace context as its two strings, traceparent and tracestate; both are
// empty when the context holds no sampled-or-not span (tracing off).
package tracecontext

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

var w3c = propagation.TraceContext{}

// Inject returns the trace context of ctx's span.
func Inject(ctx context.Context) (traceparent, tracestate string) {
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// Extract returns ctx with the remote span context of traceparent and
// tracestate as its parent; ctx unchanged when traceparent is empty or
// malformed.
func Extract(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}
