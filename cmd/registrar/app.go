package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/gateway"
	"github.com/acme/registrar/internal/lifecycle"
	"github.com/acme/registrar/internal/ops"
	"github.com/acme/registrar/internal/profiling"
	"github.com/acme/registrar/internal/wiring"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/messaging"
	"github.com/acme/registrar/password"
	"github.com/acme/registrar/persistence"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// store is what the registrar needs of its database: the actors' Store, the
// relay's Outbox, a readiness probe. SQLite and PostgreSQL provide it.
type store interface {
	actors.Store
	actors.ExpiredCodes
	actors.StaleRegistrations
	messaging.Outbox
	Ping(ctx context.Context) error
	OldestPending(ctx context.Context) (time.Time, error)
	Close() error
}

// App is the registrar wired together: store, actors, relay, HTTP gateway,
// and either the in-process bus and mailer or Kafka. Its parts start in
// the order they are built and stop in reverse (internal/lifecycle): stop
// accepting and finish the requests in flight, stop the actors, deliver what
// the outbox still holds, close the rest.
type App struct {
	cfg      Config
	log      *slog.Logger
	parts    *lifecycle.Lifecycle
	listener net.Listener
	fenced   chan error // this cluster member was dropped: stop
}

// startupTimeout bounds the wait for Kafka at start.
const startupTimeout = 60 * time.Second

// newApp builds everything and binds the listener; nothing runs until Run.
// Emails are printed to mailOut when neither Kafka nor SMTP is configured.
func newApp(ctx context.Context, cfg Config, log *slog.Logger, mailOut io.Writer) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, parts: lifecycle.New(log), fenced: make(chan error, 1)}
	defer func() {
		if err != nil {
			_ = a.parts.Close(context.Background())
		}
	}()
	// The address first: a wrong one must stop the start before anything is
	// changed on disk (migrations, a generated key).
	if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	a.parts.Add(lifecycle.Listener(a.listener))
	st, limiter, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	hasher, dummy, err := a.hasher(ctx)
	if err != nil {
		return nil, err
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	publisher, err := a.publisher(ctx, metrics, mailOut)
	if err != nil {
		return nil, err
	}
	relay, err := messaging.NewRelay(messaging.RelayConfig{Outbox: st, Publisher: publisher, Logger: log})
	if err != nil {
		return nil, err
	}
	a.parts.Add(lifecycle.Part{Name: "relay", Run: relay.Run, Stop: func(ctx context.Context) error {
		if err := relay.Flush(ctx); err != nil {
			return fmt.Errorf("flush outbox: %w", err)
		}
		return nil
	}})
	registry, err := a.registry(st, hasher, dummy)
	if err != nil {
		return nil, err
	}
	server, err := gateway.New(gateway.Config{
		Registrations: registry, Passwords: hasher, DummyHash: dummy, Logger: log, Metrics: metrics,
		RateLimiter: limiter, Ready: a.parts.Checks(),
		RequestTimeout: cfg.RequestTimeout, TrustedProxies: cfg.trusted, ProxyHeader: cfg.ProxyHeader,
		AccessLog: cfg.AccessLog,
	})
	if err != nil {
		return nil, err
	}
	a.parts.Add(lifecycle.Part{Name: "gateway", Run: func(context.Context) error { return server.Serve(a.listener) }, Stop: server.Shutdown})
	registerStats(metrics, registry, hasher, relay, st)
	metrics.MustRegister(ops.DependencyUp("registrar", a.parts.Checks))
	stopProfiling, err := profiling.Start(cfg.PprofAddr, log)
	if err != nil {
		return nil, err
	}
	a.parts.Add(lifecycle.Part{Name: "pprof", Stop: func(context.Context) error { stopProfiling(); return nil }})
	return a, nil
}

// openStore opens the database and the per-IP limiter that goes with it.
func (a *App) openStore(ctx context.Context) (store, gateway.RateLimiter, error) {
	var (
		st      store
		limiter gateway.RateLimiter
	)
	if a.cfg.postgres {
		pg, err := persistence.OpenPostgres(ctx, persistence.PostgresConfig{URL: a.cfg.DatabaseURL, Logger: a.log, MaxConns: a.cfg.DatabaseMaxConns})
		if err != nil {
			return nil, nil, err
		}
		st = pg
		if a.cfg.RateLimitPerIP > 0 {
			limiter = pg.RateLimiter(a.cfg.RateLimitPerIP, time.Minute)
		}
	} else {
		lite, err := persistence.OpenSQLite(ctx, persistence.SQLiteConfig{Path: a.cfg.sqlitePath, Synchronous: a.cfg.SQLiteSynchronous, Logger: a.log})
		if err != nil {
			return nil, nil, err
		}
		st = lite
		if a.cfg.RateLimitPerIP > 0 {
			limiter = gateway.NewRollingLimiter(a.cfg.RateLimitPerIP, time.Minute)
		}
	}
	a.parts.Add(lifecycle.Part{Name: "database", Ready: st.Ping, Stop: func(context.Context) error { return st.Close() }})
	return st, limiter, nil
}

