package testkit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// KafkaTopics returns a unique topic name (or prefix of names) for one test,
// starting with prefix. When the test ends, every topic on brokers whose
// name starts with it is deleted: a developer's broker lives for weeks, and
// the partitions of every test run would pile up on it (they cost the
// broker memory and CPU, and slowed the load runs measured on it).
func KafkaTopics(tb testing.TB, brokers []string, prefix string) string {
	tb.Helper()
	name := Unique(tb, prefix)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := DeleteKafkaTopics(ctx, brokers, name); err != nil {
			tb.Logf("topics %s* are left on the broker: %v", name, err)
		}
	})
	return name
}

// DeleteKafkaTopics deletes every topic whose name starts with prefix. The
// broker finishes the deletion after it answers.
func DeleteKafkaTopics(ctx context.Context, brokers []string, prefix string) error {
	if prefix == "" {
		return fmt.Errorf("delete topics: an empty prefix would delete every topic")
	}
	// A transport of its own: kafka-go's default one caches the topic list
	// for seconds, and would not see the topics a short test just made.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	var names []string
	for _, t := range meta.Topics {
		if strings.HasPrefix(t.Name, prefix) {
			names = append(names, t.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names})
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	for name, err := range res.Errors {
		if err != nil {
			return fmt.Errorf("delete topic %s: %w", name, err)
		}
	}
	return nil
}
