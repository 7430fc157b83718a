// Package lifecycle runs the parts of a binary: each part is added once it
// is built, runs (when it has work of its own) until the binary stops, and
// is stopped in the reverse order of its addition. A binary's start and stop
// are then one list, kept in step by construction: whatever was added is
// stopped, whether the binary ran or failed half-way through its start.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// Part is one component of a binary. Every field but Name is optional.
type Part struct {
	Name string
	// Run does the part's work until ctx ends (serving, consuming,
	// relaying); an error stops the binary.
	Run func(ctx context.Context) error
	// Stop releases the part, within ctx; it is called once, in reverse
	// order, after every Run's ctx ended.
	Stop func(ctx context.Context) error
	// Ready reports whether the part can serve (readiness).
	Ready func(ctx context.Context) error
}

// Lifecycle is the ordered parts of a binary.
type Lifecycle struct {
	log   *slog.Logger
	parts []Part
}

// New returns an empty lifecycle that logs through log.
func New(log *slog.Logger) *Lifecycle { return &Lifecycle{log: log} }

// Add appends a part: it stops before every part added earlier.
func (l *Lifecycle) Add(p Part) { l.parts = append(l.parts, p) }

// Listener is the part that closes l (a server's Shutdown may have closed
// it already).
func Listener(l net.Listener) Part {
	return Part{Name: "listener", Stop: func(context.Context) error {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	}}
}

// Check is one readiness probe.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Checks are the readiness probes of the parts that have one, in order.
func (l *Lifecycle) Checks() []Check {
	var out []Check
	for _, p := range l.parts {
		if p.Ready != nil {
			out = append(out, Check{Name: p.Name, Probe: p.Ready})
		}
	}
	return out
}

// Run runs every part until ctx ends or a part fails (or stop receives an
// error: a reason from outside to stop), then stops them all within
// stopTimeout, last added first. It returns the failure and every error of
// the stop.
func (l *Lifecycle) Run(ctx context.Context, stop <-chan error, stopTimeout time.Duration) error {
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	failed := make(chan error, len(l.parts))
	var running sync.WaitGroup
	for _, p := range l.parts {
		if p.Run == nil {
			continue
		}
		running.Go(func() {
			if err := p.Run(runCtx); err != nil {
				failed <- fmt.Errorf("%s: %w", p.Name, err)
			}
		})
	}
	var cause error
	select {
	case <-ctx.Done():
	case cause = <-failed:
	case cause = <-stop:
	}
	cancel()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), stopTimeout)
	defer cancelStop()
	err := l.stop(stopCtx)
	running.Wait()
	return errors.Join(cause, err)
}

// Close stops every part, for a binary whose start failed half-way.
func (l *Lifecycle) Close(ctx context.Context) error { return l.stop(ctx) }

func (l *Lifecycle) stop(ctx context.Context) error {
	var errs []error
	for _, p := range slices.Backward(l.parts) {
		if p.Stop == nil {
			continue
		}
		if err := p.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", p.Name, err))
		}
	}
	l.parts = nil
	return errors.Join(errs...)
}
