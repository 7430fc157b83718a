package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Regression tests of what an attacker and a careless client found
// (docs/SECURITY.md, "Hardening").

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestContentEncodingOnEveryLine(t *testing.T) {
	e := newEnv(t, options{})
	valid := gzipped(t, []byte(registerBody("ann@example.com", e.secret("correct horse battery staple"))))

	t.Run("a coding on any line is refused, whatever the other lines say", func(t *testing.T) {
		for name, lines := range map[string][][2]string{
			"identity then gzip": {{"Content-Encoding", "identity"}, {"Content-Encoding", "gzip"}},
			"gzip then identity": {{"Content-Encoding", "gzip"}, {"Content-Encoding", "identity"}},
			"empty then gzip":    {{"Content-Encoding", ""}, {"Content-Encoding", "gzip"}},
			"in a list":          {{"Content-Encoding", "identity, gzip"}},
			"lower-case name":    {{"content-encoding", "identity"}, {"content-encoding", "deflate"}},
		} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: string(valid), lines: lines})
			assert.Equal(t, http.StatusUnsupportedMediaType, r.status, name)
			assert.Equal(t, "unsupported_media_type", r.code(), name)
		}
		assert.Empty(t, e.mails("ann@example.com"), "nothing was registered")
	})

	t.Run("the path's case does not route around the guard", func(t *testing.T) {
		r := e.do(request{method: http.MethodPost, path: "/V1/USERS", body: string(valid),
			lines: [][2]string{{"Content-Encoding", "identity"}, {"Content-Encoding", "gzip"}}})
		assert.Equal(t, http.StatusUnsupportedMediaType, r.status, r.raw)
	})

	t.Run("identity on every line is the body as sent", func(t *testing.T) {
		r := e.do(request{method: http.MethodPost, path: "/v1/users",
			body:  registerBody("bob@example.com", e.secret("correct horse battery staple")),
			lines: [][2]string{{"Content-Encoding", "identity"}, {"Content-Encoding", ""}}})
		assert.Equal(t, http.StatusCreated, r.status, r.raw)
	})

	t.Run("a decompression bomb is never inflated: memory stays flat", func(t *testing.T) {
		// 1.8 KB that inflates twice to 1 GiB of spaces (made once, with
		// Python's zlib: compressing 1 GiB under the race detector is slow).
		bomb, err := os.ReadFile("testdata/bomb.gz.gz")
		require.NoError(t, err)
		require.Less(t, len(bomb), 64*1024)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, lines := range [][][2]string{
			{{"Content-Encoding", "identity"}, {"Content-Encoding", "gzip"}},
			{{"Content-Encoding", ""}, {"Content-Encoding", "gzip, gzip"}},
		} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: string(bomb), lines: lines})
			assert.Equal(t, http.StatusUnsupportedMediaType, r.status)
		}
		runtime.ReadMemStats(&after)
		allocated := after.TotalAlloc - before.TotalAlloc
		assert.Less(t, allocated, uint64(16<<20), "bytes allocated while answering two bombs")
	})
}

// recordingLimiter allows everything and remembers the keys it was asked.
type recordingLimiter struct {
	mu   sync.Mutex
	keys []string
}

func (l *recordingLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	return true, 0, nil
}

func (l *recordingLimiter) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys[len(l.keys)-1]
}

func TestClientIPBehindProxies(t *testing.T) {
	// In-process requests come from 0.0.0.0: that is "the proxy" here.
	proxies := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32"), netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name  string
		lines [][2]string
		want  string
	}{
		{"no header: the peer", nil, "0.0.0.0"},
		{"the proxy's own line beats the client's line before it",
			[][2]string{{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "198.51.100.7"}}, "198.51.100.7"},
		{"the right-most entry of one line",
			[][2]string{{"X-Forwarded-For", "203.0.113.9, 198.51.100.7"}}, "198.51.100.7"},
		{"trusted hops are skipped across lines",
			[][2]string{{"X-Forwarded-For", "203.0.113.9"}, {"X-Forwarded-For", "198.51.100.7, 10.1.2.3"}, {"x-forwarded-for", "10.9.9.9"}}, "198.51.100.7"},
		{"an entry with a port", [][2]string{{"X-Forwarded-For", "198.51.100.7:4711"}}, "198.51.100.7"},
		{"IPv6, mapped IPv4 unmapped", [][2]string{{"X-Forwarded-For", "::ffff:198.51.100.7"}}, "198.51.100.7"},
		{"garbage right of the client: the nearest trusted hop",
			[][2]string{{"X-Forwarded-For", "198.51.100.7, not-an-ip"}}, "0.0.0.0"},
		{"only trusted hops: the left-most of them",
			[][2]string{{"X-Forwarded-For", "10.0.0.1, 10.0.0.2"}}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &recordingLimiter{}
			e := newEnv(t, options{limiter: l, trusted: proxies, proxyHeader: "X-Forwarded-For"})
			e.do(request{method: http.MethodGet, path: "/v1/users/me", lines: tt.lines})
			assert.Equal(t, tt.want, l.last())
		})
	}

	t.Run("a peer that is no trusted proxy is not believed", func(t *testing.T) {
		l := &recordingLimiter{}
		e := newEnv(t, options{limiter: l, trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, proxyHeader: "X-Forwarded-For"})
		e.do(request{method: http.MethodGet, path: "/v1/users/me", lines: [][2]string{{"X-Forwarded-For", "198.51.100.7"}}})
		assert.Equal(t, "0.0.0.0", l.last())
	})
}

