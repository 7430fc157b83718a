// Package ops is what both binaries answer operators with: the readiness
// of their parts and, for the mailer (the registrar serves them from its
// API, documented in its OpenAPI), the /healthz, /readyz and /metrics
// handler. A failing readiness is a problem+json document with the fields
// of the API's errors.
package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
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
// sorted, and results has each one's outcome. The checks named in exclude
// are run and reported but do not fail readiness ("failing, excluded"): the
// registrar's load balancer need not drop it while Kafka is down, since the
// outbox holds what Kafka cannot take. An exclude that names no check is an
// error (a typo would otherwise exclude nothing).
func Readiness(ctx context.Context, log *slog.Logger, checks []lifecycle.Check, exclude []string) (results map[string]string, failing []string, err error) {
	excluded := map[string]bool{}
	for _, e := range exclude { // repeated, or comma-separated
		for name := range strings.SplitSeq(e, ",") {
			excluded[strings.TrimSpace(name)] = true
		}
	}
	unknown := maps.Clone(excluded)
	for _, c := range checks {
		delete(unknown, c.Name)
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("exclude names no check: %s", strings.Join(slices.Sorted(maps.Keys(unknown)), ", "))
	}
	results = map[string]string{}
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, CheckTimeout)
		err := c.Probe(cctx)
		cancel()
		switch {
		case err == nil:
			results[c.Name] = "ok"
		case excluded[c.Name]:
			log.Warn("readiness check failed (excluded)", "check", c.Name, "error", err)
			results[c.Name] = "failing, excluded"
		default:
			log.Warn("readiness check failed", "check", c.Name, "error", err)
			results[c.Name] = "failing"
			failing = append(failing, c.Name)
		}
	}
	slices.Sort(failing)
	return results, failing, nil
}

// NotReadyDetail is the detail of the 503 of a failing readiness.
func NotReadyDetail(failing []string) string {
	return "Not ready: " + strings.Join(failing, ", ") + " not answering."
}

// DependencyUp is the <prefix>_dependency_up{name} gauge: 1 when the
// dependency answers its readiness probe at scrape time, else 0. It tells
// which dependency is down apart from readiness, which a load balancer
// acts on.
func DependencyUp(prefix string, checks func() []lifecycle.Check) prometheus.Collector {
	return &dependencies{checks: checks, desc: prometheus.NewDesc(prefix+"_dependency_up",
		"Whether the dependency answers its readiness probe (1) or not (0), probed at scrape time.", []string{"name"}, nil)}
}

type dependencies struct {
	checks func() []lifecycle.Check
	desc   *prometheus.Desc
}

func (d *dependencies) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *dependencies) Collect(ch chan<- prometheus.Metric) {
	for _, c := range d.checks() {
		ctx, cancel := context.WithTimeout(context.Background(), CheckTimeout)
		up := 1.0
		if c.Probe(ctx) != nil {
			up = 0
		}
		cancel()
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, up, c.Name)
	}
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
		results, failing, err := Readiness(r.Context(), log, checks(), r.URL.Query()["exclude"])
		if err != nil {
			write(w, http.StatusBadRequest, "application/problem+json", problem{
				Type: "urn:registrar:problem:malformed_request", Title: "Malformed request", Status: http.StatusBadRequest,
				Detail: err.Error() + ".", Code: "malformed_request",
			})
			return
		}
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
