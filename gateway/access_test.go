package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/gateway"
)

// lines are the server's log records with the given message.
func (e *env) lines(msg string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(e.t, json.Unmarshal(sc.Bytes(), &rec))
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func TestRequestID(t *testing.T) {
	e := newEnv(t, options{accessLog: true})
	for name, tc := range map[string]struct {
		sent string
		kept bool
	}{
		"a sane id is kept":              {sent: "0b5f2c1e-8a3d-4e1f-9c2b-7d6e5f4a3b2c", kept: true},
		"a W3C traceparent is kept":      {sent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", kept: true},
		"one that could forge log lines": {sent: `x" level=ERROR msg="forged`},
		"one too long":                   {sent: strings.Repeat("a", 129)},
		"none":                           {},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do(request{method: http.MethodGet, path: "/v1/users/me", header: map[string]string{gateway.HeaderRequestID: tc.sent}})
			got := r.header.Get(gateway.HeaderRequestID)
			if tc.kept {
				assert.Equal(t, tc.sent, got)
			} else {
				assert.Regexp(t, `^[0-9a-f]{32}$`, got, "a fresh id")
			}
			logged := e.lines("request")
			require.NotEmpty(t, logged)
			assert.Equal(t, got, logged[len(logged)-1]["request_id"], "the access log line carries the echoed id")
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Run("one line per answer, no header", func(t *testing.T) {
		e := newEnv(t, options{accessLog: true})
		pw := e.active("ann@example.com")
		r := e.me("ann@example.com", pw)
		require.Equal(t, http.StatusOK, r.status)
		logged := e.lines("request")
		require.Len(t, logged, 3, "register, activate, me")
		last := logged[2]
		assert.Equal(t, "GET", last["method"])
		assert.Equal(t, "/v1/users/me", last["route"])
		assert.EqualValues(t, 200, last["status"])
		assert.Contains(t, last, "duration")
		assert.Contains(t, last, "client_ip")
		assert.Equal(t, r.header.Get(gateway.HeaderRequestID), last["request_id"])
		assert.NotContains(t, e.logs.String(), "Basic ", "the Authorization header is never logged")
		assert.NotContains(t, e.logs.String(), "ann@example.com", "nor the email")
	})
	t.Run("off: only server errors are logged", func(t *testing.T) {
		e := newEnv(t, options{})
		e.hasher.overloaded.Store(true)
		require.Equal(t, http.StatusServiceUnavailable, e.register("bob@example.com", "correct horse battery staple").status)
		e.do(request{method: http.MethodGet, path: "/healthz"})
		logged := e.lines("request")
		require.Len(t, logged, 1)
		assert.EqualValues(t, 503, logged[0]["status"])
		assert.Equal(t, "WARN", logged[0]["level"])
	})
}

// Every answer is counted under the route it was for, also those given
// before routing: fasthttp's 413, the media-type guard's 415, the per-IP
// limit's 429, and a path spelled in other case or with a trailing slash.
func TestEveryAnswerIsCountedUnderItsRoute(t *testing.T) {
	e := newEnv(t, options{accessLog: true})
	big := e.sendHeaders(request{method: http.MethodPost, path: "/v1/users",
		header: map[string]string{"Content-Type": "application/json", "Content-Length": fmt.Sprint(1 << 20)}})
	require.Equal(t, http.StatusRequestEntityTooLarge, big.status)
	wrongType := e.do(request{method: http.MethodPost, path: "/v1/users", body: "email=a", header: map[string]string{"Content-Type": "text/plain"}})
	require.Equal(t, http.StatusUnsupportedMediaType, wrongType.status)
	e.do(request{method: http.MethodGet, path: "/V1/Users/Me/"})

	m := e.do(request{method: http.MethodGet, path: "/metrics"}).raw
	assert.Contains(t, m, `http_requests_total{method="POST",route="/v1/users",status="413"} 1`)
	assert.Contains(t, m, `http_requests_total{method="POST",route="/v1/users",status="415"} 1`)
	assert.Contains(t, m, `http_requests_total{method="GET",route="/v1/users/me",status="401"} 1`)
	statuses := map[float64]bool{}
	for _, l := range e.lines("request") {
		statuses[l["status"].(float64)] = true
		assert.NotEmpty(t, l["request_id"])
	}
	assert.True(t, statuses[413], "the 413 is in the access log too")
}

func TestMetricsMediaTypeIsTheDocumented(t *testing.T) {
	e := newEnv(t, options{})
	served := e.do(request{method: http.MethodGet, path: "/metrics"}).header.Get("Content-Type")
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]json.RawMessage `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(e.do(request{method: http.MethodGet, path: "/openapi.json"}).raw), &doc))
	content := doc.Paths["/metrics"]["get"].Responses["200"].Content
	assert.Contains(t, content, served, "the OpenAPI document declares the media type /metrics is served with")
	assert.Len(t, content, 1)
}
