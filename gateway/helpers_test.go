package gateway_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/actorstest"
	"github.com/acme/registrar/gateway"
	"github.com/acme/registrar/internal/logctx"
	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/password"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// switchable wraps the real hasher, counts verifications and can be made
// to report overload.
type switchable struct {
	*password.Hasher
	overloaded atomic.Bool
	verified   atomic.Int64
	hashed     atomic.Int64
}

func (s *switchable) Verify(ctx context.Context, encoded, pw string) (bool, error) {
	s.verified.Add(1)
	return s.Hasher.Verify(ctx, encoded, pw)
}

func (s *switchable) Hash(ctx context.Context, pw string) (string, error) {
	if s.overloaded.Load() {
		return "", actors.ErrOverloaded
	}
	s.hashed.Add(1)
	return s.Hasher.Hash(ctx, pw)
}

type env struct {
	t      *testing.T
	srv    *gateway.Server
	store  *actorstest.Store
	clock  *testkit.Clock
	hasher *switchable
	logs   *testkit.Buffer // the server's JSON log
	// secrets that no response may ever contain
	secrets []string
}

type options struct {
	limiter gateway.RateLimiter
	ready   []gateway.Check
	policy  func(p *actors.Policy)
	// trusted and proxyHeader configure the client IP behind proxies.
	trusted     []netip.Prefix
	proxyHeader string
	accessLog   bool
}

func newEnv(t *testing.T, opts options) *env {
	t.Helper()
	logs := &testkit.Buffer{}
	logger := slog.New(logctx.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	h, err := password.NewHasher(password.Config{
		Params:          password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		AllowWeakParams: true,
	})
	require.NoError(t, err)
	hasher := &switchable{Hasher: h}
	dummy, err := h.Hash(context.Background(), "not anybody's password")
	require.NoError(t, err)

	policy := actors.DefaultPolicy()
	if opts.policy != nil {
		opts.policy(&policy)
	}
	rules, err := actors.NewRules(policy, []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	e := &env{t: t, store: actorstest.NewStore(), clock: testkit.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)), hasher: hasher, logs: logs}
	reg, err := actors.NewRegistry(actors.Config{
		Rules: rules, Store: e.store, Passwords: hasher, DummyHash: dummy, Logger: logger, Now: e.clock.Now,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	e.srv, err = gateway.New(gateway.Config{
		Registrations: reg, Passwords: hasher, DummyHash: dummy, Logger: logger,
		Metrics: prometheus.NewRegistry(), RateLimiter: opts.limiter, Ready: opts.ready,
		TrustedProxies: opts.trusted, ProxyHeader: opts.proxyHeader, AccessLog: opts.accessLog,
	})
	require.NoError(t, err)
	return e
}

type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
	head   bool // the answer to a HEAD: a GET's without its body
}

func (r response) code() string {
	c, _ := r.body["code"].(string)
	return c
}

type request struct {
	method, path, body string
	header             map[string]string
	// lines are header lines sent as they are, repeated names included.
	lines [][2]string
}

// sendHeaders serves the env on a loopback port (for what app.Test cannot
// show, such as fasthttp's own body limit), sends it only the request line
// and headers of r, and reads the answer. A server that answers before
// reading a body it refuses would reset a client still sending it.
func (e *env) sendHeaders(r request) response {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.t, err)
	go func() { _ = e.srv.Serve(ln) }()
	e.t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(e.t, err)
	defer conn.Close()
	require.NoError(e.t, conn.SetDeadline(time.Now().Add(30*time.Second))) // a hung server fails, not hangs
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: registrar.test\r\n", r.method, r.path)
	for k, v := range r.header {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	_, err = conn.Write([]byte(head.String()))
	require.NoError(e.t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(e.t, err)
	return e.read(res)
}

func (e *env) do(r request) response {
	e.t.Helper()
	req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	for _, l := range r.lines {
		req.Header[l[0]] = append(req.Header[l[0]], l[1])
	}
	res, err := e.srv.Test(req)
	require.NoError(e.t, err)
	res.Request = req
	return e.read(res)
}

func (e *env) read(res *http.Response) response {
	e.t.Helper()
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	out := response{status: res.StatusCode, header: res.Header, raw: string(raw), head: res.Request != nil && res.Request.Method == http.MethodHead}
	_ = json.Unmarshal(raw, &out.body)
	e.check(out)
	return out
}

// check applies what every response must satisfy.
func (e *env) check(r response) {
	e.t.Helper()
	assert.NotEqual(e.t, http.StatusInternalServerError, r.status, "no client input may cause a 500: %s", r.raw)
	for _, s := range e.secrets {
		assert.False(e.t, testkit.ContainsToken(r.raw, s), "a response echoed a secret: %s", r.raw)
		assert.False(e.t, testkit.ContainsToken(e.logs.String(), s), "the log holds a secret")
	}
	assert.True(e.t, logctx.SaneRequestID(r.header.Get(gateway.HeaderRequestID)), "every answer carries its request id")
	if r.status >= 400 {
		assert.Equal(e.t, "application/problem+json", r.header.Get("Content-Type"), r.raw)
		for _, field := range []string{"type", "title", "status", "detail", "code"} {
			assert.True(e.t, r.head || r.body[field] != nil, "problem field %q: %s", field, r.raw)
		}
		assert.True(e.t, r.head || fmt.Sprint(r.status) == fmt.Sprint(r.body["status"]), "problem status: %s", r.raw)
	}
	if r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable {
		assert.Regexp(e.t, `^[1-9][0-9]*$`, r.header.Get("Retry-After"), "429 and 503 carry Retry-After")
	}
}

func (e *env) secret(s string) string {
	e.secrets = append(e.secrets, s)
	return s
}

func basic(email, password string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))}
}

