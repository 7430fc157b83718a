package messaging

import (
	"context"
	"errors"
	"sync"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Bus is the in-process Publisher of embedded mode. Publish hands each message
// to every subscriber of its topic and returns when all have handled it, so
// the relay deletes a message from the outbox only after it was consumed: a
// crash in between means a redelivery, never a loss. Messages with the same
// key are handled in order; different keys run concurrently.
type Bus struct {
	mu   sync.RWMutex
	subs map[string][]Handler
	// slots bounds the handlers running at once.
	slots chan struct{}
}

// NewBus returns a bus that runs at most concurrency handlers at once
// (default 32).
func NewBus(concurrency int) *Bus {
	if concurrency <= 0 {
		concurrency = 32
	}
	return &Bus{subs: map[string][]Handler{}, slots: make(chan struct{}, concurrency)}
}

// Subscribe adds h to the handlers of topic. Messages on a topic nobody
// subscribes to are dropped, as on a broker no consumer group reads.
func (b *Bus) Subscribe(topic string, h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[topic] = append(b.subs[topic], h)
}

// handlers snapshots the subscribers of the topics of msgs.
func (b *Bus) handlers(msgs []*registrationv1.Envelope) map[string][]Handler {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := map[string][]Handler{}
	for _, m := range msgs {
		out[m.GetTopic()] = b.subs[m.GetTopic()]
	}
	return out
}

// Publish implements Publisher.
func (b *Bus) Publish(ctx context.Context, msgs []*registrationv1.Envelope) error {
	subs := b.handlers(msgs)

	// One ordered lane per key.
	var order []string
	lanes := map[string][]*registrationv1.Envelope{}
	for _, m := range msgs {
		if _, ok := lanes[m.GetKey()]; !ok {
			order = append(order, m.GetKey())
		}
		lanes[m.GetKey()] = append(lanes[m.GetKey()], m)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, key := range order {
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-b.slots }()
			for _, m := range lanes[key] {
				for _, h := range subs[m.GetTopic()] {
					if err := h(ctx, m); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return // keep the key's order: stop its lane
					}
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
