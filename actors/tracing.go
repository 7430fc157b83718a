package actors

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/acme/registrar/internal/tracecontext"
)

// tracer: a command is a span where it is sent (actors.Register, with a
// cluster.send child when it crosses to another member) and one where the
// actor handles it (actor.Register, with its store calls and password
// verification below). No span attribute holds an email, a password or a
// code: the user id only.
var tracer = otel.Tracer("github.com/acme/registrar/actors")

// carryTrace writes the trace context of ctx into cmd's traceparent and
// tracestate fields (every command has them).
func carryTrace(ctx context.Context, cmd proto.Message) {
	parent, state := tracecontext.Inject(ctx)
	if parent == "" {
		return
	}
	m := cmd.ProtoReflect()
	fields := m.Descriptor().Fields()
	if f := fields.ByName("traceparent"); f != nil {
		m.Set(f, protoreflect.ValueOfString(parent))
	}
	if f := fields.ByName("tracestate"); f != nil && state != "" {
		m.Set(f, protoreflect.ValueOfString(state))
	}
}

// tracedCommand is what every command message has.
type tracedCommand interface {
	GetTraceparent() string
	GetTracestate() string
}

// commandSpan starts the actor's span of cmd, a child of its sender's.
func commandSpan(ctx context.Context, cmd proto.Message) (context.Context, trace.Span) {
	if tc, ok := cmd.(tracedCommand); ok {
		ctx = tracecontext.Extract(ctx, tc.GetTraceparent(), tc.GetTracestate())
	}
	return tracer.Start(ctx, "actor."+string(cmd.ProtoReflect().Descriptor().Name()), trace.WithSpanKind(trace.SpanKindServer))
}

// endSpan ends span, marked failed for an error that is not a business
// outcome (a rejection is an answer, not a failure).
func endSpan(span trace.Span, err error) {
	var rej *Rejection
	if err != nil && (!errors.As(err, &rej) || errors.Is(err, ErrUnavailable)) {
		span.SetStatus(codes.Error, "failed") // an error's text may quote data
	}
	span.End()
}