func registerBody(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

func (e *env) register(email, password string) response {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: "/v1/users", body: registerBody(email, password)})
}

func (e *env) activate(email, password, code string) response {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"code": code})
	return e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: string(body), header: basic(email, password)})
}

func (e *env) resend(email, password string) response {
	e.t.Helper()
	return e.do(request{method: http.MethodPost, path: "/v1/users/activation-code", header: basic(email, password)})
}

func (e *env) me(email, password string) response {
	e.t.Helper()
	return e.do(request{method: http.MethodGet, path: "/v1/users/me", header: basic(email, password)})
}

// mails returns the verification emails in the outbox for addr, oldest first.
func (e *env) mails(addr string) []*registrationv1.VerificationEmail {
	e.t.Helper()
	var out []*registrationv1.VerificationEmail
	for _, m := range e.store.Pending() {
		if m.GetTopic() != registrationv1.MailTopic {
			continue
		}
		var v registrationv1.VerificationEmail
		require.NoError(e.t, proto.Unmarshal(m.GetPayload(), &v))
		if v.GetTo() == addr {
			out = append(out, &v)
		}
	}
	return out
}

// code returns the newest code sent to addr, and marks it secret.
func (e *env) code(addr string) string {
	e.t.Helper()
	mails := e.mails(addr)
	require.NotEmpty(e.t, mails, "no email to %s", addr)
	return e.secret(mails[len(mails)-1].GetCode())
}

func wrongCode(code string) string {
	if code == "9999" {
		return "0000"
	}
	return "9999"
}

// pending registers addr and returns its password and code.
func (e *env) pending(addr string) (string, string) {
	e.t.Helper()
	pw := e.secret("Tr0ub4dor&3-" + addr)
	r := e.register(addr, pw)
	require.Equal(e.t, http.StatusCreated, r.status, r.raw)
	return pw, e.code(addr)
}

// active registers and activates addr and returns its password.
func (e *env) active(addr string) string {
	e.t.Helper()
	pw, code := e.pending(addr)
	r := e.activate(addr, pw, code)
	require.Equal(e.t, http.StatusOK, r.status, r.raw)
	return pw
}
