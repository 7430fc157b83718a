package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/password"
)

// registerStats exposes the live figures of the actors, the hasher and the
// relay; they are read at scrape time.
func registerStats(reg prometheus.Registerer, registry *actors.Registry, hasher *password.Hasher, relay *messaging.Relay, st store) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(
		eventsCollector{registry},
		gauge("registrar_actors", "Registration actors active on this member (the sum over members is the number of live emails).",
			func() float64 { return float64(registry.Stats().Actors) }),
		gauge("registrar_cluster_members", "Cluster members this member sees (1 without a cluster).",
			func() float64 { return float64(registry.Stats().Members) }),
		counter("registrar_actor_activations_total", "Registration actors started.",
			func() float64 { return float64(registry.Stats().Activations) }),
		counter("registrar_version_conflicts_total", "Writes (or read-only answers) that met another writer's version: a second actor for an email.",
			func() float64 { return float64(registry.Stats().Conflicts) }),
		counter("registrar_command_retries_total", "Commands sent again because their shard had moved or its member was gone.",
			func() float64 { return float64(registry.Stats().Retries) }),
		counter("registrar_expiry_sweep_total", "Expiries noted by the expiry sweep (their timer had died with its member).",
			func() float64 { return float64(registry.Stats().ExpiriesSwept) }),
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
		gauge("registrar_outbox_oldest_age_seconds", "Age of the oldest message in the outbox, not yet published or published within the last 100 ms (0 when none): emails are late when it grows.",
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				oldest, err := st.OldestPending(ctx)
				if err != nil || oldest.IsZero() {
					return 0
				}
				return time.Since(oldest).Seconds()
			}),
	)
}

// eventsCollector is registrar_events_total{type}: the domain events this
// member committed, by type, every type present from the start.
type eventsCollector struct{ registry *actors.Registry }

var eventsDesc = prometheus.NewDesc("registrar_events_total",
	"Domain events committed (with their state change), by type.", []string{"type"}, nil)

func (c eventsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- eventsDesc }

func (c eventsCollector) Collect(ch chan<- prometheus.Metric) {
	for t, n := range c.registry.Stats().Events {
		ch <- prometheus.MustNewConstMetric(eventsDesc, prometheus.CounterValue, float64(n), t)
	}
}
