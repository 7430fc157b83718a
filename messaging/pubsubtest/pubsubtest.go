// Package pubsubtest is the contract suite of messaging.Publisher together
// with its way of consuming: the in-process Bus and Kafka both run it.
package pubsubtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/messaging"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Subject is a publisher and the means to read what it published.
type Subject struct {
	Publisher messaging.Publisher
	// Topics are two distinct topics that exist.
	Topics [2]string
	// Subscribe returns the messages of topic, from now on, in arrival order.
	Subscribe func(topic string) <-chan *registrationv1.Envelope
}

// Run runs the suite; open returns a fresh subject.
func Run(t *testing.T, open func(t *testing.T) Subject) {
	ctx := context.Background()

	t.Run("every message arrives whole", func(t *testing.T) {
		s := open(t)
		got := s.Subscribe(s.Topics[0])
		want := []*registrationv1.Envelope{env(s.Topics[0], "u1", 1), env(s.Topics[0], "u2", 2), env(s.Topics[0], "u1", 3)}
		want[1].Payload = nil // a message whose fields are all defaults
		want[2].Traceparent, want[2].Tracestate = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=opaque"
		require.NoError(t, s.Publisher.Publish(ctx, want))
		received := receive(t, got, len(want))
		byID := map[string]*registrationv1.Envelope{}
		for _, m := range received {
			byID[m.GetId()] = m
		}
		for _, w := range want {
			g := byID[w.GetId()]
			require.NotNil(t, g, "message %s", w.GetId())
			assert.Equal(t, w.GetTopic(), g.GetTopic())
			assert.Equal(t, w.GetKey(), g.GetKey())
			assert.Equal(t, w.GetType(), g.GetType())
			assert.Equal(t, w.GetSource(), g.GetSource())
			assert.Equal(t, w.GetTraceparent(), g.GetTraceparent(), "the trace context travels with the message")
			assert.Equal(t, w.GetTracestate(), g.GetTracestate())
			assert.True(t, w.GetTime().AsTime().Equal(g.GetTime().AsTime()), "time %s, want %s", g.GetTime().AsTime(), w.GetTime().AsTime())
			assert.Equal(t, len(w.GetPayload()), len(g.GetPayload()))
			assert.True(t, proto.Equal(&registrationv1.Envelope{Payload: w.GetPayload()}, &registrationv1.Envelope{Payload: g.GetPayload()}))
		}
	})

	t.Run("one key's messages keep their order", func(t *testing.T) {
		s := open(t)
		got := s.Subscribe(s.Topics[0])
		var batch []*registrationv1.Envelope
		want := map[string][]string{}
		for i := range 60 {
			key := fmt.Sprintf("user-%d", i%4)
			m := env(s.Topics[0], key, i)
			batch = append(batch, m)
			want[key] = append(want[key], m.GetId())
		}
		require.NoError(t, s.Publisher.Publish(ctx, batch[:30]))
		require.NoError(t, s.Publisher.Publish(ctx, batch[30:]))
		byKey := map[string][]string{}
		for _, m := range receive(t, got, len(batch)) {
			byKey[m.GetKey()] = append(byKey[m.GetKey()], m.GetId())
		}
		assert.Equal(t, want, byKey)
	})

	t.Run("messages reach their own topic only", func(t *testing.T) {
		s := open(t)
		first, second := s.Subscribe(s.Topics[0]), s.Subscribe(s.Topics[1])
		require.NoError(t, s.Publisher.Publish(ctx, []*registrationv1.Envelope{env(s.Topics[1], "u", 7)}))
		m := receive(t, second, 1)[0]
		assert.Equal(t, s.Topics[1], m.GetTopic())
		select {
		case m := <-first:
			t.Fatalf("message %s reached the other topic", m.GetId())
		case <-time.After(200 * time.Millisecond):
		}
	})
}

func env(topic, key string, i int) *registrationv1.Envelope {
	payload, _ := proto.Marshal(&registrationv1.UserRegistered{UserId: key, Email: fmt.Sprintf("%s-%d@example.com", key, i)})
	return &registrationv1.Envelope{
		Id:    fmt.Sprintf("m-%s-%03d-%d", key, i, time.Now().UnixNano()),
		Topic: topic,
		Key:   key,
		Type:  "registration.v1.UserRegistered",
		// Now, in Kafka's millisecond precision: a fixed date would fall out
		// of a topic's retention and the broker would delete the messages.
		Time:    timestamppb.New(time.Now().Truncate(time.Millisecond)),
		Payload: payload,
		Source:  "/registrar",
	}
}

func receive(t *testing.T, ch <-chan *registrationv1.Envelope, n int) []*registrationv1.Envelope {
	t.Helper()
	var out []*registrationv1.Envelope
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-deadline:
			t.Fatalf("received %d of %d messages", len(out), n)
		}
	}
	return out
}
