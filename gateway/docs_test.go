package gateway_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDocsPageLoadsOnlyFromThisServer(t *testing.T) {
	e := newEnv(t, options{})
	page := e.do(request{method: http.MethodGet, path: "/docs"})
	require.Equal(t, http.StatusOK, page.status)
	assert.Equal(t, "text/html; charset=utf-8", page.header.Get("Content-Type"))
	csp := page.header.Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "script-src 'self'")
	assert.NotContains(t, page.raw, "//", "no absolute or protocol-relative URL: nothing from another host")
	src := regexp.MustCompile(`<script src="([^"]+)"`).FindStringSubmatch(page.raw)
	require.Len(t, src, 2)
	assert.Contains(t, page.raw, `spec-url="/openapi.json"`)

	js := e.do(request{method: http.MethodGet, path: src[1]})
	require.Equal(t, http.StatusOK, js.status)
	assert.Equal(t, "text/javascript; charset=utf-8", js.header.Get("Content-Type"))
	assert.Greater(t, len(js.raw), 500_000, "the renderer itself, not a loader")
	etag := js.header.Get("ETag")
	require.NotEmpty(t, etag)
	again := e.do(request{method: http.MethodGet, path: src[1], header: map[string]string{"If-None-Match": etag}})
	assert.Equal(t, http.StatusNotModified, again.status)
}

// The embedded bundle is the one scripts/docs-assets.sh fetched and checked
// against the npm registry's integrity.
func TestDocsBundleIsThePinnedOne(t *testing.T) {
	sums, err := os.ReadFile("docs/SHA256SUMS")
	require.NoError(t, err)
	want, _, _ := strings.Cut(string(sums), " ")
	js, err := os.ReadFile("docs/redoc.standalone.js")
	require.NoError(t, err)
	sum := sha256.Sum256(js)
	assert.Equal(t, want, hex.EncodeToString(sum[:]), "gateway/docs/redoc.standalone.js changed: run make docs-assets")
}
