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
	results, failing, err := Readiness(t.Context(), slog.New(slog.DiscardHandler), []lifecycle.Check{
		{Name: "kafka", Probe: probe(down)}, {Name: "database", Probe: probe(nil)}, {Name: "cluster", Probe: probe(down)},
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"cluster", "kafka"}, failing)
	assert.Equal(t, map[string]string{"kafka": "failing", "database": "ok", "cluster": "failing"}, results)
	assert.Equal(t, "Not ready: cluster, kafka not answering.", NotReadyDetail(failing))
}

func TestReadinessBoundsEachProbe(t *testing.T) {
	var deadline bool
	_, failing, err := Readiness(t.Context(), slog.New(slog.DiscardHandler), []lifecycle.Check{{Name: "slow", Probe: func(ctx context.Context) error {
		_, deadline = ctx.Deadline()
		return nil
	}}}, nil)
	require.NoError(t, err)
	assert.True(t, deadline, "a probe without a deadline can hang /readyz")
	assert.Empty(t, failing)
}

func TestReadinessExclude(t *testing.T) {
	checks := []lifecycle.Check{{Name: "database", Probe: probe(nil)}, {Name: "kafka", Probe: probe(errors.New("down"))}, {Name: "actors", Probe: probe(errors.New("down"))}}
	log := slog.New(slog.DiscardHandler)
	for name, tc := range map[string]struct {
		exclude []string
		failing []string
	}{
		"nothing excluded":   {failing: []string{"actors", "kafka"}},
		"one excluded":       {exclude: []string{"kafka"}, failing: []string{"actors"}},
		"repeated":           {exclude: []string{"kafka", "actors"}},
		"comma-separated":    {exclude: []string{"kafka,actors"}},
		"a healthy excluded": {exclude: []string{"database"}, failing: []string{"actors", "kafka"}},
	} {
		t.Run(name, func(t *testing.T) {
			results, failing, err := Readiness(t.Context(), log, checks, tc.exclude)
			require.NoError(t, err)
			assert.Equal(t, tc.failing, failing)
			assert.Equal(t, "ok", results["database"])
			if len(tc.failing) == 0 {
				assert.Equal(t, "failing, excluded", results["kafka"], "an excluded check is still run and reported")
			}
		})
	}
	_, _, err := Readiness(t.Context(), log, checks, []string{"kafak"})
	assert.ErrorContains(t, err, "kafak", "a typo excludes nothing silently")
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
	t.Run("readyz excludes what it is told to", func(t *testing.T) {
		checks := []lifecycle.Check{{Name: "database", Probe: probe(nil)}, {Name: "kafka", Probe: probe(errors.New("down"))}}
		resp, body := serve(t, checks, "/readyz?exclude=kafka")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.JSONEq(t, `{"status":"ready","checks":{"database":"ok","kafka":"failing, excluded"}}`, body)
		resp, _ = serve(t, checks, "/readyz?exclude=nothing")
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	})
	t.Run("unknown paths are not found", func(t *testing.T) {
		resp, _ := serve(t, nil, "/nothing")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
}

func TestDependencyUp(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(DependencyUp("registrar", func() []lifecycle.Check {
		return []lifecycle.Check{{Name: "database", Probe: probe(nil)}, {Name: "kafka", Probe: probe(errors.New("down"))}}
	}))
	srv := httptest.NewServer(Handler(slog.New(slog.DiscardHandler), func() []lifecycle.Check { return nil }, reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), `registrar_dependency_up{name="database"} 1`)
	assert.Contains(t, string(body), `registrar_dependency_up{name="kafka"} 0`)
}
