package healthcheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/healthcheck"
)

func TestProbe(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	require.NoError(t, healthcheck.Probe(context.Background(), addr))
	_, port, _ := strings.Cut(addr, ":")
	require.NoError(t, healthcheck.Probe(context.Background(), ":"+port), "a wildcard listen address means this machine")
	ready = false
	require.Error(t, healthcheck.Probe(context.Background(), addr))
}

func TestProbeExcludes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query()["exclude"][0] != "kafka" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	require.NoError(t, healthcheck.Probe(context.Background(), addr, "kafka"))
	require.ErrorContains(t, healthcheck.Probe(context.Background(), addr, "database"), "/readyz?exclude=database answered 503")
}
