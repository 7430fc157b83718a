// Package tracing sets up OpenTelemetry traces for a binary, configured
// only by the standard OTEL_* variables, and carries trace context through
// the places a context cannot go: the actor commands, the outbox rows and
// the Kafka headers (as W3C traceparent and tracestate strings).
//
// Tracing is on when OTEL_TRACES_EXPORTER names an exporter (otlp, console)
// or an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), unless OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none. Off, the global tracer provider stays
// OpenTelemetry's no-op: a span costs a few nanoseconds and no trace
// context is written anywhere. The exporters read the rest of their
// OTEL_EXPORTER_OTLP_* settings themselves (protocol, headers, timeout,
// TLS), the SDK its OTEL_BSP_* and OTEL_TRACES_SAMPLER* ones, the resource
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Variables are the OTEL_* variables this package and the SDK read, for
// --help and the docs.
var Variables = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY",
}

// Setup installs the tracer provider the environment asks for, with
// service as the default service.name, and returns its shutdown (which
// flushes the spans still buffered). Off, it installs nothing and the
// shutdown does nothing.
func Setup(ctx context.Context, service string, environ []string, stdout io.Writer) (shutdown func(context.Context) error, err error) {
	noop := func(context.Context) error { return nil }
	env := lookup(environ)
	exporter, err := chooseExporter(env)
	if err != nil || exporter == "" {
		return noop, err
	}
	var exp sdktrace.SpanExporter
	switch exporter {
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
	case "otlp":
		switch protocol(env) {
		case "grpc":
			exp, err = otlptracegrpc.New(ctx)
		case "http/protobuf":
			exp, err = otlptracehttp.New(ctx)
		default:
			return noop, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported: use http/protobuf or grpc", protocol(env))
		}
	}
	if err != nil {
		return noop, fmt.Errorf("tracing: %s exporter: %w", exporter, err)
	}
	res, err := resource.Merge(
		resource.NewSchemaless(attribute.String("service.name", service)),
		resource.Environment(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil {
		return noop, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}

// Propagator is the W3C trace context (and baggage), for HTTP headers.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

func init() { otel.SetTextMapPropagator(Propagator) }

// chooseExporter is "" (off), "otlp" or "console".
func chooseExporter(env func(string) string) (string, error) {
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return "", nil
	}
	switch e := strings.TrimSpace(env("OTEL_TRACES_EXPORTER")); e {
	case "none":
		return "", nil
	case "otlp", "console":
		return e, nil
	case "":
		if env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
			return "otlp", nil
		}
		return "", nil
	default:
		return "", errors.New("OTEL_TRACES_EXPORTER: " + e + " is not supported: use otlp, console or none")
	}
}

func protocol(env func(string) string) string {
	if p := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"); p != "" {
		return p
	}
	if p := env("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" {
		return p
	}
	return "http/protobuf" // the specification's default
}

func lookup(environ []string) func(string) string {
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return func(k string) string { return m[k] }
}