// hasher builds the password hasher and warms it up; dummy is a hash of a
// password nobody knows, verified for unknown emails.
func (a *App) hasher(ctx context.Context) (h *password.Hasher, dummy string, err error) {
	p := a.cfg.hashParams
	if p.BelowOWASP() {
		a.log.Error("BENCHMARK ONLY: passwords are hashed below the OWASP minimum; never run this in production",
			"params", p.String(), "minimum", password.OWASP.String())
	}
	h, err = password.NewHasher(password.Config{Params: p, AllowWeakParams: a.cfg.PasswordHashBenchmark,
		Concurrency: a.cfg.HashConcurrency, MaxWait: a.cfg.HashMaxWait, MaxQueue: a.cfg.HashMaxQueue})
	if err != nil {
		return nil, "", err
	}
	if dummy, err = h.Warm(ctx); err != nil {
		return nil, "", fmt.Errorf("warm the password hasher: %w", err)
	}
	return h, dummy, nil
}

// registry starts the registration actors (joining the cluster if one is
// configured).
func (a *App) registry(st store, hasher *password.Hasher, dummy string) (*actors.Registry, error) {
	key, err := codeKey(a.cfg, a.log)
	if err != nil {
		return nil, err
	}
	rules, err := actors.NewRules(a.cfg.policy(), key)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	clusterCfg, err := a.cfg.Cluster.config(a.fence)
	if err != nil {
		return nil, err
	}
	r, err := actors.NewRegistry(actors.Config{
		Rules: rules, Store: st, Expired: st, Stale: st, Passwords: hasher, DummyHash: dummy, Logger: a.log,
		Shards: a.cfg.ActorShards, IdleTimeout: a.cfg.ActorIdleTimeout, RequestTimeout: a.cfg.RequestTimeout,
		Cluster: clusterCfg,
	})
	if err != nil {
		return nil, err
	}
	a.parts.Add(lifecycle.Part{Name: "actors", Ready: r.Ready, Stop: r.Close})
	return r, nil
}

// publisher is where the relay sends the outbox: Kafka when configured
// (topics created first), else the in-process bus with the mailer on it.
func (a *App) publisher(ctx context.Context, metrics *prometheus.Registry, mailOut io.Writer) (messaging.Publisher, error) {
	if !a.cfg.Kafka.Enabled() {
		bus := messaging.NewBus(0)
		return bus, a.wireMailer(bus, metrics, mailOut)
	}
	admin := messaging.NewKafkaAdmin(a.cfg.Brokers, "registrar")
	tctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := admin.EnsureTopics(tctx, wiring.Topics(a.cfg.Kafka)); err != nil {
		return nil, fmt.Errorf("kafka topics (waited %s): %w", startupTimeout, err)
	}
	kp := messaging.NewKafkaPublisher(a.cfg.Brokers, "registrar")
	a.parts.Add(lifecycle.Part{Name: "kafka", Ready: admin.Ping, Stop: func(context.Context) error { return kp.Close() }})
	return messaging.PrefixTopics(kp, a.cfg.TopicPrefix), nil
}

// wireMailer subscribes the in-process mailer to the mail topic.
func (a *App) wireMailer(bus *messaging.Bus, metrics *prometheus.Registry, mailOut io.Writer) error {
	sender, err := wiring.Sender(a.cfg.Mail, mailOut, a.log)
	if err != nil {
		return err
	}
	if c, ok := sender.(io.Closer); ok { // kept SMTP connections, closed after the outbox flush
		a.parts.Add(lifecycle.Part{Name: "smtp", Stop: func(context.Context) error { return c.Close() }})
	}
	dedupe := mailer.NewMemory()
	metrics.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mailer_dedupe_entries",
		Help: "Emails the in-process mailer remembers as sent (a redelivery is skipped), each until its code expires.",
	}, func() float64 { return float64(dedupe.Len()) }))
	m, err := mailer.New(mailer.Config{Sender: sender, From: a.cfg.MailFrom, Logger: a.log, Dedupe: dedupe, Observe: mailer.Metrics(metrics)})
	if err != nil {
		return err
	}
	bus.Subscribe(registrationv1.MailTopic, func(ctx context.Context, msg *registrationv1.Envelope) error {
		err := m.Handle(ctx, msg)
		if errors.Is(err, messaging.ErrPermanent) {
			// Embedded mode has no dead-letter topic; the mailer logged it.
			return nil
		}
		return err
	})
	return nil
}

// fence stops the registrar when its cluster member was dropped (it exits
// non-zero, to be restarted with a new member id).
func (a *App) fence(err error) {
	select {
	case a.fenced <- fmt.Errorf("cluster: %w", err):
	default:
	}
}

// Addr is the address the gateway listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Run serves until ctx is done (or a part fails, or the cluster fences this
// member), then stops every part within SHUTDOWN_TIMEOUT.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("registrar started", "addr", a.Addr(), "database", a.databaseKind(), "messages", a.messagesMode(),
		"cluster", a.clusterMode())
	err := a.parts.Run(ctx, a.fenced, a.cfg.ShutdownTimeout)
	a.log.Info("registrar stopped")
	return err
}

// Close releases what newApp acquired, for when Run is never called.
func (a *App) Close() { _ = a.parts.Close(context.Background()) }

func (a *App) databaseKind() string {
	if a.cfg.postgres {
		return "postgres"
	}
	return "sqlite"
}

func (a *App) clusterMode() string {
	if !a.cfg.Cluster.Enabled() {
		return "none (one process)"
	}
	return a.cfg.Cluster.Provider + " " + a.cfg.Cluster.Name
}

func (a *App) messagesMode() string {
	switch {
	case a.cfg.Kafka.Enabled():
		return "kafka (the mailer runs apart)"
	case a.cfg.SMTPURL == "":
		return "in process; emails printed to stdout"
	}
	return "in process; emails sent over SMTP"
}
