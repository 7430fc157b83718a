package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/gateway"
)

func TestHealthAndReadiness(t *testing.T) {
	var dbDown bool
	e := newEnv(t, options{ready: []gateway.Check{{Name: "database", Probe: func(context.Context) error {
		if dbDown {
			return errors.New("connection refused")
		}
		return nil
	}}}})
	assert.Equal(t, http.StatusOK, e.do(request{method: http.MethodGet, path: "/healthz"}).status)

	r := e.do(request{method: http.MethodGet, path: "/readyz"})
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, map[string]any{"status": "ready", "checks": map[string]any{"database": "ok"}}, r.body)

	dbDown = true
	r = e.do(request{method: http.MethodGet, path: "/readyz"})
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Contains(t, r.body["detail"], "database")
	assert.NotContains(t, r.raw, "connection refused", "probe errors go to the log, not to clients")
	assert.Equal(t, http.StatusOK, e.do(request{method: http.MethodGet, path: "/healthz"}).status, "liveness does not depend on the database")
	r = e.do(request{method: http.MethodGet, path: "/readyz?exclude=database"})
	assert.Equal(t, http.StatusOK, r.status, "an excluded check does not fail readiness")
	assert.Equal(t, map[string]any{"status": "ready", "checks": map[string]any{"database": "failing, excluded"}}, r.body)
	r = e.do(request{method: http.MethodGet, path: "/readyz?exclude=databse"})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, r.body["detail"], "databse")
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, options{})
	e.do(request{method: http.MethodGet, path: "/v1/users/me"})
	r := e.do(request{method: http.MethodGet, path: "/metrics"})
	require.Equal(t, http.StatusOK, r.status)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4"), r.header.Get("Content-Type"))
	assert.Contains(t, r.raw, `http_requests_total{method="GET",route="/v1/users/me",status="401"} 1`)
	assert.Contains(t, r.raw, "# TYPE http_request_duration_seconds histogram")
}

func TestOpenAPIDocument(t *testing.T) {
	e := newEnv(t, options{})
	r := e.do(request{method: http.MethodGet, path: "/openapi.json"})
	require.Equal(t, http.StatusOK, r.status)
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			SecuritySchemes map[string]map[string]any  `json:"securitySchemes"`
			Schemas         map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
		Paths map[string]map[string]struct {
			Security  []map[string][]string      `json:"security"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.raw), &doc))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"), doc.OpenAPI)
	assert.Equal(t, map[string]any{"type": "http", "scheme": "basic", "description": "The account's email and password."},
		doc.Components.SecuritySchemes["basicAuth"])

	authed := map[string]string{"/v1/users/activate": "post", "/v1/users/activation-code": "post", "/v1/users/me": "get"}
	for path, method := range authed {
		op, ok := doc.Paths[path][method]
		require.True(t, ok, "%s %s documented", method, path)
		assert.Equal(t, []map[string][]string{{"basicAuth": {}}}, op.Security, path)
		assert.Contains(t, op.Responses, "401", path)
	}
	register := doc.Paths["/v1/users"]["post"]
	assert.Empty(t, register.Security, "registration needs no credentials")
	for _, status := range []string{"201", "400", "409", "413", "415", "422", "429", "503"} {
		assert.Contains(t, register.Responses, status, "register documents %s", status)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		assert.Contains(t, doc.Paths, path)
	}
	assert.Contains(t, string(doc.Components.Schemas["Problem"]), `"attempts_remaining"`)

	// Every answer's headers are documented where it is: Retry-After on
	// each 429 and 503, WWW-Authenticate on each 401, Location on the 201.
	answers := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			for status, raw := range op.Responses {
				var resp struct {
					Headers map[string]json.RawMessage `json:"headers"`
				}
				require.NoError(t, json.Unmarshal(raw, &resp))
				want := map[string]string{"429": "Retry-After", "503": "Retry-After", "401": "WWW-Authenticate"}[status]
				if path == "/v1/users" && status == "201" {
					want = "Location"
				}
				if want != "" {
					answers++
					assert.Contains(t, resp.Headers, want, "%s %s %s", method, path, status)
				}
			}
		}
	}
	assert.GreaterOrEqual(t, answers, 12, "the 401s, 429s and 503s of every operation")
	resend := doc.Paths["/v1/users/activation-code"]["post"]
	for _, status := range []string{"413", "415"} {
		assert.Contains(t, resend.Responses, status, "a body it ignores is still refused: documented")
	}
	assert.Contains(t, r.raw, "application/problem+json")

	y := e.do(request{method: http.MethodGet, path: "/openapi.yaml"})
	assert.Equal(t, http.StatusOK, y.status)
	assert.Contains(t, y.raw, "openapi: 3.1")

	d := e.do(request{method: http.MethodGet, path: "/docs"})
	assert.Equal(t, http.StatusOK, d.status)
	assert.Contains(t, d.header.Get("Content-Type"), "text/html")
	assert.Contains(t, d.raw, "/openapi")
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	e := newEnv(t, options{})
	r := e.do(request{method: http.MethodGet, path: "/v2/nothing"})
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.Equal(t, "not_found", r.code())
}

var validPath = regexp.MustCompile(`^/v1/users[A-Za-z0-9/._~-]*$`)

// FuzzNoServerErrors throws arbitrary bodies and headers at every /v1
// operation: whatever comes in, the answer is a 4xx or a success, never a 500.
func FuzzNoServerErrors(f *testing.F) {
	f.Add("/v1/users", `{"email":"a@example.com","password":"correct horse battery"}`, "Basic YUBleGFtcGxlLmNvbTp4", "application/json")
	f.Add("/v1/users/activate", `{"code":"0000"}`, "Basic YUBleGFtcGxlLmNvbTp4", "application/json")
	f.Add("/v1/users/activation-code", ``, "Basic \x00", "")
	f.Add("/v1/users", `{"email":"\u0000@\u00ff.com","password":1e999}`, "", "application/json; charset=latin1")
	f.Add("/v1/users", `{"email":"a@b.c","password":"`+strings.Repeat("é", 200)+`"}`, "", "application/json")
	f.Add("/v1/users", `{"email":"a@example.com","EMAIL":"b@example.com","email":"c","password":"\ud800x"}`, "", "application/json")
	f.Add("/v1/users/activate", "{\"code\":\"\xff12\",\"c\\u006fde\":[{\"a\":1,\"a\":2}]}", "Basic YUBleGFtcGxlLmNvbTp4", "application/json")
	f.Fuzz(func(t *testing.T, path, body, auth, contentType string) {
		if !validPath.MatchString(path) {
			return
		}
		// Header values with control characters cannot be sent by an HTTP
		// client; fasthttp refuses them before any of our code runs.
		invalid := func(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }
		if strings.ContainsFunc(auth, invalid) || strings.ContainsFunc(contentType, invalid) {
			return
		}
		e := newEnv(t, options{})
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			r := e.do(request{method: method, path: path, body: body,
				header: map[string]string{"Authorization": auth, "Content-Type": contentType}})
			if r.status >= 500 && r.status != http.StatusServiceUnavailable {
				t.Fatalf("%s %s answered %d: %s", method, path, r.status, r.raw)
			}
		}
	})
}
