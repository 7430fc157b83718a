package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/messaging/pubsubtest"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

func msg(id, topic, key string) *registrationv1.Envelope {
	return &registrationv1.Envelope{Id: id, Topic: topic, Key: key, Type: "t"}
}

// recorder is a handler that records what it handled, per key.
type recorder struct {
	mu    sync.Mutex
	byKey map[string][]string
	all   []string
}

func (r *recorder) handle(_ context.Context, m *registrationv1.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byKey == nil {
		r.byKey = map[string][]string{}
	}
	r.byKey[m.GetKey()] = append(r.byKey[m.GetKey()], m.GetId())
	r.all = append(r.all, m.GetId())
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.all...)
}

func TestBusDeliversToEverySubscriberOfTheTopicOnly(t *testing.T) {
	bus := messaging.NewBus(4)
	var a, b, other recorder
	bus.Subscribe("mail", a.handle)
	bus.Subscribe("mail", b.handle)
	bus.Subscribe("events", other.handle)
	require.NoError(t, bus.Publish(context.Background(), []*registrationv1.Envelope{msg("1", "mail", "k")}))
	assert.Equal(t, []string{"1"}, a.ids())
	assert.Equal(t, []string{"1"}, b.ids())
	assert.Empty(t, other.ids())
}

func TestBusKeepsTheOrderOfEachKey(t *testing.T) {
	bus := messaging.NewBus(8)
	var r recorder
	bus.Subscribe("events", r.handle)
	var batch []*registrationv1.Envelope
	want := map[string][]string{}
	for i := range 400 {
		key := fmt.Sprintf("user-%d", i%7)
		id := fmt.Sprintf("m%03d", i)
		batch = append(batch, msg(id, "events", key))
		want[key] = append(want[key], id)
	}
	require.NoError(t, bus.Publish(context.Background(), batch))
	assert.Equal(t, want, r.byKey)
}

func TestBusReportsHandlerErrorsAndStopsThatKeysLane(t *testing.T) {
	bus := messaging.NewBus(2)
	var r recorder
	boom := errors.New("smtp down")
	bus.Subscribe("mail", func(ctx context.Context, m *registrationv1.Envelope) error {
		if m.GetId() == "a1" {
			return boom
		}
		return r.handle(ctx, m)
	})
	err := bus.Publish(context.Background(), []*registrationv1.Envelope{
		msg("a1", "mail", "a"), msg("a2", "mail", "a"), msg("b1", "mail", "b"),
	})
	require.ErrorIs(t, err, boom)
	assert.Equal(t, []string{"b1"}, r.ids(), "a2 must wait for a1: the whole batch is retried")
}

func TestBusDropsMessagesOfTopicsNobodyReads(t *testing.T) {
	bus := messaging.NewBus(1)
	require.NoError(t, bus.Publish(context.Background(), []*registrationv1.Envelope{msg("1", "unread", "k")}))
}

func TestBusContract(t *testing.T) {
	pubsubtest.Run(t, func(t *testing.T) pubsubtest.Subject {
		bus := messaging.NewBus(4)
		return pubsubtest.Subject{
			Publisher: bus,
			Topics:    [2]string{"one", "two"},
			Subscribe: func(topic string) <-chan *registrationv1.Envelope {
				ch := make(chan *registrationv1.Envelope, 1000)
				bus.Subscribe(topic, func(_ context.Context, m *registrationv1.Envelope) error {
					ch <- m
					return nil
				})
				return ch
			},
		}
	})
}
