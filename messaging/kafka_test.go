package messaging_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/messaging/pubsubtest"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// kafkaTopics creates fresh topics for one test.
func kafkaTopics(t *testing.T, brokers []string, names ...string) {
	t.Helper()
	var topics []messaging.Topic
	for _, n := range names {
		topics = append(topics, messaging.Topic{Name: n, Partitions: 3, ReplicationFactor: 1, Retention: time.Hour})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, messaging.NewKafkaAdmin(brokers, "test").EnsureTopics(ctx, topics))
}

func publisher(t *testing.T, brokers []string) *messaging.KafkaPublisher {
	t.Helper()
	p := messaging.NewKafkaPublisher(brokers, "test")
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// consume runs a consumer in its own group until the test ends.
func consume(t *testing.T, cfg messaging.ConsumerConfig, h messaging.Handler) *messaging.Consumer {
	t.Helper()
	if cfg.GroupID == "" {
		cfg.GroupID = testkit.Unique(t, "group-")
	}
	cfg.Logger = quiet
	c, err := messaging.NewConsumer(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { assert.NoError(t, c.Run(ctx, h)) })
	t.Cleanup(func() { cancel(); wg.Wait(); _ = c.Close() })
	return c
}

func TestKafkaContract(t *testing.T) {
	brokers := testkit.Kafka(t)
	pubsubtest.Run(t, func(t *testing.T) pubsubtest.Subject {
		topics := [2]string{testkit.KafkaTopics(t, brokers, "contract-a-"), testkit.KafkaTopics(t, brokers, "contract-b-")}
		kafkaTopics(t, brokers, topics[0], topics[1])
		return pubsubtest.Subject{
			Publisher: publisher(t, brokers),
			Topics:    topics,
			Subscribe: func(topic string) <-chan *registrationv1.Envelope {
				ch := make(chan *registrationv1.Envelope, 1000)
				consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: topic}, func(_ context.Context, m *registrationv1.Envelope) error {
					ch <- m
					return nil
				})
				return ch
			},
		}
	})
}

func TestKafkaMessagesCarryCloudEventsHeaders(t *testing.T) {
	brokers := testkit.Kafka(t)
	topic := testkit.KafkaTopics(t, brokers, "ce-")
	kafkaTopics(t, brokers, topic)
	sent := &registrationv1.Envelope{Id: "01a2-ce", Topic: topic, Key: "user-9", Type: "registration.v1.UserActivated",
		Source: "/registrar", Payload: []byte{1, 2, 3},
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Tracestate: "vendor=opaque"}
	require.NoError(t, publisher(t, brokers).Publish(context.Background(), []*registrationv1.Envelope{sent}))

	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, Partition: partitionOf(t, brokers, topic, "user-9"), MaxWait: time.Second})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	require.NoError(t, err)
	h := map[string]string{}
	for _, kh := range m.Headers {
		h[kh.Key] = string(kh.Value)
	}
	assert.Equal(t, "1.0", h["ce_specversion"])
	assert.Equal(t, "01a2-ce", h["ce_id"])
	assert.Equal(t, "/registrar", h["ce_source"])
	assert.Equal(t, "registration.v1.UserActivated", h["ce_type"])
	assert.NotEmpty(t, h["ce_time"])
	assert.Equal(t, "application/protobuf", h["content-type"])
	// The CloudEvents distributed-tracing extension, and W3C trace context
	// for tracing tools' Kafka instrumentation.
	for _, k := range []string{"ce_traceparent", "traceparent"} {
		assert.Equal(t, sent.GetTraceparent(), h[k], k)
	}
	for _, k := range []string{"ce_tracestate", "tracestate"} {
		assert.Equal(t, sent.GetTracestate(), h[k], k)
	}
	assert.Equal(t, "user-9", string(m.Key), "keyed by user id")
}

// partitionOf finds where the hash balancer puts key.
func partitionOf(t *testing.T, brokers []string, topic, key string) int {
	t.Helper()
	conn, err := kafka.Dial("tcp", brokers[0])
	require.NoError(t, err)
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	require.NoError(t, err)
	ids := make([]int, len(parts))
	for i := range parts {
		ids[i] = i
	}
	return (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, ids...)
}

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	brokers := testkit.Kafka(t)
	topic := testkit.KafkaTopics(t, brokers, "idem-")
	kafkaTopics(t, brokers, topic)
	kafkaTopics(t, brokers, topic)
	require.NoError(t, messaging.NewKafkaAdmin(brokers, "test").Ping(context.Background()))
}

func TestConsumerRetriesATemporaryFailure(t *testing.T) {
	brokers := testkit.Kafka(t)
	topic := testkit.KafkaTopics(t, brokers, "retry-")
	kafkaTopics(t, brokers, topic)
	var calls atomic.Int64
	done := make(chan string, 1)
	c := consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: topic, RetryBackoff: 10 * time.Millisecond},
		func(_ context.Context, m *registrationv1.Envelope) error {
			if calls.Add(1) < 3 {
				return errors.New("smtp down")
			}
			done <- m.GetId()
			return nil
		})
	require.NoError(t, publisher(t, brokers).Publish(context.Background(), []*registrationv1.Envelope{{Id: "r-1", Topic: topic, Key: "k", Type: "t"}}))
	select {
	case id := <-done:
		assert.Equal(t, "r-1", id)
	case <-time.After(30 * time.Second):
		t.Fatal("the message was not handled")
	}
	assert.Equal(t, int64(3), calls.Load())
	require.Eventually(t, func() bool { return c.Stats().Handled == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, int64(2), c.Stats().Retries)
}

