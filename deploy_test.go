package registrar_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
)

// TestPrometheusRules checks deploy/prometheus/alerts.yml with promtool and
// runs its unit tests (each alert fires on what should fire it, and not on
// healthy series). The metrics they query are checked against what the
// binaries expose in e2e (TestStackMetricsExposition).
func TestPrometheusRules(t *testing.T) {
	promtool := testkit.Tool(t, "TEST_PROMTOOL", "promtool")
	for _, args := range [][]string{
		{"check", "rules", "deploy/prometheus/alerts.yml"},
		{"test", "rules", "deploy/prometheus/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}

func TestGrafanaDashboardIsValidJSON(t *testing.T) {
	raw, err := os.ReadFile("deploy/grafana/registrar.json")
	require.NoError(t, err)
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	require.NotEmpty(t, d.UID)
	require.NotEmpty(t, d.Panels)
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, target := range p.Targets {
			require.NotEmpty(t, target.Expr, p.Title)
		}
	}
}
