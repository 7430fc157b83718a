package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/lifecycle"
)

func probe(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

func TestReadinessNamesEveryFailingCheckSorted(t *testing.T) {
	down := errors.New("connection refused")
	results, failing := Readiness(t.Context(), slog.New(slog.DiscardHandler), []lifecycle.Check{
		{Name: "kafka", Probe: probe(down)}, {Name: "database", Probe: probe(nil)}, {Name: "cluster", Probe: probe(down)},
	})
	assert.Equal(t, []string{"cluster", "kafka"}, failing)
	assert.Equal(t, map[string]string{"kafka": "failing", "database": "ok", "cluster": "failing"}, results)
	assert.Equal(t, "Not ready: cluster, kafka not answering.", NotReadyDetail(failing))
}

func TestReadinessBoundsEachProbe(t *testing.T) {
	var deadline bool
	_, failing := Readiness(t.Context(), slog.New(slog.DiscardHandler), []lifecycle.Check{{Name: "slow", Probe: func(ctx context.Context) error {
		_, deadline = ctx.Deadline()
		return nil
	}}})
	assert.True(t, deadline, "a probe without a deadline can hang /readyz")
	assert.Empty(t, failing)
}

func serve(t *testing.T, checks []lifecycle.Check, path string) (*http.Response, string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "ops_test_total", Help: "A counter."}))
	srv := httptest.NewServer(Handler(slog.New(slog.DiscardHandler), func() []lifecycle.Check { return checks }, reg))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestHandler(t *testing.T) {
	t.Run("healthz answers without probing", func(t *testing.T) {
		resp, body := serve(t, []lifecycle.Check{{Name: "kafka", Probe: probe(errors.New("down"))}}, "/healthz")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.JSONEq(t, `{"status":"ok"}`, body)
	})
	t.Run("readyz lists the checks when all answer", func(t *testing.T) {
		resp, body := serve(t, []lifecycle.Check{{Name: "database", Probe: probe(nil)}}, "/readyz")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.JSONEq(t, `{"status":"ready","checks":{"database":"ok"}}`, body)
	})
	t.Run("readyz is a problem with Retry-After when one fails", func(t *testing.T) {
		resp, body := serve(t, []lifecycle.Check{{Name: "database", Probe: probe(nil)}, {Name: "kafka", Probe: probe(errors.New("secret detail"))}}, "/readyz")
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		var p map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &p))
		assert.Equal(t, map[string]any{"type": "urn:registrar:problem:unavailable", "title": "Service unavailable",
			"status": float64(503), "detail": "Not ready: kafka not answering.", "code": "unavailable"}, p)
		assert.NotContains(t, body, "secret detail", "a dependency's error stays in the log")
	})
	t.Run("metrics serves the registry", func(t *testing.T) {
		resp, body := serve(t, nil, "/metrics")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.True(t, strings.Contains(body, "ops_test_total 0"), body)
	})
	t.Run("unknown paths are not found", func(t *testing.T) {
		resp, _ := serve(t, nil, "/nothing")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}
