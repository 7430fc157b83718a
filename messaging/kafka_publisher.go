package messaging

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// KafkaPublisher writes envelopes to Kafka: acknowledged by all in-sync
// replicas, hashed by key (one user's messages stay on one partition, in
// order). The messages of one Publish travel together (one request per
// partition they go to); the writer waits at most 1 ms for other callers'
// to join them: its callers (the relay, a consumer) publish one batch at a
// time, so a longer wait only delays every email. kafka-go has no idempotent producer: a
// retried write may duplicate, so consumers deduplicate on ce_id.
type KafkaPublisher struct {
	w *kafka.Writer
}

// NewKafkaPublisher returns a publisher to brokers.
func NewKafkaPublisher(brokers []string, clientID string) *KafkaPublisher {
	return &KafkaPublisher{w: &kafka.Writer{
		Addr:     kafka.TCP(brokers...),
		Balancer: &kafka.Hash{},
		// kafka-go's defaults are fire-and-forget acks and a 1 s batch wait.
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           time.Millisecond,
		BatchSize:              100,
		MaxAttempts:            5,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        time.Second,
		ReadTimeout:            10 * time.Second,
		WriteTimeout:           10 * time.Second,
		AllowAutoTopicCreation: false,
		Transport:              &kafka.Transport{ClientID: clientID, DialTimeout: 5 * time.Second},
	}}
}

// Publish implements Publisher.
func (p *KafkaPublisher) Publish(ctx context.Context, msgs []*registrationv1.Envelope) error {
	out := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		out[i] = toKafka(m)
	}
	if err := p.w.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("kafka: publish %d messages: %w", len(msgs), err)
	}
	return nil
}

// Close flushes and closes the writer.
func (p *KafkaPublisher) Close() error { return p.w.Close() }

// PrefixTopics returns a Publisher that puts prefix before the topic of
// every message it passes on (environments sharing a cluster).
func PrefixTopics(p Publisher, prefix string) Publisher {
	if prefix == "" {
		return p
	}
	return prefixed{p, prefix}
}

type prefixed struct {
	Publisher
	prefix string
}

func (p prefixed) Publish(ctx context.Context, msgs []*registrationv1.Envelope) error {
	out := make([]*registrationv1.Envelope, len(msgs))
	for i, m := range msgs {
		c := proto.Clone(m).(*registrationv1.Envelope)
		c.Topic = p.prefix + c.Topic
		out[i] = c
	}
	return p.Publisher.Publish(ctx, out)
}
