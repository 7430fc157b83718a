package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
)

// TestDocsRenderOffline loads /docs of the real binary in a real headless
// browser whose network reaches nothing but the service (every other host
// fails to resolve), and finds every operation of the OpenAPI document
// rendered. A renderer loaded from a CDN leaves the page blank here.
func TestDocsRenderOffline(t *testing.T) {
	chromium := testkit.Tool(t, "TEST_CHROMIUM", "chromium")
	p := start(t, "registrar", "DATABASE_URL=sqlite:"+t.TempDir()+"/registrar.db")

	res, err := http.Get(p.base + "/openapi.json")
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string `json:"summary"`
		} `json:"paths"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&doc))
	_ = res.Body.Close()
	var summaries []string
	for _, ops := range doc.Paths {
		for _, op := range ops {
			summaries = append(summaries, op.Summary)
		}
	}
	require.GreaterOrEqual(t, len(summaries), 7)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(),
		"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", // no other host exists
		"--virtual-time-budget=30000",                              // let the page's scripts run to completion
		"--dump-dom", p.base+"/docs")
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())

	var headings []string
	tags := regexp.MustCompile(`<[^>]+>`)
	for _, h := range regexp.MustCompile(`(?s)<h2[^>]*>(.*?)</h2>`).FindAllStringSubmatch(string(dom), -1) {
		headings = append(headings, strings.TrimSpace(tags.ReplaceAllString(h[1], "")))
	}
	for _, s := range summaries {
		assert.Contains(t, headings, s, "operation %q rendered", s)
	}
	assert.NotContains(t, stderr.String(), "Content Security Policy", "the page loaded nothing it may not")
}
