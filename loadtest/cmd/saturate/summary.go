package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// stacks and scenarios are the files scripts/bench-stack.sh writes:
// <stack>-<scenario>-<run>.json.
var stacks = []string{"embedded", "full"}

// row is one line of the summary: a figure per stack, each a function of
// one scenario's result, and the target.
type row struct {
	name, scenario string
	figure         func(*result) (float64, bool)
	format         string
	target         [2]string
}

var rows = []row{
	{"registrations/s ÷ hash ceiling", "saturation", func(r *result) (float64, bool) { return r.Register.OfCeiling, true }, "%.2f", [2]string{"≥ 0.90", "≥ 0.85"}},
	{"activations/s ÷ hash ceiling", "saturation", func(r *result) (float64, bool) {
		return ratio(r.Activate)
	}, "%.2f", [2]string{"≥ 0.90", "≥ 0.85"}},
	{"p99 latency at half the ceiling, ms", "half", func(r *result) (float64, bool) { return r.Register.Latency["p99"], true }, "%.0f", [2]string{"< 3 hashes", "< 3 hashes"}},
	{"p99 latency at half the ceiling, in hash times", "half", func(r *result) (float64, bool) {
		return r.Register.Latency["p99"] / r.HashCPUAlone, r.HashCPUAlone > 0
	}, "%.1f", [2]string{"< 3", "< 3"}},
	{"request → email accepted by SMTP, p99 at half the ceiling, ms", "half", func(r *result) (float64, bool) {
		if r.ToInbox == nil {
			return 0, false
		}
		return r.ToInbox.P99, true
	}, "%.0f", [2]string{"", "< 100"}},
	{"CPU per registration besides the hash, every server process, at half the ceiling, ms", "path-half", servers, "%.1f", [2]string{"", "< 3"}},
	{"the same at 0.85 of the ceiling, ms", "path-saturation", servers, "%.1f", [2]string{"", "< 2"}},
	{"of which the servers spend idle anyway (their CPU before the load), at half the ceiling, ms", "path-half", idleServers, "%.1f", [2]string{}},
	{"the same at 0.85 of the ceiling, ms", "path-saturation", idleServers, "%.1f", [2]string{}},
	{"hash ceiling, hashes/s (both cores)", "saturation", func(r *result) (float64, bool) { return (r.CeilingBefore + r.CeilingAfter) / 2, true }, "%.0f", [2]string{}},
	{"one hash alone, CPU ms", "saturation", func(r *result) (float64, bool) { return r.HashCPUAlone, true }, "%.1f", [2]string{}},
	{"the client's share of the machine's CPU at saturation (load and SMTP server)", "saturation", func(r *result) (float64, bool) {
		m := r.Register.CPUPerOp
		return m["saturate"] / m["machine"], m["machine"] > 0
	}, "%.2f", [2]string{}},
}

func ratio(p *phase) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return p.OfCeiling, true
}

func servers(r *result) (float64, bool) {
	v, ok := r.Register.CPUPerOp["servers"]
	return v, ok
}

func idleServers(r *result) (float64, bool) {
	v, ok := r.Register.IdleCPUPerOp["servers"]
	return v, ok
}

// printSummary writes the table of the results in dir: each figure's
// median over the runs with its range.
func printSummary(w io.Writer, dir string) error {
	results := map[string][]*result{} // by stack-scenario
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r result
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		key := name[:strings.LastIndexByte(name, '-')]
		results[key] = append(results[key], &r)
	}
	runs := 0
	for _, rs := range results {
		runs = max(runs, len(rs))
	}
	fmt.Fprintf(w, "Median of %d runs, with the lowest and highest in brackets.\n\n", runs)
	fmt.Fprintln(w, "| figure | embedded | full stack | target (embedded / full) |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, row := range rows {
		cells := make([]string, len(stacks))
		for i, stack := range stacks {
			var values []float64
			for _, r := range results[stack+"-"+row.scenario] {
				if v, ok := row.figure(r); ok {
					values = append(values, v)
				}
			}
			cells[i] = spread(values, row.format)
		}
		target := ""
		if row.target != [2]string{} {
			target = cmp.Or(row.target[0], "–") + " / " + row.target[1]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", row.name, cells[0], cells[1], target)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "CPU per registration besides the hash, by process (median, ms):")
	fmt.Fprintln(w)
	for _, scenario := range []string{"path-half", "path-saturation"} {
		for _, stack := range stacks {
			byProcess := map[string][]float64{}
			for _, r := range results[stack+"-"+scenario] {
				for name, v := range r.Register.CPUPerOp {
					byProcess[name] = append(byProcess[name], v)
				}
			}
			var parts []string
			for _, name := range slices.Sorted(maps.Keys(byProcess)) {
				if name != "servers" && name != "machine" {
					parts = append(parts, fmt.Sprintf("%s %.2f", name, median(byProcess[name])))
				}
			}
			if len(parts) > 0 {
				fmt.Fprintf(w, "- %s, %s: %s\n", stack, scenario, strings.Join(parts, ", "))
			}
		}
	}
	return nil
}

func spread(values []float64, format string) string {
	if len(values) == 0 {
		return "–"
	}
	slices.Sort(values)
	m := fmt.Sprintf(format, median(values))
	if len(values) == 1 {
		return m
	}
	return fmt.Sprintf("%s ("+format+"–"+format+")", m, values[0], values[len(values)-1])
}

func median(values []float64) float64 {
	s := slices.Clone(values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
