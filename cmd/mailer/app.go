package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/acme/registrar/internal/lifecycle"
	"github.com/acme/registrar/internal/ops"
	"github.com/acme/registrar/internal/profiling"
	"github.com/acme/registrar/internal/wiring"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/persistence"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// App is the mailer wired together: Kafka consumers feeding the mailer, its
// delivery memory in PostgreSQL, and a small HTTP server for operations
// (internal/ops). Its parts stop in reverse order of their building
// (internal/lifecycle): the consumers stop fetching (a message being handled
// is not committed: it comes again) and leave the group, then the rest
// closes.
type App struct {
	cfg      Config
	log      *slog.Logger
	parts    *lifecycle.Lifecycle
	listener net.Listener
}

const startupTimeout = 60 * time.Second

func newApp(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, parts: lifecycle.New(log)}
	defer func() {
		if err != nil {
			_ = a.parts.Close(context.Background())
		}
	}()
	// The address first: a wrong one must stop the start before anything is
	// changed (migrations).
	if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on MAILER_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	a.parts.Add(lifecycle.Listener(a.listener))
	deliveries, err := persistence.OpenMailDeliveries(ctx, persistence.PostgresConfig{URL: cfg.DatabaseURL, Logger: log, MaxConns: 4})
	if err != nil {
		return nil, err
	}
	a.parts.Add(lifecycle.Part{Name: "database", Ready: deliveries.Ping, Stop: func(context.Context) error { deliveries.Close(); return nil }})
	admin := messaging.NewKafkaAdmin(cfg.Brokers, "mailer")
	tctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := admin.EnsureTopics(tctx, wiring.Topics(cfg.Kafka)); err != nil {
		return nil, fmt.Errorf("kafka topics (waited %s): %w", startupTimeout, err)
	}
	publisher := messaging.NewKafkaPublisher(cfg.Brokers, "mailer")
	a.parts.Add(lifecycle.Part{Name: "kafka", Ready: admin.Ping, Stop: func(context.Context) error { return publisher.Close() }})
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := a.mailer(deliveries, publisher, metrics, stdout)
	if err != nil {
		return nil, err
	}
	consumers, err := a.consumers(publisher, m)
	if err != nil {
		return nil, err
	}
	registerConsumerStats(metrics, consumers)
	metrics.MustRegister(ops.DependencyUp("mailer", a.parts.Checks))
	server := &http.Server{Handler: ops.Handler(log, a.parts.Checks, metrics), ReadHeaderTimeout: 5 * time.Second}
	a.parts.Add(lifecycle.Part{Name: "operations", Run: func(context.Context) error {
		if err := server.Serve(a.listener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}, Stop: server.Shutdown})
	stopProfiling, err := profiling.Start(cfg.PprofAddr, log)
	if err != nil {
		return nil, err
	}
	a.parts.Add(lifecycle.Part{Name: "pprof", Stop: func(context.Context) error { stopProfiling(); return nil }})
	return a, nil
}

// mailer builds the mailer on its sender, with its delivery memory and the
// publisher of its outcome events.
func (a *App) mailer(dedupe mailer.Deduper, events messaging.Publisher, metrics *prometheus.Registry, stdout io.Writer) (*mailer.Mailer, error) {
	sender, err := wiring.Sender(a.cfg.Mail, stdout, a.log)
	if err != nil {
		return nil, err
	}
	if c, ok := sender.(io.Closer); ok { // kept SMTP connections
		a.parts.Add(lifecycle.Part{Name: "smtp", Stop: func(context.Context) error { return c.Close() }})
	}
	return mailer.New(mailer.Config{
		Sender: sender, From: a.cfg.MailFrom, Logger: a.log, Dedupe: dedupe,
		Events: messaging.PrefixTopics(events, a.cfg.TopicPrefix), EventsTopic: registrationv1.EventsTopic,
		Observe: mailer.Metrics(metrics),
	})
}

// consumers joins the group MAILER_CONSUMERS times, each feeding m.
func (a *App) consumers(deadLetters messaging.Publisher, m *mailer.Mailer) ([]*messaging.Consumer, error) {
	var out []*messaging.Consumer
	for i := range a.cfg.Consumers {
		c, err := messaging.NewConsumer(messaging.ConsumerConfig{
			Brokers: a.cfg.Brokers, GroupID: a.cfg.GroupID, Topic: a.cfg.Kafka.Topic(registrationv1.MailTopic), ClientID: "mailer",
			Logger: a.log, DeadLetters: deadLetters, DeadLetterTopic: a.cfg.Kafka.Topic(registrationv1.DeadLetterTopic),
		})
		if err != nil {
			return nil, err
		}
		a.parts.Add(lifecycle.Part{Name: fmt.Sprintf("consumer %d", i),
			Run:  func(ctx context.Context) error { return c.Run(ctx, m.Handle) },
			Stop: func(context.Context) error { return c.Close() }})
		out = append(out, c)
	}
	return out, nil
}

// Addr is the address of the operations server.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run consumes until ctx is done, then stops every part.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("mailer started", "addr", a.Addr(), "group", a.cfg.GroupID, "consumers", a.cfg.Consumers,
		"topic", a.cfg.Kafka.Topic(registrationv1.MailTopic))
	err := a.parts.Run(ctx, nil, a.cfg.ShutdownTimeout)
	a.log.Info("mailer stopped")
	return err
}

// Close releases what newApp acquired, for when Run is never called.
func (a *App) Close() { _ = a.parts.Close(context.Background()) }

func registerConsumerStats(reg prometheus.Registerer, consumers []*messaging.Consumer) {
	sum := func(f func(messaging.ConsumerStats) int64) func() float64 {
		return func() float64 {
			var n int64
			for _, c := range consumers {
				n += f(c.Stats())
			}
			return float64(n)
		}
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mailer_messages_handled_total", Help: "Mail messages handled and committed."},
			sum(func(s messaging.ConsumerStats) int64 { return s.Handled })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mailer_messages_dead_lettered_total", Help: "Mail messages refused for good, sent to the dead-letter topic."},
			sum(func(s messaging.ConsumerStats) int64 { return s.DeadLettered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mailer_message_retries_total", Help: "Temporary failures retried."},
			sum(func(s messaging.ConsumerStats) int64 { return s.Retries })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mailer_consumer_lag", Help: "Mail messages waiting in the assigned partitions."},
			sum(func(s messaging.ConsumerStats) int64 { return s.Lag })),
	)
}
