package mailer

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics registers the mailer's metrics on reg and returns the Observe
// function of Config that feeds them: emails by outcome, and the time from a
// code's issue to its email being accepted by the SMTP server.
func Metrics(reg prometheus.Registerer) func(outcome string, sinceIssued time.Duration) {
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
	for _, o := range []string{OutcomeAccepted, OutcomeFailed, OutcomeSkippedExpired, OutcomeDuplicate} {
		outcomes.WithLabelValues(o)
	}
	return func(outcome string, sinceIssued time.Duration) {
		outcomes.WithLabelValues(outcome).Inc()
		if outcome == OutcomeAccepted {
			latency.Observe(sinceIssued.Seconds())
		}
	}
}
