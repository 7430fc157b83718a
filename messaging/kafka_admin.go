package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

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
