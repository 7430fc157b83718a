package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"text/template"
)

// writeReport renders loadtest/BENCHMARKS.md.tmpl with the results.
func writeReport(path string, res results) error {
	tmpl, err := template.New("BENCHMARKS.md.tmpl").Funcs(template.FuncMap{
		"f0":  func(v float64) string { return fmt.Sprintf("%.0f", v) },
		"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
		"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
		"pct": func(v float64) string { return fmt.Sprintf("%.1f %%", 100*v) },
		"mib": func(v int64) string { return fmt.Sprintf("%.0f MiB", float64(v)/(1<<20)) },
		"met": func(ok bool) string {
			if ok {
				return "met"
			}
			return "**missed**"
		},
		"ge":  func(a, b float64) bool { return a >= b },
		"div": func(a, b float64) float64 { return a / b },
		"verdict": func(ok bool) string {
			if ok {
				return "met"
			}
			return "missed"
		},
		"lt": func(a, b float64) bool { return a < b },
		"indent": func(s string) string {
			return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
		},
		"bench": func() string {
			raw, err := os.ReadFile("loadtest/results/bench.txt")
			if err != nil {
				return "(run `make bench` first)"
			}
			return string(raw)
		},
	}).ParseFiles("loadtest/BENCHMARKS.md.tmpl")
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, res); err != nil {
		return err
	}
	// The template's conditional sections leave runs of blank lines.
	doc := regexp.MustCompile(`\n{3,}`).ReplaceAll(out.Bytes(), []byte("\n\n"))
	return os.WriteFile(path, append(bytes.TrimRight(doc, "\n"), '\n'), 0o644)
}
