package actors

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// redactingHandler is the log handler given to Proto.Actor. The library logs
// whole messages (dead letters, supervision failures) and our commands carry
// passwords: every value that is not a PID, an error or a scalar is replaced
// by its type name.
type redactingHandler struct{ slog.Handler }

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redact(a)
	}
	return redactingHandler{h.Handler.WithAttrs(clean)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.Handler.WithGroup(name)}
}

func redact(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindAny:
		switch x := v.Any().(type) {
		case *actor.PID:
			return slog.String(a.Key, x.String())
		case error:
			return slog.String(a.Key, x.Error())
		default:
			return slog.String(a.Key, fmt.Sprintf("%T", x))
		}
	case slog.KindGroup:
		attrs := v.Group()
		clean := make([]any, len(attrs))
		for i, g := range attrs {
			clean[i] = redact(g)
		}
		return slog.Group(a.Key, clean...)
	}
	return a
}
