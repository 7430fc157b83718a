package actors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// redactingHandler is the log handler given to Proto.Actor. The library logs
// whole messages (dead letters, supervision failures) and our commands carry
// passwords: every value that is not a PID, an error or a scalar is replaced
// by its type name.
//
// It also tames the library's noise: some conditions it logs at ERROR on
// every retry or poll (a peer down, a connection closed at a clean stop)
// are expected in a cluster; they are logged as warnings, at most once per
// noiseEvery for each message.
type redactingHandler struct {
	slog.Handler
	noise *noiseGate
}

// routine are protoactor messages of expected conditions that it logs at
// ERROR, often many times a second.
var routine = map[string]bool{
	"Bad connection to the node health status":          true, // automanaged: a peer is down
	"Failure reaching nodes":                            true,
	"Couldn't request node health status":               true,
	"Bad response from the node health status":          true,
	"Automanaged server stopping..!":                    true, // every clean stop
	"EndpointWriter lost connection":                    true,
	"EndpointWriter failed to create receive stream":    true,
	"EndpointWriter failed to connect":                  true,
	"EndpointReader failed to read":                     true,
	"sendGossipForMember failed":                        true,
	"cluster.RequestFuture failed":                      true,
	"EndpointWriter failed to receive connect response": true,
}

const noiseEvery = 30 * time.Second

// noiseGate lets one line of each routine message through per noiseEvery.
type noiseGate struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (g *noiseGate) allow(msg string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.Sub(g.last[msg]) < noiseEvery {
		return false
	}
	g.last[msg] = now
	return true
}

func newRedactingHandler(h slog.Handler) redactingHandler {
	return redactingHandler{Handler: h, noise: &noiseGate{last: map[string]time.Time{}}}
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	if routine[r.Message] && level > slog.LevelWarn {
		if !h.noise.allow(r.Message, r.Time) {
			return nil
		}
		level = slog.LevelWarn
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
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
	return redactingHandler{Handler: h.Handler.WithAttrs(clean), noise: h.noise}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{Handler: h.Handler.WithGroup(name), noise: h.noise}
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
