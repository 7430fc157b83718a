package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A template error would otherwise surface at the end of a 25-minute run.
func TestReportRendersEveryFigure(t *testing.T) {
	t.Chdir("../../..") // the template and bench.txt are named from the repository's root
	cpu := &cpuUse{WallSeconds: 30, Cores: 2, Busy: 58, Other: 1,
		ByProcess: map[string]float64{"registrar": 51, "k6 (load generator)": 2, "Mailpit (test mail server)": 4}}
	stack := func(name string) *stackResult {
		return &stackResult{
			Name:          name,
			Ceiling:       ceiling{HashesPerSecond: 100, HashMillis: 17, Params: "argon2id m=19456KiB t=2 p=1"},
			Registrations: rate{Count: 2400, Seconds: 30, PerSecond: 80, OfCeiling: 0.8},
			CPU:           cpu,
			Activations:   rate{PerSecond: 91, OfCeiling: 0.91},
			HalfLoad: halfLoad{Rate: 50, TargetP99: 51, Latency: percentiles{P50: 20, P95: 30, P99: 40},
				InboxFromRequest: percentiles{Count: 1500, P50: 25, P99: 250}, InboxFrom201: percentiles{P50: 2, P99: 15}},
			Flow: &flow{Rate: 25, Journeys: 750, P50: 140, P99: 230, Checks: 1},
		}
	}
	res := results{Date: "2026-11-23", Machine: machine{CPU: "test CPU", Cores: 2}, Embedded: stack("embedded"), FullStack: stack("full")}
	res.Embedded.CheapHash = &cheap{Rate: rate{PerSecond: 1600}, RegistrarMillis: 0.7, ProfileTop: "flat flat%"}
	res.Embedded.Memory = &memory{Registrations: 100_000, PerRegistration: 742, RSS: 300 << 20, BaselineRSS: 60 << 20}
	res.Embedded.Overload = &overload{Rate: 400, ShedShare: 0.82, AcceptedP99: 346, Survived: true}

	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	require.NoError(t, writeReport(path, res))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(raw)
	for _, want := range []string{
		"80.0 = **0.80** of the ceiling",
		"(0.94 of the ceiling scaled to the registrar's share of the CPU)", // 80 / (100 × 51/30/2)
		"≥ 0.90: **missed**", "≥ 0.90: met",                                // registrations miss, activations meet
		"**742 bytes**", "< 1 KB: met",
		"p99 < 200 ms: **missed**",
		"0.70 ms = **4.1 % of one hash**",
		"| registrar | 51.0 | 85.0 % |",
		"user journeys at 25/s",
		"82.0 % shed as 503",
	} {
		assert.Contains(t, doc, want)
	}
	assert.NotContains(t, doc, "<no value>")
	assert.NotContains(t, doc, "\n\n\n", "runs of blank lines are collapsed")
}

func TestRequestTimesReadK6Samples(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.json")
	lines := []string{
		`{"type":"Metric","metric":"http_req_duration","data":{}}`,
		`{"type":"Point","metric":"http_req_duration","data":{"time":"2026-11-23T10:00:00.100Z","value":40,"tags":{"email":"a@load.test","status":"201"}}}`,
		`{"type":"Point","metric":"http_req_duration","data":{"time":"2026-11-23T10:00:00.200Z","value":5,"tags":{"email":"b@load.test","status":"503"}}}`,
		`{"type":"Point","metric":"http_reqs","data":{"time":"2026-11-23T10:00:00.100Z","value":1,"tags":{"email":"a@load.test","status":"201"}}}`,
	}
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600))
	times, err := requestTimes(path)
	require.NoError(t, err)
	require.Len(t, times, 1, "only 201 answers of http_req_duration")
	answered := time.Date(2026, 11, 23, 10, 0, 0, 100e6, time.UTC)
	assert.Equal(t, [2]time.Time{answered.Add(-40 * time.Millisecond), answered}, times["a@load.test"])
}
