package persistence

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/registrar/actors"
)

// tracer makes a client span of each registration read and write (the
// transaction, not each statement); no attribute holds a row's data.
var tracer = otel.Tracer("github.com/acme/registrar/persistence")

func startSpan(ctx context.Context, system, op string) (context.Context, trace.Span) {
	return tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", system), attribute.String("db.operation.name", op)))
}

// endSpan ends span; a version conflict is an outcome, not a failure.
func endSpan(span trace.Span, err error) {
	switch {
	case errors.Is(err, actors.ErrConflict):
		span.SetAttributes(attribute.Bool("registrar.version_conflict", true))
	case err != nil && !errors.Is(err, actors.ErrNotFound):
		span.SetStatus(codes.Error, "failed") // an error's text may quote data
	}
	span.End()
}
