package tracecontext

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

func TestRoundTrip(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	parent, state := Inject(ctx)
	assert.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`, parent)
	assert.Empty(t, state)

	got := trace.SpanContextFromContext(Extract(context.Background(), parent, state))
	assert.Equal(t, span.SpanContext().TraceID(), got.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), got.SpanID())
	assert.True(t, got.IsRemote())
}

func TestNoSpanNoContext(t *testing.T) {
	parent, state := Inject(context.Background())
	assert.Empty(t, parent, "tracing off writes nothing")
	assert.Empty(t, state)
	ctx := context.Background()
	assert.Equal(t, ctx, Extract(ctx, "", ""))
	assert.False(t, trace.SpanContextFromContext(Extract(ctx, "garbage", "")).IsValid())
}
