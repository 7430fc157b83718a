package logctx

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
)

func TestHandlerAddsTheRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "gateway").WithGroup("g")
	ctx := WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "with", "k", 1)
	log.Info("without")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	var with, without map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &with))
	require.NoError(t, json.Unmarshal(lines[1], &without))
	assert.Equal(t, "gateway", with["component"], "attributes survive WithAttrs")
	assert.Equal(t, map[string]any{"k": float64(1), "request_id": "req-1"}, with["g"])
	assert.NotContains(t, string(lines[1]), "request_id")
}

func TestSaneRequestID(t *testing.T) {
	for id, sane := range map[string]bool{
		"0b5f2c1e-8a3d-4e1f-9c2b-7d6e5f4a3b2c":                    true,
		"Root=1-67891233-abcdef012345678912345678":                true,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": true,
		"":                        false,
		"two words":               false,
		"line\nforged=true":       false,
		"quote\"":                 false,
		"é":                       false,
		string(make([]byte, 129)): false,
	} {
		assert.Equal(t, sane, SaneRequestID(id), "%q", id)
	}
	long := bytes.Repeat([]byte("a"), 128)
	assert.True(t, SaneRequestID(string(long)))
	assert.False(t, SaneRequestID(string(long)+"a"))
}

func TestNewRequestIDIsSaneAndFresh(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	assert.True(t, SaneRequestID(a))
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b)
}

func TestHandlerAddsTheTraceIDOfASpan(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	traceID, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	spanID, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID}))
	log.InfoContext(ctx, "traced")
	log.Info("untraced")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	assert.Contains(t, string(lines[0]), `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`)
	assert.NotContains(t, string(lines[1]), "trace_id", "tracing off: no trace id")
}