func TestJSONKeysMatchExactly(t *testing.T) {
	e := newEnv(t, options{})
	pw := e.secret("correct horse battery staple")
	other := e.secret("another horse battery staple")

	t.Run("a key in another case is an unexpected property", func(t *testing.T) {
		for _, body := range []string{
			`{"EMAIL":"ann@example.com","password":"` + pw + `"}`,
			`{"email":"ann@example.com","Password":"` + pw + `"}`,
			`{"email":"ann@example.com","Email":"bob@example.com","password":"` + pw + `"}`,
		} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: body})
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, body)
			assert.Equal(t, "invalid_request", r.code(), body)
		}
		assert.Empty(t, e.mails("ann@example.com"))
		assert.Empty(t, e.mails("bob@example.com"))
	})

	t.Run("a duplicated key is malformed, escaped or not, at any depth", func(t *testing.T) {
		for _, body := range []string{
			`{"email":"ann@example.com","email":"bob@example.com","password":"` + pw + `"}`,
			`{"email":"ann@example.com","password":"` + pw + `","password":"` + other + `"}`,
			`{"email":"ann@example.com","\u0065mail":"bob@example.com","password":"` + pw + `"}`,
			`{"email":"ann@example.com","password":"` + pw + `","x":[{"a":1,"a":2}]}`,
		} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: body})
			assert.Equal(t, http.StatusBadRequest, r.status, body)
			assert.Equal(t, "malformed_request", r.code(), body)
		}
		assert.Empty(t, e.mails("ann@example.com"))
		assert.Empty(t, e.mails("bob@example.com"))
	})

	t.Run("the same key in sibling objects is no duplicate", func(t *testing.T) {
		r := e.do(request{method: http.MethodPost, path: "/v1/users",
			body: `{"email":"cid@example.com","password":"` + pw + `","x":[{"a":1},{"a":2}]}`})
		assert.Equal(t, http.StatusUnprocessableEntity, r.status, "x is extra, but the body is well-formed")
		assert.Equal(t, "invalid_request", r.code())
	})

	t.Run("activate: CODE is no guess and counts no attempt", func(t *testing.T) {
		pw, code := e.pending("dan@example.com")
		for _, body := range []string{`{"CODE":"` + wrongCode(code) + `"}`, `{"code":"` + wrongCode(code) + `","Code":"0000"}`} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: body, header: basic("dan@example.com", pw)})
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, body)
		}
		r := e.do(request{method: http.MethodPost, path: "/v1/users/activate",
			body: `{"code":"` + wrongCode(code) + `","code":"` + wrongCode(code) + `"}`, header: basic("dan@example.com", pw)})
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "malformed_request", r.code())
		r = e.activate("dan@example.com", pw, wrongCode(code))
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.EqualValues(t, 2, r.body["attempts_remaining"], "only this guess counted")
	})
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	e := newEnv(t, options{})

	t.Run("raw invalid bytes and lone surrogates anywhere in a body are malformed", func(t *testing.T) {
		for name, body := range map[string]string{
			"in the password":       "{\"email\":\"ann@example.com\",\"password\":\"\xff\xfe\xfdabcdefghij\"}",
			"in the email":          "{\"email\":\"ann\xc0@example.com\",\"password\":\"abcdefghijkl-1\"}",
			"in an extra key":       "{\"email\":\"ann@example.com\",\"password\":\"abcdefghijkl-1\",\"\xff\":1}",
			"a lone high surrogate": `{"email":"ann@example.com","password":"abc\ud800defghijkl"}`,
			"a lone low surrogate":  `{"email":"ann@example.com","password":"abc\udc00defghijkl"}`,
			"a reversed pair":       `{"email":"ann@example.com","password":"abc\udc00\ud800defghijkl"}`,
		} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: body})
			assert.Equal(t, http.StatusBadRequest, r.status, name)
			assert.Equal(t, "malformed_request", r.code(), name)
			assert.NotContains(t, r.raw, "abcdefghij", name)
		}
		assert.Empty(t, e.mails("ann@example.com"))
	})

	t.Run("a surrogate pair is a character like any other", func(t *testing.T) {
		pw := `grinning \ud83d\ude00 horse battery` // JSON's escapes
		r := e.do(request{method: http.MethodPost, path: "/v1/users", body: `{"email":"bob@example.com","password":"` + pw + `"}`})
		require.Equal(t, http.StatusCreated, r.status, r.raw)
		code := e.code("bob@example.com")
		r = e.activate("bob@example.com", "grinning \U0001F600 horse battery", code)
		assert.Equal(t, http.StatusOK, r.status, r.raw)
	})

	t.Run("invalid UTF-8 in Basic credentials is the uniform 401", func(t *testing.T) {
		pw, _ := e.pending("cid@example.com")
		for _, creds := range []string{"cid@example.com:\xff\xfe\xfd" + pw, "cid\xff@example.com:" + pw} {
			r := e.do(request{method: http.MethodGet, path: "/v1/users/me",
				header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(creds))}})
			assert.Equal(t, http.StatusUnauthorized, r.status)
			assert.Equal(t, "invalid_credentials", r.code())
		}
	})
}