func TestConsumerDeadLettersPermanentFailuresAndMovesOn(t *testing.T) {
	brokers := testkit.Kafka(t)
	topic, dlq := testkit.KafkaTopics(t, brokers, "dl-"), testkit.KafkaTopics(t, brokers, "dlq-")
	kafkaTopics(t, brokers, topic, dlq)
	handled := make(chan string, 10)
	consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: topic, DeadLetters: publisher(t, brokers), DeadLetterTopic: dlq},
		func(_ context.Context, m *registrationv1.Envelope) error {
			if m.GetId() == "poison" {
				return errors.Join(errors.New("550 no such user"), messaging.ErrPermanent)
			}
			handled <- m.GetId()
			return nil
		})
	dead := make(chan *registrationv1.Envelope, 10)
	consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: dlq}, func(_ context.Context, m *registrationv1.Envelope) error {
		dead <- m
		return nil
	})
	require.NoError(t, publisher(t, brokers).Publish(context.Background(), []*registrationv1.Envelope{
		{Id: "poison", Topic: topic, Key: "k", Type: "t"}, {Id: "fine", Topic: topic, Key: "k", Type: "t"},
	}))
	select {
	case id := <-handled:
		assert.Equal(t, "fine", id, "the next message of the partition is not blocked")
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer is stuck behind a poison message")
	}
	select {
	case m := <-dead:
		assert.Equal(t, "poison", m.GetId())
		assert.Equal(t, dlq, m.GetTopic())
		assert.Contains(t, m.GetDeadLetterReason(), "550 no such user", "the reason travels in a header")
	case <-time.After(30 * time.Second):
		t.Fatal("nothing on the dead-letter topic")
	}
}

func TestConsumerGivesUpOnAMessageAfterMaxRetryTime(t *testing.T) {
	brokers := testkit.Kafka(t)
	topic, dlq := testkit.KafkaTopics(t, brokers, "mr-"), testkit.KafkaTopics(t, brokers, "mrdlq-")
	kafkaTopics(t, brokers, topic, dlq)
	handled := make(chan string, 10)
	consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: topic, DeadLetters: publisher(t, brokers), DeadLetterTopic: dlq,
		RetryBackoff: 10 * time.Millisecond, MaxRetryTime: 300 * time.Millisecond},
		func(_ context.Context, m *registrationv1.Envelope) error {
			if m.GetId() == "never" {
				return errors.New("connection refused") // temporary, forever
			}
			handled <- m.GetId()
			return nil
		})
	dead := make(chan *registrationv1.Envelope, 10)
	consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: dlq}, func(_ context.Context, m *registrationv1.Envelope) error {
		dead <- m
		return nil
	})
	require.NoError(t, publisher(t, brokers).Publish(context.Background(), []*registrationv1.Envelope{
		{Id: "never", Topic: topic, Key: "k", Type: "t"}, {Id: "after", Topic: topic, Key: "k", Type: "t"},
	}))
	select {
	case id := <-handled:
		assert.Equal(t, "after", id, "the partition moves on")
	case <-time.After(30 * time.Second):
		t.Fatal("the consumer retries forever")
	}
	select {
	case m := <-dead:
		assert.Equal(t, "never", m.GetId())
		assert.Contains(t, m.GetDeadLetterReason(), "retried for")
	case <-time.After(30 * time.Second):
		t.Fatal("nothing on the dead-letter topic")
	}
}

func TestConsumerRedeliversWhatWasNotCommitted(t *testing.T) {
	brokers := testkit.Kafka(t)
	topic, group := testkit.KafkaTopics(t, brokers, "redeliver-"), testkit.Unique(t, "group-")
	kafkaTopics(t, brokers, topic)
	require.NoError(t, publisher(t, brokers).Publish(context.Background(), []*registrationv1.Envelope{
		{Id: "a", Topic: topic, Key: "k", Type: "t"}, {Id: "b", Topic: topic, Key: "k", Type: "t"},
	}))

	// The first consumer handles "a", then stops while handling "b".
	c1, err := messaging.NewConsumer(messaging.ConsumerConfig{Brokers: brokers, Topic: topic, GroupID: group, Logger: quiet})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	inB := make(chan struct{})
	runDone := make(chan error, 1)
	go func() {
		runDone <- c1.Run(ctx, func(ctx context.Context, m *registrationv1.Envelope) error {
			if m.GetId() == "b" {
				close(inB)
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		})
	}()
	select {
	case <-inB:
	case <-time.After(30 * time.Second):
		t.Fatal("b never reached the first consumer")
	}
	cancel()
	require.NoError(t, <-runDone)
	require.NoError(t, c1.Close(), "a clean close leaves the group")

	got := make(chan string, 10)
	consume(t, messaging.ConsumerConfig{Brokers: brokers, Topic: topic, GroupID: group}, func(_ context.Context, m *registrationv1.Envelope) error {
		got <- m.GetId()
		return nil
	})
	select {
	case id := <-got:
		assert.Equal(t, "b", id, "a was committed; b was not and comes again")
	case <-time.After(30 * time.Second):
		t.Fatal("b was not delivered again")
	}
}

func TestFromKafkaRefusesMessagesWithoutHeaders(t *testing.T) {
	_, err := messaging.FromKafka(kafka.Message{Topic: "x", Value: []byte("raw")})
	require.ErrorIs(t, err, messaging.ErrPermanent)
}
