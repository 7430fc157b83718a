package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// CloudEvents Kafka protocol binding, binary mode: the payload is the
// message value, the attributes are headers.
const (
	headerSpecVersion = "ce_specversion"
	headerID          = "ce_id"
	headerSource      = "ce_source"
	headerType        = "ce_type"
	headerTime        = "ce_time"
	headerContentType = "content-type"
	// headerError says why a message went to the dead-letter topic.
	headerError = "x-dead-letter-reason"

	contentType = "application/protobuf"
)

// KafkaPublisher writes envelopes to Kafka: acknowledged by all in-sync
// replicas, hashed by key (one user's messages stay on one partition, in
// order), batched for at most 5 ms. kafka-go has no idempotent producer: a
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
		BatchTimeout:           5 * time.Millisecond,
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

func toKafka(m *registrationv1.Envelope) kafka.Message {
	at := m.GetTime().AsTime().UTC()
	return kafka.Message{
		Topic: m.GetTopic(),
		Key:   []byte(m.GetKey()),
		Value: m.GetPayload(),
		Time:  at,
		Headers: []kafka.Header{
			{Key: headerSpecVersion, Value: []byte("1.0")},
			{Key: headerID, Value: []byte(m.GetId())},
			{Key: headerSource, Value: []byte(m.GetSource())},
			{Key: headerType, Value: []byte(m.GetType())},
			{Key: headerTime, Value: []byte(at.Format(time.RFC3339Nano))},
			{Key: headerContentType, Value: []byte(contentType)},
		},
	}
}

// FromKafka reads an envelope back from a Kafka message. It fails when the
// CloudEvents headers it needs are missing: such a message can never be
// handled.
func FromKafka(km kafka.Message) (*registrationv1.Envelope, error) {
	h := map[string]string{}
	for _, kh := range km.Headers {
		h[kh.Key] = string(kh.Value)
	}
	if h[headerID] == "" || h[headerType] == "" {
		return nil, fmt.Errorf("kafka: message at %s/%d@%d lacks ce_id or ce_type: %w", km.Topic, km.Partition, km.Offset, ErrPermanent)
	}
	at := km.Time
	if t, err := time.Parse(time.RFC3339Nano, h[headerTime]); err == nil {
		at = t
	}
	return &registrationv1.Envelope{
		Id:      h[headerID],
		Topic:   km.Topic,
		Key:     string(km.Key),
		Type:    h[headerType],
		Time:    timestamppb.New(at),
		Payload: km.Value,
		Source:  h[headerSource],
	}, nil
}

// ContractTopics are the topics of the contract the services create at
// start, each name after prefix.
func ContractTopics(prefix string, partitions, replication int, mail, events, deadLetters time.Duration) []Topic {
	topic := func(name string, retention time.Duration) Topic {
		return Topic{Name: prefix + name, Partitions: partitions, ReplicationFactor: replication, Retention: retention}
	}
	return []Topic{
		topic(registrationv1.MailTopic, mail),
		topic(registrationv1.EventsTopic, events),
		topic(registrationv1.DeadLetterTopic, deadLetters),
	}
}

// Topic is a topic to create at start.
type Topic struct {
	Name              string
	Partitions        int
	ReplicationFactor int
	// Retention of its messages; zero keeps the broker's default.
	Retention time.Duration
}

// KafkaAdmin creates topics and checks that the brokers answer.
type KafkaAdmin struct {
	client  *kafka.Client
	brokers []string
	dialer  *kafka.Dialer
}

// NewKafkaAdmin returns an admin client for brokers.
func NewKafkaAdmin(brokers []string, clientID string) *KafkaAdmin {
	return &KafkaAdmin{
		client: &kafka.Client{
			Addr:      kafka.TCP(brokers...),
			Timeout:   10 * time.Second,
			Transport: &kafka.Transport{ClientID: clientID, DialTimeout: 5 * time.Second},
		},
		brokers: brokers,
		dialer:  &kafka.Dialer{ClientID: clientID, Timeout: 2 * time.Second},
	}
}

// EnsureTopics creates the topics that do not exist yet (an existing topic
// is left as it is) and waits until each partition has a leader. Brokers
// that do not answer yet are retried until ctx ends.
func (a *KafkaAdmin) EnsureTopics(ctx context.Context, topics []Topic) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := a.ensureTopics(attempt, topics)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (a *KafkaAdmin) ensureTopics(ctx context.Context, topics []Topic) error {
	req := &kafka.CreateTopicsRequest{}
	names := make([]string, len(topics))
	for i, t := range topics {
		cfg := kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: t.ReplicationFactor}
		if t.Retention > 0 {
			cfg.ConfigEntries = append(cfg.ConfigEntries,
				kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: fmt.Sprint(t.Retention.Milliseconds())})
		}
		req.Topics = append(req.Topics, cfg)
		names[i] = t.Name
	}
	res, err := a.client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", name, err)
		}
	}
	for {
		meta, err := a.client.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
		if err == nil && allLed(meta, len(names)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: topics have no leaders yet: %w", errors.Join(err, ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func allLed(meta *kafka.MetadataResponse, want int) bool {
	if len(meta.Topics) != want {
		return false
	}
	for _, t := range meta.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Error != nil || p.Leader.Host == "" {
				return false
			}
		}
	}
	return true
}