func TestAStrangerCannotLockTheOwnerOut(t *testing.T) {
	e := newEnv(t, options{trusted: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}, proxyHeader: "X-Forwarded-For"})
	from := func(ip string) [][2]string { return [][2]string{{"X-Forwarded-For", ip}} }
	me := func(pw, ip string) response {
		return e.do(request{method: http.MethodGet, path: "/v1/users/me", header: basic("own@example.com", pw), lines: from(ip)})
	}
	pw := e.active("own@example.com")
	require.Equal(t, http.StatusOK, me(pw, "198.51.100.7").status, "the owner signs in from home")

	for range 30 { // a stranger, failing from elsewhere at every opening
		if r := me(e.secret("guess-guess-guess"), "203.0.113.66"); r.status == http.StatusTooManyRequests {
			wait, err := time.ParseDuration(r.header.Get("Retry-After") + "s")
			require.NoError(t, err)
			require.LessOrEqual(t, wait, 15*time.Minute)
			e.clock.Advance(wait)
		}
	}
	assert.Equal(t, http.StatusTooManyRequests, me(pw, "203.0.113.66").status, "the stranger's network is held back")
	assert.Equal(t, http.StatusOK, me(pw, "198.51.100.99").status, "the owner's network is not")
}

func TestPerIPLimitKeys(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}
	for _, tt := range []struct{ hop, want string }{
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"fe80::1%\xff", "fe80::/64"},
		{"198.51.100.7", "198.51.100.7"},
	} {
		l := &recordingLimiter{}
		e := newEnv(t, options{limiter: l, trusted: proxies, proxyHeader: "X-Forwarded-For"})
		e.do(request{method: http.MethodGet, path: "/v1/users/me", lines: [][2]string{{"X-Forwarded-For", tt.hop}}})
		assert.Equal(t, tt.want, l.last(), "an IPv6 subscriber's /64 is one client; zones are dropped")
	}
}

func TestMediaTypeMatchesInAnyCase(t *testing.T) {
	e := newEnv(t, options{})
	for i, ct := range []string{"APPLICATION/JSON", "Application/Json; charset=utf-8", "application/json ;charset=UTF-8"} {
		r := e.do(request{method: http.MethodPost, path: "/v1/users",
			body:   registerBody(fmt.Sprintf("case%d@example.com", i), e.secret("correct horse battery staple")),
			header: map[string]string{"Content-Type": ct}})
		assert.Equal(t, http.StatusCreated, r.status, "%s: %s", ct, r.raw)
	}
}

