// Package outboxtest is the contract suite of messaging.Outbox, the relay's
// port: every store's outbox runs it (the in-memory fake, SQLite,
// PostgreSQL), so the relay meets the same behaviour everywhere.
package outboxtest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/messaging"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Add writes messages into the outbox under test the way its store does:
// with a state change, in one transaction.
type Add func(t *testing.T, msgs ...*registrationv1.Envelope)

// Run runs the suite. open must return an empty outbox of its own for
// every call.
func Run(t *testing.T, open func(t *testing.T) (messaging.Outbox, Add)) {
	ctx := context.Background()

	t.Run("the outbox returns messages in order with every field", func(t *testing.T) {
		s, add := open(t)
		m1, m2 := envelope(t, "m-1", "user-1"), envelope(t, "m-2", "user-1")
		m2.Topic = registrationv1.MailTopic
		// The trace context of the span that wrote it travels with it.
		m2.Traceparent, m2.Tracestate = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "vendor=opaque"
		add(t, m1, m2)
		m3 := envelope(t, "m-3", "user-1")
		add(t, m3)

		got, err := s.Claim(ctx, nil, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 3)
		for i, want := range []*registrationv1.Envelope{m1, m2, m3} {
			assert.True(t, proto.Equal(want, got[i]), "message %d: got %v, want %v", i, got[i], want)
		}
	})

	t.Run("a message with an empty payload is stored", func(t *testing.T) {
		s, add := open(t)
		m := envelope(t, "m-empty", "user-1")
		m.Payload = nil // proto.Marshal of a message whose fields are all defaults
		add(t, m)
		got, err := s.Claim(ctx, nil, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Empty(t, got[0].GetPayload())
	})

	t.Run("a claim hides messages until the lease runs out, then they come back", func(t *testing.T) {
		s, add := open(t)
		add(t, envelope(t, "m-a", "user-1"), envelope(t, "m-b", "user-1"))

		first, err := s.Claim(ctx, nil, 1, 300*time.Millisecond)
		require.NoError(t, err)
		require.Len(t, first, 1)
		assert.Equal(t, "m-a", first[0].GetId())

		second, err := s.Claim(ctx, nil, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, second, 1, "a claimed message must not be claimed again while leased")
		assert.Equal(t, "m-b", second[0].GetId())

		require.Eventually(t, func() bool {
			again, err := s.Claim(ctx, nil, 10, time.Minute)
			return err == nil && len(again) == 1 && again[0].GetId() == "m-a"
		}, 5*time.Second, 20*time.Millisecond, "an undeleted message must be claimable after its lease")
	})

	t.Run("a released message can be claimed again at once", func(t *testing.T) {
		s, add := open(t)
		add(t, envelope(t, "m-r1", "user-1"), envelope(t, "m-r2", "user-1"))
		claimed, err := s.Claim(ctx, nil, 10, time.Hour)
		require.NoError(t, err)
		require.Len(t, claimed, 2)
		require.NoError(t, s.Release(ctx, []string{"m-r1", "no-such-id"}))
		again, err := s.Claim(ctx, nil, 10, time.Hour)
		require.NoError(t, err)
		require.Len(t, again, 1, "only the released message")
		assert.Equal(t, "m-r1", again[0].GetId())
	})

	t.Run("a claim deletes the delivered messages first and ignores unknown ids", func(t *testing.T) {
		s, add := open(t)
		add(t, envelope(t, "m-x", "user-1"), envelope(t, "m-y", "user-1"), envelope(t, "m-z", "user-1"))
		first, err := s.Claim(ctx, nil, 2, time.Millisecond)
		require.NoError(t, err)
		require.Len(t, first, 2)
		time.Sleep(5 * time.Millisecond) // their lease is over: only the deletion keeps them from this claim
		got, err := s.Claim(ctx, []string{"m-x", "m-y", "no-such-id"}, 10, time.Hour)
		require.NoError(t, err)
		require.Len(t, got, 1, "the delivered messages are deleted before the claim")
		assert.Equal(t, "m-z", got[0].GetId())
		require.NoError(t, s.Release(ctx, []string{"m-x", "m-y", "m-z"}))
		assertOutboxIDs(t, s, []string{"m-z"})
		none, err := s.Claim(ctx, []string{"m-z"}, 0, time.Hour)
		require.NoError(t, err)
		assert.Empty(t, none, "a limit of 0 only deletes")
		require.NoError(t, s.Release(ctx, []string{"m-z"})) // the lease of assertOutboxIDs's claim
		assertOutboxIDs(t, s, nil)
	})

	t.Run("a save with messages wakes the relay", func(t *testing.T) {
		s, add := open(t)
		drain(s.Notify())
		add(t, envelope(t, "m-w", "user-1"))
		select {
		case <-s.Notify():
		case <-time.After(5 * time.Second):
			t.Fatal("no notification after a save with messages")
		}
	})

}

func envelope(t *testing.T, id, key string) *registrationv1.Envelope {
	t.Helper()
	payload, err := proto.Marshal(&registrationv1.UserRegistered{UserId: key, Email: "x@example.com"})
	require.NoError(t, err)
	return &registrationv1.Envelope{
		Id: id, Topic: registrationv1.EventsTopic, Key: key, Type: "registration.v1.UserRegistered",
		Time: timestamppb.New(time.Date(2026, 11, 23, 12, 0, 0, 5e6, time.UTC)), Payload: payload, Source: registrationv1.Source,
	}
}

func assertOutboxIDs(t *testing.T, s messaging.Outbox, want []string) {
	t.Helper()
	msgs, err := s.Claim(context.Background(), nil, 1000, time.Millisecond)
	require.NoError(t, err)
	var got []string
	for _, m := range msgs {
		got = append(got, m.GetId())
	}
	assert.Equal(t, want, got)
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
