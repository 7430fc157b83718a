package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/gateway"
	"github.com/acme/registrar/internal/config"
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
	messaging.Outbox
	Ping(ctx context.Context) error
	OldestPending(ctx context.Context) (time.Time, error)
	Close() error
}

// App is the registrar wired together: store, actors, relay, HTTP gateway,
// and either the in-process bus and mailer or Kafka.
type App struct {
	cfg      Config
	log      *slog.Logger
	store    store
	registry *actors.Registry
	relay    *messaging.Relay
	server   *gateway.Server
	listener net.Listener
	closers  []func() error // closed last, after the outbox flush
	fenced   chan error     // this cluster member was dropped: stop
}

// startupTimeout bounds the wait for Kafka at start.
const startupTimeout = 60 * time.Second

// newApp builds everything and binds the listener; nothing runs until Run.
// Emails are printed to mailOut when neither Kafka nor SMTP is configured.
func newApp(ctx context.Context, cfg Config, log *slog.Logger, mailOut io.Writer) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, fenced: make(chan error, 1)}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	// The address first: a wrong one must stop the start before anything is
	// changed on disk (migrations, a generated key).
	if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	var limiter gateway.RateLimiter
	if cfg.postgres {
		pg, err := persistence.OpenPostgres(ctx, persistence.PostgresConfig{URL: cfg.DatabaseURL, Logger: log, MaxConns: cfg.DatabaseMaxConns})
		if err != nil {
			return nil, err
		}
		a.store = pg
		if cfg.RateLimitPerIP > 0 {
			limiter = pg.RateLimiter(cfg.RateLimitPerIP, time.Minute)
		}
	} else {
		lite, err := persistence.OpenSQLite(ctx, persistence.SQLiteConfig{Path: cfg.sqlitePath, Synchronous: cfg.SQLiteSynchronous, Logger: log})
		if err != nil {
			return nil, err
		}
		a.store = lite
		if cfg.RateLimitPerIP > 0 {
			limiter = gateway.NewRollingLimiter(cfg.RateLimitPerIP, time.Minute)
		}
	}
	key, err := codeKey(cfg, log)
	if err != nil {
		return nil, err
	}
	rules, err := actors.NewRules(cfg.policy(), key)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if cfg.hashParams.BelowOWASP() {
		log.Error("BENCHMARK ONLY: passwords are hashed below the OWASP minimum; never run this in production",
			"params", cfg.hashParams.String(), "minimum", password.OWASP.String())
	}
	hasher, err := password.NewHasher(password.Config{Params: cfg.hashParams, AllowWeakParams: cfg.PasswordHashBenchmark,
		Concurrency: cfg.HashConcurrency, MaxWait: cfg.HashMaxWait, MaxQueue: cfg.HashMaxQueue})
	if err != nil {
		return nil, err
	}
	dummy, err := hasher.Warm(ctx) // a hash of a password nobody knows
	if err != nil {
		return nil, fmt.Errorf("warm the password hasher: %w", err)
	}
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	clusterCfg, err := cfg.Cluster.config(a.fence)
	if err != nil {
		return nil, err
	}
	a.registry, err = actors.NewRegistry(actors.Config{
		Rules: rules, Store: a.store, Expired: a.store, Passwords: hasher, DummyHash: dummy, Logger: log,
		Shards: cfg.ActorShards, IdleTimeout: cfg.ActorIdleTimeout, RequestTimeout: cfg.RequestTimeout,
		Cluster: clusterCfg,
	})
	if err != nil {
		return nil, err
	}
	ready := []gateway.Check{{Name: "database", Probe: a.store.Ping}, {Name: "actors", Probe: a.registry.Ready}}
	publisher, kafkaCheck, err := a.publisher(ctx, metrics, mailOut)
	if err != nil {
		return nil, err
	}
	if kafkaCheck != nil {
		ready = append(ready, *kafkaCheck)
	}
	a.relay, err = messaging.NewRelay(messaging.RelayConfig{Outbox: a.store, Publisher: publisher, Logger: log})
	if err != nil {
		return nil, err
	}
	a.server, err = gateway.New(gateway.Config{
		Registrations: a.registry, Passwords: hasher, DummyHash: dummy, Logger: log, Metrics: metrics,
		RateLimiter: limiter, Ready: ready,
		RequestTimeout: cfg.RequestTimeout, TrustedProxies: cfg.trusted, ProxyHeader: cfg.ProxyHeader,
	})
	if err != nil {
		return nil, err
	}
	registerStats(metrics, a.registry, hasher, a.relay, a.store)
	stopProfiling, err := profiling.Start(cfg.PprofAddr, log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() error { stopProfiling(); return nil })
	return a, nil
}

