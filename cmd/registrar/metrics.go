package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/password"
)

// registerStats exposes the live figures of the actors, the hasher and the
// relay; they are read at scrape time.
func registerStats(reg prometheus.Registerer, registry *actors.Registry, hasher *password.Hasher, relay *messaging.Relay) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		gauge("registrar_actors", "Registration actors in memory.",
			func() float64 { return float64(registry.Stats().Actors) }),
		counter("registrar_actor_passivations_total", "Actors stopped for idleness.",
			func() float64 { return float64(registry.Stats().Passivations) }),
		counter("registrar_actor_replayed_messages_total", "Messages that raced a passivation and were replayed.",
			func() float64 { return float64(registry.Stats().Replayed) }),
		gauge("registrar_password_hash_slots", "Password hashes that may run at once.",
			func() float64 { return float64(hasher.Stats().Slots) }),
		gauge("registrar_password_hash_in_use", "Password hashes running now.",
			func() float64 { return float64(hasher.Stats().InUse) }),
		gauge("registrar_password_hash_waiting", "Requests waiting for a hashing slot.",
			func() float64 { return float64(hasher.Stats().Waiting) }),
		counter("registrar_password_hashes_total", "Password hashes and verifications started.",
			func() float64 { return float64(hasher.Stats().Hashes) }),
		counter("registrar_password_overloaded_total", "Requests turned away for want of a hashing slot (503 overloaded).",
			func() float64 { return float64(hasher.Stats().Overloaded) }),
		counter("registrar_outbox_published_total", "Outbox messages published.",
			func() float64 { return float64(relay.Stats().Published) }),
		counter("registrar_outbox_publish_failures_total", "Failed outbox publish attempts.",
			func() float64 { return float64(relay.Stats().Failures) }),
	)
}

// mailMetrics counts the mailer's outcomes and times issue-to-accept.
func mailMetrics(reg prometheus.Registerer) func(outcome string, sinceIssued time.Duration) {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailer_emails_total",
		Help: "Verification emails by outcome: accepted, failed, skipped_expired, duplicate.",
	}, []string{"outcome"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mailer_issue_to_accept_seconds",
		Help:    "Time from the code's issue to the SMTP server accepting its email.",
		Buckets: []float64{.01, .025, .05, .1, .2, .5, 1, 2, 5, 10, 30, 60},
	})
	reg.MustRegister(outcomes, latency)
	for _, o := range []string{mailer.OutcomeAccepted, mailer.OutcomeFailed, mailer.OutcomeSkippedExpired, mailer.OutcomeDuplicate} {
		outcomes.WithLabelValues(o)
	}
	return func(outcome string, sinceIssued time.Duration) {
		outcomes.WithLabelValues(outcome).Inc()
		if outcome == mailer.OutcomeAccepted {
			latency.Observe(sinceIssued.Seconds())
		}
	}
}