func TestAmbiguousFramingIsRefusedAndTheConnectionClosed(t *testing.T) {
	e := newEnv(t, options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.srv.Serve(ln) }()
	t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	smuggled := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	body := "0\r\n\r\n" + smuggled
	_, err = fmt.Fprintf(conn, "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s", len(body), body)
	require.NoError(t, err)
	rd := bufio.NewReader(conn)
	res, err := http.ReadResponse(rd, nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	_, err = http.ReadResponse(rd, nil)
	assert.Error(t, err, "no second answer: the connection is closed")
}

func TestATrailerIsNoProxyLine(t *testing.T) {
	l := &recordingLimiter{}
	e := newEnv(t, options{limiter: l, trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, proxyHeader: "X-Client-IP"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = e.srv.Serve(ln) }()
	t.Cleanup(func() { _ = e.srv.Shutdown(context.Background()) })
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprint(conn, "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"X-Client-IP: 198.51.100.7\r\nTransfer-Encoding: chunked\r\nTrailer: X-Client-IP\r\n\r\n"+
		"2\r\n{}\r\n0\r\nX-Client-IP: 203.0.113.99\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, "198.51.100.7", l.last())
}

func TestActivateAnswersABadBodyAfterTheCredentials(t *testing.T) {
	e := newEnv(t, options{})
	pw, code := e.pending("ord@example.com")
	activate := func(pw, body string) response {
		return e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: body, header: basic("ord@example.com", pw)})
	}
	bodies := []string{`{"CODE":"1234"}`, `not json`, `{"code":1234}`, `{"code":"1","code":"2"}`, `[]`}
	for _, body := range bodies {
		assert.Equal(t, http.StatusUnauthorized, activate(e.secret("wrong-password-x"), body).status, "a wrong password first: %s", body)
		assert.Equal(t, http.StatusUnauthorized, e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: body,
			header: basic("nobody@example.com", pw)}).status, "an unknown email first: %s", body)
	}
	for body, want := range map[string]int{`{"CODE":"1234"}`: 422, `not json`: 400, `{"code":1234}`: 422, `{"code":"1","code":"2"}`: 400, `[]`: 422, `{}`: 422, ``: 400} {
		assert.Equal(t, want, activate(pw, body).status, "the right password, then the body: %q", body)
	}
	r := e.activate("ord@example.com", pw, wrongCode(code))
	assert.EqualValues(t, 2, r.body["attempts_remaining"], "no bad body counted a guess")

	for range 10 { // the right password above cleared the earlier ones
		e.me("ord@example.com", e.secret("wrong-password-y"))
	}
	assert.Equal(t, http.StatusTooManyRequests, activate(pw, `not json`).status, "the throttle before the body")

	act := e.active("act@example.com")
	assert.Equal(t, http.StatusConflict, e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: `not json`,
		header: basic("act@example.com", act)}).status, "already active before the body")
}

func TestHeadAnswersLikeGetWithoutABody(t *testing.T) {
	e := newEnv(t, options{accessLog: true})
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/openapi.json": http.StatusOK, "/v1/users/me": http.StatusUnauthorized} {
		get := e.do(request{method: http.MethodGet, path: path})
		head := e.do(request{method: http.MethodHead, path: path})
		assert.Equal(t, want, head.status, path)
		assert.Equal(t, get.header.Get("Content-Type"), head.header.Get("Content-Type"), path)
		assert.Empty(t, head.raw, "%s: a HEAD answer has no body", path)
	}
	assert.Contains(t, e.logs.String(), `"method":"HEAD"`, "logged as the HEAD it was")
	assert.Equal(t, http.StatusMethodNotAllowed, e.do(request{method: http.MethodHead, path: "/v1/users"}).status, "no GET there, no HEAD")
}

func TestOverlongHeadersHaveTheirOwnCode(t *testing.T) {
	e := newEnv(t, options{})
	r := e.sendHeaders(request{method: http.MethodGet, path: "/healthz", header: map[string]string{"X-Long": strings.Repeat("a", 10000)}})
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, r.status)
	assert.Equal(t, "headers_too_large", r.body["code"], r.raw)
}

func TestAnUnknownMethodIsAProblemToo(t *testing.T) {
	e := newEnv(t, options{})
	for _, method := range []string{"PRI", "BREW"} { // PRI: an HTTP/2 preface
		r := e.do(request{method: method, path: "/v1/users"})
		assert.Equal(t, http.StatusBadRequest, r.status, method)
		assert.Equal(t, "malformed_request", r.body["code"], r.raw)
		assert.Contains(t, r.raw, "HTTP/1.1 only")
	}
}
