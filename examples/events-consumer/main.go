// Command events-consumer is an example subscriber of the public topic
// registration.events.v1: it joins a consumer group, decodes each event by
// its CloudEvents type and prints it as JSON, one line per event.
//
//	KAFKA_BROKERS=127.0.0.1:9092 go run ./examples/events-consumer
//
// It depends only on kafka-go and the generated protobuf package, as
// another team's service would. Offsets are committed after each event is
// handled (at least once): deduplicate on ce_id if it matters.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	registrationv1 "github.com/acme/registrar/protos/registration/v1" // the topic; importing it registers the event types
)

func main() {
	topic := flag.String("topic", registrationv1.EventsTopic, "topic to read")
	group := flag.String("group", "events-consumer-example", "consumer group")
	limit := flag.Int("n", 0, "stop after n events (0: run until interrupted)")
	flag.Parse()
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		fmt.Fprintln(os.Stderr, "events-consumer: set KAFKA_BROKERS, e.g. 127.0.0.1:9092")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := consume(ctx, strings.Split(brokers, ","), *topic, *group, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "events-consumer:", err)
		os.Exit(1)
	}
}

func consume(ctx context.Context, brokers []string, topic, group string, limit int) error {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        brokers,
		GroupID:        group,
		Topic:          topic,
		MinBytes:       1,
		MaxBytes:       10 << 20,    // kafka-go panics on MinBytes without MaxBytes
		MaxWait:        time.Second, // kafka-go's 10 s default slows Close
		CommitInterval: 0,           // commit after handling
		StartOffset:    kafka.FirstOffset,
	})
	defer func() { _ = r.Close() }() // leaving the group: nothing left to report to
	for n := 0; limit == 0 || n < limit; n++ {
		m, err := r.FetchMessage(ctx)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		if err != nil {
			return err
		}
		line, err := describe(m)
		if err != nil {
			fmt.Fprintln(os.Stderr, "skipping:", err)
		} else {
			fmt.Println(line)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// describe decodes an event by its ce_type header and renders it as JSON.
func describe(m kafka.Message) (string, error) {
	headers := map[string]string{}
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	typ := headers["ce_type"]
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return "", fmt.Errorf("unknown event type %q (a newer producer?)", typ)
	}
	event := mt.New().Interface()
	if err := proto.Unmarshal(m.Value, event); err != nil {
		return "", fmt.Errorf("decode %s: %w", typ, err)
	}
	data, err := protojson.Marshal(event)
	if err != nil {
		return "", err
	}
	out, err := json.Marshal(map[string]any{
		"id": headers["ce_id"], "type": typ, "source": headers["ce_source"], "time": headers["ce_time"],
		"key": string(m.Key), "data": json.RawMessage(data),
	})
	return string(out), err
}
