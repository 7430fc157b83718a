package main

import (
	"context"
	"errors"
	"fmt"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/acme/registrar/internal/profiling"
	"github.com/acme/registrar/internal/wiring"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/persistence"
)

// App is the mailer wired together: Kafka consumers feeding the mailer, its
// delivery memory in PostgreSQL, and a small HTTP server for operations.
type App struct {
	cfg         Config
	log         *slog.Logger
	deliveries  *persistence.MailDeliveries
	publisher   *messaging.KafkaPublisher
	consumers   []*messaging.Consumer
	mailer      *mailer.Mailer
	http        *http.Server
	listener    net.Listener
	profiling   func()       // stops the pprof server
	closeSender func() error // nil unless the sender keeps connections
}

const startupTimeout = 60 * time.Second

func newApp(ctx context.Context, cfg Config, log *slog.Logger, stdout io.Writer) (_ *App, err error) {
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	// The address first: a wrong one must stop the start before anything is
	// changed (migrations).
	if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on MAILER_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	a.deliveries, err = persistence.OpenMailDeliveries(ctx, persistence.PostgresConfig{URL: cfg.DatabaseURL, Logger: log, MaxConns: 4})
	if err != nil {
		return nil, err
	}
	admin := messaging.NewKafkaAdmin(cfg.Brokers, "mailer")
	tctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := admin.EnsureTopics(tctx, wiring.Topics(cfg.Kafka)); err != nil {
		return nil, fmt.Errorf("kafka topics (waited %s): %w", startupTimeout, err)
	}
	a.publisher = messaging.NewKafkaPublisher(cfg.Brokers, "mailer")
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sender, err := wiring.Sender(cfg.Mail, stdout, log)
	if err != nil {
		return nil, err
	}
	if c, ok := sender.(io.Closer); ok { // kept SMTP connections
		a.closeSender = c.Close
	}
	a.mailer, err = mailer.New(mailer.Config{
		Sender: sender, From: cfg.MailFrom, Logger: log, Dedupe: a.deliveries,
		Events: messaging.PrefixTopics(a.publisher, cfg.TopicPrefix), EventsTopic: registrationv1.EventsTopic,
		Observe: mailer.Metrics(metrics),
	})
	if err != nil {
		return nil, err
	}
	for range cfg.Consumers {
		c, err := messaging.NewConsumer(messaging.ConsumerConfig{
			Brokers: cfg.Brokers, GroupID: cfg.GroupID, Topic: cfg.Kafka.Topic(registrationv1.MailTopic), ClientID: "mailer",
			Logger: log, DeadLetters: a.publisher, DeadLetterTopic: cfg.Kafka.Topic(registrationv1.DeadLetterTopic),
		})
		if err != nil {
			return nil, err
		}
		a.consumers = append(a.consumers, c)
	}
	registerConsumerStats(metrics, a.consumers)
	a.http = &http.Server{Handler: a.routes(metrics, admin), ReadHeaderTimeout: 5 * time.Second}
	if a.profiling, err = profiling.Start(cfg.PprofAddr, log); err != nil {
		return nil, err
	}
	return a, nil
}

// routes serves /healthz, /readyz (PostgreSQL and Kafka answer) and
// /metrics.
func (a *App) routes(metrics *prometheus.Registry, admin *messaging.KafkaAdmin) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		for name, probe := range map[string]func(context.Context) error{"database": a.deliveries.Ping, "kafka": admin.Ping} {
			if err := probe(ctx); err != nil {
				a.log.Warn("readiness check failed", "check", name, "error", err)
				w.Header().Set("Content-Type", "application/problem+json")
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = fmt.Fprintf(w, `{"type":"urn:registrar:problem:unavailable","title":"Service unavailable","status":503,"detail":"Not ready: %s not answering.","code":"unavailable"}`, name)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ready"}`)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	return mux
}

// Addr is the address of the operations server.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run consumes until ctx is done, then stops: messages being handled are not
// committed (they come again), the consumers leave the group, the rest
// closes.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("mailer started", "addr", a.Addr(), "group", a.cfg.GroupID, "consumers", len(a.consumers),
		"topic", a.cfg.Kafka.Topic(registrationv1.MailTopic))
	go func() {
		if err := a.http.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("operations server stopped", "error", err)
		}
	}()
	var wg sync.WaitGroup
	for _, c := range a.consumers {
		wg.Go(func() { _ = c.Run(ctx, a.mailer.Handle) })
	}
	<-ctx.Done()
	a.log.Info("mailer stopping")
	wg.Wait()
	stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	errs := []error{a.http.Shutdown(stopCtx)}
	for _, c := range a.consumers {
		errs = append(errs, c.Close())
	}
	errs = append(errs, a.publisher.Close())
	if a.closeSender != nil {
		errs = append(errs, a.closeSender())
	}
	a.deliveries.Close()
	a.profiling()
	a.log.Info("mailer stopped")
	return errors.Join(errs...)
}

// Close releases what newApp acquired, for when Run is never called.
func (a *App) Close() {
	if a.listener != nil {
		_ = a.listener.Close()
	}
	for _, c := range a.consumers {
		_ = c.Close()
	}
	if a.publisher != nil {
		_ = a.publisher.Close()
	}
	if a.deliveries != nil {
		a.deliveries.Close()
	}
	if a.closeSender != nil {
		_ = a.closeSender()
	}
	if a.profiling != nil {
		a.profiling()
	}
}

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