// publisher is where the relay sends the outbox: Kafka when configured
// (topics created first), else the in-process bus with the mailer on it.
func (a *App) publisher(ctx context.Context, metrics *prometheus.Registry, mailOut io.Writer) (messaging.Publisher, *gateway.Check, error) {
	if !a.cfg.Kafka.Enabled() {
		bus := messaging.NewBus(0)
		return bus, nil, a.wireMailer(bus, metrics, mailOut)
	}
	admin := messaging.NewKafkaAdmin(a.cfg.Brokers, "registrar")
	tctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if err := admin.EnsureTopics(tctx, wiring.Topics(a.cfg.Kafka)); err != nil {
		return nil, nil, fmt.Errorf("kafka topics (waited %s): %w", startupTimeout, err)
	}
	kp := messaging.NewKafkaPublisher(a.cfg.Brokers, "registrar")
	a.closers = append(a.closers, kp.Close)
	return messaging.PrefixTopics(kp, a.cfg.TopicPrefix), &gateway.Check{Name: "kafka", Probe: admin.Ping}, nil
}

// wireMailer subscribes the in-process mailer to the mail topic.
func (a *App) wireMailer(bus *messaging.Bus, metrics *prometheus.Registry, mailOut io.Writer) error {
	sender, err := wiring.Sender(a.cfg.Mail, mailOut, a.log)
	if err != nil {
		return err
	}
	if c, ok := sender.(io.Closer); ok { // kept SMTP connections, closed after the outbox flush
		a.closers = append(a.closers, c.Close)
	}
	m, err := mailer.New(mailer.Config{Sender: sender, From: a.cfg.MailFrom, Logger: a.log, Observe: mailer.Metrics(metrics)})
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

// Run serves until ctx is done, then stops in order: stop accepting and
// finish the requests in flight, stop the actors, deliver what the outbox
// still holds, close the rest.
func (a *App) Run(ctx context.Context) error {
	a.log.Info("registrar started", "addr", a.Addr(), "database", a.databaseKind(), "messages", a.messagesMode(),
		"cluster", a.clusterMode())
	relayCtx, stopRelay := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.relay.Run(relayCtx) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.server.Serve(a.listener) }()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	case runErr = <-a.fenced:
	}
	a.log.Info("registrar stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	errs := []error{runErr}
	errs = append(errs, a.server.Shutdown(stopCtx), a.registry.Close(stopCtx))
	stopRelay()
	wg.Wait()
	if err := a.relay.Flush(stopCtx); err != nil {
		errs = append(errs, fmt.Errorf("flush outbox: %w", err))
	}
	for _, c := range a.closers {
		errs = append(errs, c())
	}
	errs = append(errs, a.store.Close())
	a.log.Info("registrar stopped")
	return errors.Join(errs...)
}

// Close releases what newApp acquired, for when Run is never called.
func (a *App) Close() {
	if a.listener != nil {
		_ = a.listener.Close()
	}
	if a.registry != nil {
		_ = a.registry.Close(context.Background())
	}
	for _, c := range a.closers {
		_ = c()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
}

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

// codeKey returns the HMAC key of the codes: CODE_HMAC_KEY, or in embedded
// mode a key generated once and kept in a file beside the database.
func codeKey(cfg Config, log *slog.Logger) ([]byte, error) {
	if cfg.CodeHMACKey != "" {
		return config.DecodeKey(cfg.CodeHMACKey)
	}
	path := cfg.CodeHMACKeyFile
	if path == "" {
		path = filepath.Join(filepath.Dir(cfg.sqlitePath), "code_hmac.key")
	}
	if b, err := os.ReadFile(path); err == nil {
		key, err := config.DecodeKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("CODE_HMAC_KEY file %s: %w", path, err)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read CODE_HMAC_KEY file: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create CODE_HMAC_KEY file: %w", err)
	}
	// O_EXCL: if another instance wrote the key meanwhile, use its key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return codeKey(cfg, log)
	}
	if err != nil {
		return nil, fmt.Errorf("create CODE_HMAC_KEY file: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write CODE_HMAC_KEY file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write CODE_HMAC_KEY file: %w", err)
	}
	log.Warn("CODE_HMAC_KEY is not set: generated a key for the codes; keep the file with the database (without it, pending codes stop matching)", "file", path)
	return key, nil
}

// warnAboutCodes states, at every start, that 4-digit codes are below the
// NIST floor and which controls compensate.
func warnAboutCodes(log *slog.Logger, cfg Config) {
	log.Warn("verification codes have 4 digits (13.3 bits of entropy), below the 20 bits of NIST SP 800-63B §5.1.3.2; compensating controls in force:",
		"guesses_per_code", cfg.CodeMaxAttempts,
		"code_ttl", cfg.CodeTTL.String(),
		"account_failure_budget", fmt.Sprintf("%d per %s", cfg.AccountFailureLimit, cfg.AccountFailureWindow),
		"resend", fmt.Sprintf("1 per %s, %d per hour", cfg.CodeResendCooldown, cfg.CodeHourlyLimit),
		"codes_stored_as", "HMAC-SHA-256, compared in constant time",
		"requests_per_ip", fmt.Sprintf("%d per minute", cfg.RateLimitPerIP),
	)
}
