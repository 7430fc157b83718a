package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

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
	DeadLetters     Publisher
	DeadLetterTopic string
	// RetryBackoff is the first pause before handling a message again after
	// a temporary failure, doubled up to 5s; default 200ms.
	RetryBackoff time.Duration
	// MaxRetryTime bounds how long one message is retried before it is
	// dead-lettered as undeliverable (its partition waits meanwhile);
	// default 10m. Handlers that know better (the mailer: a code's expiry)
	// refuse for good sooner with ErrPermanent.
	MaxRetryTime time.Duration
	// CommitInterval is how often the offsets handled are committed;
	// default 200ms.
	CommitInterval time.Duration
}

// Consumer reads one topic in a consumer group and hands each message to a
// handler, committing its offset only after the handler is done with it
// (within CommitInterval): at least once. A message is retried until it is handled or refused for
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
	if cfg.MaxRetryTime <= 0 {
		cfg.MaxRetryTime = 10 * time.Minute
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 200 * time.Millisecond
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
		MaxWait: time.Second,
		// Offsets handled are committed together every CommitInterval
		// (and when the consumer stops or loses its partitions): one
		// request per interval instead of one per message. A crash can
		// then deliver again what was handled in the last interval;
		// handlers deduplicate (the mailer's ledger).
		CommitInterval:    cfg.CommitInterval,
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
	giveUp := time.Now().Add(c.cfg.MaxRetryTime)
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
		case time.Now().After(giveUp):
			c.deadLetter(ctx, m, fmt.Errorf("retried for %s: %w", c.cfg.MaxRetryTime, err))
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
	env.DeadLetterReason = reason.Error()
	if err := c.cfg.DeadLetters.Publish(ctx, []*registrationv1.Envelope{env}); err != nil {
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
	Handled      int64 // messages handled (their offsets committed within CommitInterval)
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
