// Package ops is what both binaries answer operators with: the readiness
// of their parts and, for the mailer (the registrar serves them from its
// API, documented in its OpenAPI), the /healthz, /readyz and /metrics
// handler. A failing readiness is a problem+json document with the fields
// of the API's errors.
package ops

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acme/registrar/internal/lifecycle"
)

// CheckTimeout bounds each readiness probe.
const CheckTimeout = 2 * time.Second

// Readiness runs the checks; failing names the ones that did not answer,
// sorted, and results has each one's outcome.
func Readiness(ctx context.Context, log *slog.Logger, checks []lifecycle.Check) (results map[string]string, failing []string) {
	results = map[string]string{}
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		err := c.Probe(cctx)
		cancel()
		if err != nil {
			log.Warn("readiness check failed", "check", c.Name, "error", err)
			results[c.Name] = "failing"
			failing = append(failing, c.Name)
			continue
		}
		results[c.Name] = "ok"
	}
	slices.Sort(failing)
	return results, failing
}

// NotReadyDetail is the detail of the 503 of a failing readiness.
func NotReadyDetail(failing []string) string {
	return "Not ready: " + strings.Join(failing, ", ") + " not answering."
}

// Status is the body of /healthz and of a ready /readyz.
type Status struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// problem is the API's error document (gateway.Problem's fields).
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(log *slog.Logger, checks func() []lifecycle.Check, metrics *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		write(w, http.StatusOK, "application/json", Status{Status: "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		results, failing := Readiness(r.Context(), log, checks())
		if len(failing) > 0 {
			w.Header().Set("Retry-After", "1")
			write(w, http.StatusServiceUnavailable, "application/problem+json", problem{
				Type: "urn:registrar:problem:unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable,
				Detail: NotReadyDetail(failing), Code: "unavailable",
			})
			return
		}
		write(w, http.StatusOK, "application/json", Status{Status: "ready", Checks: results})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	return mux
}

func write(w http.ResponseWriter, status int, contentType string, body any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body) // the client went away: nothing to do
}
