package messaging

import (
	"context"
	"time"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Publisher sends messages to their topics.
type Publisher interface {
	// Publish returns nil once every message is accepted (for the Bus:
	// handled by every subscriber; for Kafka: acknowledged by all in-sync
	// replicas). On error some may have been delivered: callers retry the
	// whole batch and consumers deduplicate. Messages with the same key are
	// delivered in order.
	Publish(ctx context.Context, msgs []*registrationv1.Envelope) error
}

// Handler consumes one message. A nil error means handled; an error means
// "deliver again later" unless it wraps ErrPermanent.
type Handler func(ctx context.Context, msg *registrationv1.Envelope) error

// Outbox is the relay's view of the stored messages. Implemented by the
// stores in persistence/ and by the in-memory fake in actors/actorstest.
type Outbox interface {
	// Claim first deletes the delivered messages (unknown ids are ignored),
	// then returns up to limit messages, oldest first, and hides them from
	// other claims for lease; an error leaves the delivered ones to delete
	// again. A store that can does both in one round trip: the relay hands
	// the deletions of one batch to the claim of the next. A message claimed
	// and not deleted before its lease ends is claimed again.
	Claim(ctx context.Context, delivered []string, limit int, lease time.Duration) ([]*registrationv1.Envelope, error)
	// Release makes claimed messages claimable again at once (a batch that
	// could not be published); unknown ids are ignored.
	Release(ctx context.Context, ids []string) error
	// Notify receives a value (coalesced) after messages are added.
	Notify() <-chan struct{}
}
