package testkit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/messaging"
)

// Right after their creation, as in a short test after another test's
// clean-up: a topic list cached then would miss them.
func TestDeleteKafkaTopicsDeletesTheJustCreatedTopicsOfThePrefix(t *testing.T) {
	brokers := testkit.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prefix := testkit.Unique(t, "delete-")
	other := testkit.KafkaTopics(t, brokers, "keep-")
	topics := []messaging.Topic{{Name: prefix + ".a", Partitions: 1, ReplicationFactor: 1},
		{Name: prefix + ".b", Partitions: 1, ReplicationFactor: 1}, {Name: other, Partitions: 1, ReplicationFactor: 1}}
	require.NoError(t, testkit.DeleteKafkaTopics(ctx, brokers, prefix), "another test's clean-up")
	require.NoError(t, messaging.NewKafkaAdmin(brokers, "test").EnsureTopics(ctx, topics))

	require.NoError(t, testkit.DeleteKafkaTopics(ctx, brokers, prefix))

	left := func() []string {
		client := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: &kafka.Transport{}}
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			return []string{err.Error()}
		}
		var names []string
		for _, tp := range meta.Topics {
			if tp.Name == other || strings.HasPrefix(tp.Name, prefix) {
				names = append(names, tp.Name)
			}
		}
		return names
	}
	// The broker deletes after it answers: a topic may linger a moment.
	assert.Eventually(t, func() bool { return len(left()) == 1 }, 20*time.Second, 100*time.Millisecond)
	assert.Equal(t, []string{other}, left(), "the prefix's topics are gone, the others stay")
}

func TestDeleteKafkaTopicsRefusesAnEmptyPrefix(t *testing.T) {
	err := testkit.DeleteKafkaTopics(context.Background(), []string{"127.0.0.1:1"}, "")
	require.Error(t, err, "an empty prefix matches every topic")
}
