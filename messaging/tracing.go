package messaging

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/registrar/internal/tracecontext"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

var tracer = otel.Tracer("github.com/acme/registrar/messaging")

// publishSpans starts a producer span for each message that carries a trace
// context (the span that wrote it to the outbox is its parent), and gives
// the message the new span's context: the consumer's span becomes its child.
func publishSpans(batch []*registrationv1.Envelope) []trace.Span {
	var spans []trace.Span
	for _, m := range batch {
		if m.GetTraceparent() == "" {
			continue
		}
		ctx := tracecontext.Extract(context.Background(), m.GetTraceparent(), m.GetTracestate())
		ctx, span := tracer.Start(ctx, "publish "+m.GetTopic(), trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.destination.name", m.GetTopic()),
				attribute.String("messaging.message.id", m.GetId()), attribute.String("registrar.message_type", m.GetType())))
		m.Traceparent, m.Tracestate = tracecontext.Inject(ctx)
		spans = append(spans, span)
	}
	return spans
}

func endSpans(spans []trace.Span, err error) {
	for _, s := range spans {
		if err != nil {
			s.SetStatus(codes.Error, "not published")
		}
		s.End()
	}
}

// ConsumeSpan starts the span of a consumer handling m, a child of the span
// that published it.
func ConsumeSpan(ctx context.Context, name string, m *registrationv1.Envelope) (context.Context, trace.Span) {
	ctx = tracecontext.Extract(ctx, m.GetTraceparent(), m.GetTracestate())
	return tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.destination.name", m.GetTopic()),
			attribute.String("messaging.message.id", m.GetId()), attribute.String("registrar.message_type", m.GetType())))
}
