package gateway

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/acme/registrar/internal/logctx"
)

// HeaderRequestID names the request id, taken from the client (or a proxy)
// when it is a sane token, else made here; it is echoed on every answer and
// logged with every line of its request.
const HeaderRequestID = "X-Request-Id"

// acceptedKey marks a request that the middleware chain took in (as
// opposed to one fasthttp refused before any middleware ran).
type acceptedKey struct{}

// tracer makes the server span of each request; its parent is the
// caller's traceparent header, when it sends one.
var tracer = otel.Tracer("github.com/acme/registrar/gateway")

// accept gives the request its id, client IP and server span, in its
// context; account ends the span.
func (s *Server) accept(c *fiber.Ctx) context.Context {
	id := c.Get(HeaderRequestID)
	if !logctx.SaneRequestID(id) {
		id = logctx.NewRequestID()
	}
	c.Set(HeaderRequestID, id)
	c.Locals(acceptedKey{}, true)
	ctx := logctx.WithRequestID(c.UserContext(), id)
	ctx = otel.GetTextMapPropagator().Extract(ctx, headerCarrier{c})
	ctx, _ = tracer.Start(ctx, c.Method()+" "+routeLabel(c), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", c.Method()), attribute.String("http.route", routeLabel(c)),
			attribute.String("registrar.request_id", id)))
	return context.WithValue(ctx, clientIPKey{}, s.clientIP(c))
}

// headerCarrier reads the trace context from the request's headers.
type headerCarrier struct{ c *fiber.Ctx }

func (h headerCarrier) Get(key string) string { return h.c.Get(key) }
func (h headerCarrier) Set(string, string)    {} // requests are only read
func (h headerCarrier) Keys() []string        { return []string{"traceparent", "tracestate", "baggage"} }

// observe is the first middleware: it bounds the request's context, and
// counts and logs its answer.
func (s *Server) observe(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.accept(c), s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	start := time.Now()
	if err := c.Next(); err != nil {
		// Let the error handler write the response before measuring it.
		if herr := s.renderError(c, err); herr != nil {
			return herr
		}
	}
	s.account(c, start)
	return nil
}

// refused is fiber's error handler. Besides errors escaping the middleware,
// it answers what fasthttp refused while reading the request, before any
// middleware: a body over the limit (413), headers too large (431), a read
// timeout. Those are counted and logged here, or they would be missing
// from the metrics and the access log.
func (s *Server) refused(c *fiber.Ctx, err error) error {
	if c.Locals(acceptedKey{}) != nil {
		return s.renderError(c, err)
	}
	// fasthttp sets the request's time only once it has read the request
	// whole: what it spent before refusing is unknown, and not counted.
	start := time.Now()
	c.SetUserContext(s.accept(c))
	defer s.account(c, start)
	return s.renderError(c, err)
}

// account counts the answer under its route and writes the access log line
// (never a header: Authorization holds a password).
func (s *Server) account(c *fiber.Ctx, start time.Time) {
	status := c.Response().StatusCode()
	route := routeLabel(c)
	elapsed := time.Since(start)
	s.metrics.observe(c.Method(), route, status, elapsed)
	span := trace.SpanFromContext(c.UserContext())
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	span.End()
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	} else if !s.cfg.AccessLog {
		return
	}
	ctx := c.UserContext()
	s.log.Log(ctx, level, "request", "method", c.Method(), "route", route, "status", status,
		"duration", elapsed, "client_ip", clientIPFrom(ctx))
}

var knownRoutes = map[string]bool{
	"/v1/users": true, "/v1/users/activate": true, "/v1/users/activation-code": true, "/v1/users/me": true,
	"/healthz": true, "/readyz": true, "/metrics": true, "/openapi.json": true, "/openapi.yaml": true, "/docs": true, redocPath: true,
}

// routeLabel is the route a request was for, kept to a bounded label set
// (unknown paths share "other"). It is read from the path as the router
// matches it (case-insensitive, a trailing slash ignored), so that an answer
// given by a middleware before routing (415, 429) or by fasthttp (413) is
// counted under its route too.
func routeLabel(c *fiber.Ctx) string {
	path := strings.ToLower(c.Path())
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if knownRoutes[path] {
		return path
	}
	return "other"
}