// Ping checks that a broker answers (readiness), on a fresh connection: the
// client's transport caches metadata and would keep answering for a broker
// that is gone.
func (a *KafkaAdmin) Ping(ctx context.Context) error {
	var errs []error
	for _, b := range a.brokers {
		conn, err := a.dialer.DialContext(ctx, "tcp", b)
		if err == nil {
			_, err = conn.ApiVersions()
			_ = conn.Close()
			if err == nil {
				return nil
			}
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafka: no broker answers: %w", errors.Join(errs...))
}

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Brokers  []string
	GroupID  string
	Topic    string
	ClientID string
	Logger   *slog.Logger
	// DeadLetters receives the messages that can never be handled, on
	// DeadLetterTopic, with the reason in a header; without it they are
	// logged and skipped.
	DeadLetters     *KafkaPublisher
	DeadLetterTopic string
	// RetryBackoff is the first pause before handling a message again after
	// a temporary failure, doubled up to 5s; default 200ms.
	RetryBackoff time.Duration
}

// Consumer reads one topic in a consumer group and hands each message to a
// handler, committing its offset only after the handler is done with it:
// at least once. A message is retried until it is handled or refused for
// good (then dead-lettered); meanwhile its partition waits, which keeps a
// user's messages in order.
type Consumer struct {
	cfg   ConsumerConfig
	r     *kafka.Reader
	stats struct{ handled, deadLettered, retries atomic.Int64 }
}

// NewConsumer joins the group (lazily, at the first fetch).
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	if len(cfg.Brokers) == 0 || cfg.GroupID == "" || cfg.Topic == "" || cfg.Logger == nil {
		return nil, errors.New("messaging: a consumer needs brokers, a group, a topic and a logger")
	}
	if cfg.DeadLetters != nil && cfg.DeadLetterTopic == "" {
		return nil, errors.New("messaging: DeadLetterTopic is required with DeadLetters")
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	cfg.Logger = cfg.Logger.With("component", "consumer", "topic", cfg.Topic, "group", cfg.GroupID)
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:  cfg.Brokers,
		GroupID:  cfg.GroupID,
		Topic:    cfg.Topic,
		MinBytes: 1,
		MaxBytes: 10 << 20,
		// The 10 s default makes Close take most of that and lose the
		// group session.
		MaxWait:           time.Second,
		CommitInterval:    0, // commit synchronously, after handling
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		Dialer:            &kafka.Dialer{ClientID: cfg.ClientID, Timeout: 5 * time.Second, DualStack: true},
		ErrorLogger:       kafka.LoggerFunc(func(msg string, args ...any) { cfg.Logger.Debug(fmt.Sprintf(msg, args...)) }),
	})
	return &Consumer{cfg: cfg, r: r}, nil
}

// Run consumes until ctx is done; it returns nil then. A message being
// handled when ctx ends is not committed, so it is delivered again.
func (c *Consumer) Run(ctx context.Context, h Handler) error {
	backoff := c.cfg.RetryBackoff
	for {
		m, err := c.r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			c.cfg.Logger.Warn("fetch failed", "error", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = c.cfg.RetryBackoff
		if !c.handle(ctx, m, h) {
			return nil
		}
		if err := c.commit(ctx, m); err != nil {
			// Not committed: it will be delivered again; the handler
			// deduplicates.
			c.cfg.Logger.Warn("commit failed", "partition", m.Partition, "offset", m.Offset, "error", err)
		}
	}
}

// handle retries a message until it is handled or refused for good. It
// reports false when ctx ended first.
func (c *Consumer) handle(ctx context.Context, m kafka.Message, h Handler) bool {
	env, err := FromKafka(m)
	if err != nil {
		c.deadLetter(ctx, m, err)
		return true
	}
	backoff := c.cfg.RetryBackoff
	for {
		err := h(ctx, env)
		switch {
		case err == nil:
			c.stats.handled.Add(1)
			return true
		case ctx.Err() != nil:
			return false
		case errors.Is(err, ErrPermanent):
			c.deadLetter(ctx, m, err)
			return true
		}
		c.stats.retries.Add(1)
		c.cfg.Logger.Warn("handler failed; retrying", "message_id", env.GetId(), "error", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// deadLetter keeps a message that can never be handled on the dead-letter
// topic, with the reason in a header.
func (c *Consumer) deadLetter(ctx context.Context, m kafka.Message, reason error) {
	c.stats.deadLettered.Add(1)
	c.cfg.Logger.Error("message cannot be handled; dead-lettered", "partition", m.Partition, "offset", m.Offset, "error", reason)
	if c.cfg.DeadLetters == nil {
		return
	}
	env, err := FromKafka(m)
	if err != nil { // no headers to rebuild an envelope from: keep the bytes
		env = &registrationv1.Envelope{Id: fmt.Sprintf("%s-%d-%d", m.Topic, m.Partition, m.Offset), Key: string(m.Key), Payload: m.Value}
	}
	env.Topic = c.cfg.DeadLetterTopic
	km := toKafka(env)
	km.Headers = append(km.Headers, kafka.Header{Key: headerError, Value: []byte(reason.Error())})
	if err := c.cfg.DeadLetters.w.WriteMessages(ctx, km); err != nil {
		c.cfg.Logger.Error("dead-letter write failed; message dropped", "error", err)
	}
}

func (c *Consumer) commit(ctx context.Context, m kafka.Message) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return c.r.CommitMessages(cctx, m)
}

// Close leaves the group and closes the reader.
func (c *Consumer) Close() error { return c.r.Close() }

// ConsumerStats are live figures of a Consumer, for metrics.
type ConsumerStats struct {
	Handled      int64 // messages handled and committed
	DeadLettered int64 // messages refused for good
	Retries      int64 // temporary handler failures retried
	Lag          int64 // messages behind the end of the assigned partitions
}

// Stats returns live figures.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Handled:      c.stats.handled.Load(),
		DeadLettered: c.stats.deadLettered.Load(),
		Retries:      c.stats.retries.Load(),
		Lag:          c.r.Stats().Lag,
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

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
