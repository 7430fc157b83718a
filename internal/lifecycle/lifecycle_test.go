package lifecycle_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/lifecycle"
)

// recorder notes what the parts did, in order.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func part(r *recorder, name string, run bool) lifecycle.Part {
	p := lifecycle.Part{Name: name, Stop: func(context.Context) error { r.note("stop " + name); return nil }}
	if run {
		p.Run = func(ctx context.Context) error { <-ctx.Done(); r.note("ran " + name); return nil }
	}
	return p
}

func TestPartsStopInReverseOrder(t *testing.T) {
	r := &recorder{}
	l := lifecycle.New(slog.New(slog.DiscardHandler))
	for _, p := range []lifecycle.Part{part(r, "store", false), part(r, "relay", true), part(r, "server", true)} {
		l.Add(p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, nil, time.Second) }()
	cancel()
	require.NoError(t, <-done)
	got := r.got()
	assert.Equal(t, []string{"stop server", "stop relay", "stop store"}, filter(got, "stop "), "last added, first stopped")
	assert.ElementsMatch(t, []string{"ran relay", "ran server"}, filter(got, "ran "))
}

func filter(log []string, prefix string) []string {
	var out []string
	for _, s := range log {
		if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
			out = append(out, s)
		}
	}
	return out
}

func TestAFailingPartStopsTheBinary(t *testing.T) {
	r := &recorder{}
	l := lifecycle.New(slog.New(slog.DiscardHandler))
	l.Add(part(r, "store", false))
	l.Add(lifecycle.Part{Name: "server", Run: func(context.Context) error { return errors.New("address in use") }})
	err := l.Run(context.Background(), nil, time.Second)
	require.ErrorContains(t, err, "server: address in use")
	assert.Equal(t, []string{"stop store"}, r.got())
}

func TestAReasonFromOutsideStopsTheBinary(t *testing.T) {
	r := &recorder{}
	l := lifecycle.New(slog.New(slog.DiscardHandler))
	l.Add(part(r, "actors", true))
	stop := make(chan error, 1)
	stop <- errors.New("fenced")
	require.ErrorContains(t, l.Run(context.Background(), stop, time.Second), "fenced")
	assert.Contains(t, r.got(), "stop actors")
}

func TestCloseStopsWhatWasAddedAndChecksAreTheReadyParts(t *testing.T) {
	r := &recorder{}
	l := lifecycle.New(slog.New(slog.DiscardHandler))
	a := part(r, "database", false)
	a.Ready = func(context.Context) error { return nil }
	l.Add(a)
	l.Add(part(r, "kafka", false))
	checks := l.Checks()
	require.Len(t, checks, 1)
	assert.Equal(t, "database", checks[0].Name)
	require.NoError(t, l.Close(context.Background()))
	assert.Equal(t, []string{"stop kafka", "stop database"}, r.got())
	require.NoError(t, l.Close(context.Background()))
	assert.Len(t, r.got(), 2, "stopped once")
}
