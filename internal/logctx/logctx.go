// Package logctx carries the request id of a request in its context, and
// is the slog handler that adds it to every line logged with that context:
// one grep finds everything one request did, in the gateway, the hasher and
// the actors' callers.
package logctx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// WithRequestID returns ctx carrying id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewRequestID returns a fresh id: 16 random bytes, hex.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// SaneRequestID reports whether id, taken from a client or a proxy, may be
// kept: 1 to 128 characters of letters, digits and ._:=+/- (UUIDs, W3C
// trace ids, AWS's Root=1-... ids). Anything else, spaces and control
// characters first, could forge log lines or grow them without bound.
func SaneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range []byte(id) {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '.', r == '_', r == ':', r == '=', r == '+', r == '/', r == '-':
		default:
			return false
		}
	}
	return true
}

// Handler adds request_id to every record logged with a context that
// carries one, and trace_id when the context holds a span (tracing on): a
// log line leads to its trace.
type Handler struct{ slog.Handler }

// NewHandler wraps next.
func NewHandler(next slog.Handler) Handler { return Handler{next} }

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return Handler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }
