package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humafiber"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/internal/lifecycle"
	"github.com/acme/registrar/internal/logctx"
)

// maxBody is the largest request body accepted (64 KiB).
const maxBody = 64 * 1024

// Registrations is what the gateway needs of the registration actors;
// *actors.Registry implements it.
type Registrations interface {
	// CheckRegister returns the refusal a registration of email would meet
	// whatever its password, asked before the password is hashed.
	CheckRegister(ctx context.Context, email string) error
	Register(ctx context.Context, email, passwordHash string) (actors.Account, error)
	Activate(ctx context.Context, c actors.Credentials, code string) (actors.Account, error)
	ResendCode(ctx context.Context, c actors.Credentials) (actors.Account, error)
	Describe(ctx context.Context, c actors.Credentials) (actors.Account, error)
}

// Passwords hashes new passwords; Verify is used on a dummy hash so that a
// request without valid credentials takes as long as one with them.
// *password.Hasher implements it; both return actors.ErrOverloaded when no
// hashing capacity frees up in time.
type Passwords interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, encodedHash, password string) (bool, error)
}

// RateLimiter counts requests per client.
type RateLimiter interface {
	// Allow counts one request for key. When the key is over its limit it
	// returns false and how long until it is not.
	Allow(ctx context.Context, key string) (bool, time.Duration, error)
}

// Check is one dependency probed by /readyz.
type Check = lifecycle.Check

// Config of a Server. Registrations, Passwords, DummyHash, Logger and
// Metrics are required.
type Config struct {
	Registrations Registrations
	Passwords     Passwords
	DummyHash     string
	Logger        *slog.Logger
	// Metrics registers the HTTP metrics and is served on /metrics.
	Metrics *prometheus.Registry
	// RateLimiter limits /v1 requests per client IP; nil disables it.
	RateLimiter RateLimiter
	Ready       []Check

	// RequestTimeout bounds the handling of one request; default 10s.
	RequestTimeout time.Duration
	// AccessLog logs one line per answered request (server errors are
	// logged either way).
	AccessLog bool
	// ReadTimeout, WriteTimeout and IdleTimeout bound the connection;
	// defaults 10s, 15s and 60s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// TrustedProxies are the networks whose ProxyHeader is believed for the
	// client IP. Without them the client IP is the peer address.
	TrustedProxies []netip.Prefix
	ProxyHeader    string
	Version        string
}

// Server is the HTTP side of the service: fiber routes, huma operations and
// the OpenAPI document.
type Server struct {
	cfg     Config
	app     *fiber.App
	log     *slog.Logger
	metrics *httpMetrics
}

// New builds the server; it does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Registrations == nil || cfg.Passwords == nil || cfg.DummyHash == "" || cfg.Logger == nil || cfg.Metrics == nil {
		return nil, errors.New("gateway: Registrations, Passwords, DummyHash, Logger and Metrics are required")
	}
	if cfg.ProxyHeader != "" && len(cfg.TrustedProxies) == 0 {
		return nil, errors.New("gateway: a proxy header needs trusted proxies")
	}
	orDefault(&cfg.RequestTimeout, 10*time.Second)
	orDefault(&cfg.ReadTimeout, 10*time.Second)
	orDefault(&cfg.WriteTimeout, 15*time.Second)
	orDefault(&cfg.IdleTimeout, 60*time.Second)
	if cfg.Version == "" {
		cfg.Version = "1.0.0"
	}
	m, err := newHTTPMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "gateway"), metrics: m}
	s.app = fiber.New(fiber.Config{
		// Strings taken from a request must not point into buffers fasthttp
		// reuses for the next request.
		Immutable:             true,
		BodyLimit:             maxBody,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        8192,
		DisableStartupMessage: true,
		ErrorHandler:          s.refused,
	})
	s.app.Use(s.observe, headAsGet, s.recover, s.guardFraming, s.guardEncoding)
	s.app.Use("/v1", s.guardMediaType, s.rateLimit)

	config := huma.DefaultConfig("Registration API", cfg.Version)
	config.Info.Description = "Create an account with an email and a password, then activate it with the 4-digit code sent by email within its lifetime. Every error is application/problem+json with a stable `code`."
	config.CreateHooks = nil // no $schema fields or Link headers in responses
	config.DocsPath = ""     // ours, rendered without a CDN (docs.go)
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"basicAuth": {Type: "http", Scheme: "basic", Description: "The account's email and password."},
	}
	s.refuseUnknownMethods()
	api := humafiber.New(s.app, config)
	s.registerUserRoutes(api)
	s.registerOpsRoutes(api)
	documentHeaders(api.OpenAPI())
	s.registerDocsRoutes()
	return s, nil
}

// refuseUnknownMethods answers a method fiber does not know (such as the
// PRI of an HTTP/2 preface: this server speaks HTTP/1.1 only, h2c
// included) as every other refusal, with problem+json: fiber itself
// answers it in text/plain before any middleware runs.
func (s *Server) refuseUnknownMethods() {
	srv := s.app.Server()
	next := srv.Handler
	body, _ := json.Marshal(newProblem(http.StatusBadRequest, "malformed_request", // a Problem always encodes
		"Unknown method. This server speaks HTTP/1.1 only (no HTTP/2, no h2c)."))
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if slices.Contains(fiber.DefaultMethods, string(ctx.Method())) {
			next(ctx)
			return
		}
		ctx.Response.Header.Set(HeaderRequestID, logctx.NewRequestID())
		ctx.SetContentType("application/problem+json")
		ctx.SetStatusCode(http.StatusBadRequest)
		ctx.SetConnectionClose()
		ctx.SetBody(body)
	}
}

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.app.Listener(ln); err != nil {
		return fmt.Errorf("gateway: serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting connections and waits for the requests in flight,
// at most until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	return nil
}

// Test answers req in process, without a listener (for tests).
func (s *Server) Test(req *http.Request) (*http.Response, error) {
	return s.app.Test(req, -1)
}

// recover turns a panic into a logged 500; the client learns nothing of it.
func (s *Server) recover(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(c.UserContext(), "panic while handling a request", "route", routeLabel(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = s.sendProblem(c, internalError())
		}
	}()
	return c.Next()
}

// rateLimit counts /v1 requests per client IP. A limiter that fails lets the
// request through: its store is the database, which then fails the request
// anyway with a clearer answer.
func (s *Server) rateLimit(c *fiber.Ctx) error {
	if s.cfg.RateLimiter == nil {
		return c.Next()
	}
	ok, retry, err := s.cfg.RateLimiter.Allow(c.UserContext(), limitKey(c.UserContext()))
	if err != nil {
		s.log.WarnContext(c.UserContext(), "rate limiter failed; request let through", "error", err)
		return c.Next()
	}
	if !ok {
		return s.sendProblem(c, newProblem(http.StatusTooManyRequests, "rate_limited",
			"Too many requests from this address. Try again after the time in Retry-After.").retryAfter(retry))
	}
	return c.Next()
}

// renderError renders errors raised outside huma (routing, middleware) as
// problems.
func (s *Server) renderError(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return s.sendProblem(c, statusProblem(fe.Code))
	}
	p, known := problemFor(err)
	if !known {
		s.log.ErrorContext(c.UserContext(), "request failed", "route", routeLabel(c), "error", err)
	}
	return s.sendProblem(c, p)
}

func (s *Server) sendProblem(c *fiber.Ctx, p *Problem) error {
	for k, vs := range p.headers {
		for _, v := range vs {
			c.Set(k, v)
		}
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("gateway: encode problem: %w", err)
	}
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(p.Status).Send(body)
}

// writeProblem answers from a huma middleware.
func (s *Server) writeProblem(ctx huma.Context, p *Problem) {
	for k, vs := range p.headers {
		for _, v := range vs {
			ctx.SetHeader(k, v)
		}
	}
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(p.Status)
	if err := json.NewEncoder(ctx.BodyWriter()).Encode(p); err != nil {
		s.log.Warn("write problem", "error", err)
	}
}
