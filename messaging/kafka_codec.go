package messaging

import (
	"cmp"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
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
	// headerReason says why a message went to the dead-letter topic.
	headerReason = "x-dead-letter-reason"
	// The CloudEvents distributed-tracing extension, as the binding writes
	// it (ce_traceparent, ce_tracestate), and as W3C trace context headers
	// (traceparent, tracestate), which tracing tools' Kafka instrumentation
	// reads.
	headerCETraceparent = "ce_traceparent"
	headerCETracestate  = "ce_tracestate"
	headerTraceparent   = "traceparent"
	headerTracestate    = "tracestate"

	contentType = "application/protobuf"
)

func toKafka(m *registrationv1.Envelope) kafka.Message {
	at := m.GetTime().AsTime().UTC()
	km := kafka.Message{
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
	if r := m.GetDeadLetterReason(); r != "" {
		km.Headers = append(km.Headers, kafka.Header{Key: headerReason, Value: []byte(r)})
	}
	if tp := m.GetTraceparent(); tp != "" {
		km.Headers = append(km.Headers, kafka.Header{Key: headerCETraceparent, Value: []byte(tp)},
			kafka.Header{Key: headerTraceparent, Value: []byte(tp)})
		if ts := m.GetTracestate(); ts != "" {
			km.Headers = append(km.Headers, kafka.Header{Key: headerCETracestate, Value: []byte(ts)},
				kafka.Header{Key: headerTracestate, Value: []byte(ts)})
		}
	}
	return km
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
		Id:               h[headerID],
		Topic:            km.Topic,
		Key:              string(km.Key),
		Type:             h[headerType],
		Time:             timestamppb.New(at),
		Payload:          km.Value,
		Source:           h[headerSource],
		DeadLetterReason: h[headerReason],
		Traceparent:      cmp.Or(h[headerCETraceparent], h[headerTraceparent]),
		Tracestate:       cmp.Or(h[headerCETracestate], h[headerTracestate]),
	}, nil
}
