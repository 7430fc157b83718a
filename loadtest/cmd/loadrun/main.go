// Command loadrun is `make load`: it measures what this machine can do (the
// password hash alone, on every core) and, in the same run, what the service
// does with the k6 scenarios of loadtest/: capacity, latency at half the
// capacity, time to inbox, the cost of everything but the hash, memory per
// registration and behaviour under 5x overload, against the embedded service
// and the full stack. It writes loadtest/results/results.json and
// docs/BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acme/registrar/internal/daemon"
)

type config struct {
	duration    time.Duration
	memoryRegs  int
	out         string
	doc         string
	stacks      string
	reportOnly  bool
	ceilingTime time.Duration
}

func main() {
	var c config
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "length of each timed scenario")
	flag.IntVar(&c.memoryRegs, "memory-registrations", 100_000, "pending registrations of the memory scenario")
	flag.StringVar(&c.out, "out", "loadtest/results", "directory of the machine-readable results")
	flag.StringVar(&c.doc, "doc", "docs/BENCHMARKS.md", "the report to write")
	flag.StringVar(&c.stacks, "stacks", "embedded,full", "which stacks to measure: embedded, full or both")
	flag.DurationVar(&c.ceilingTime, "ceiling-time", 10*time.Second, "how long the hash ceiling is measured")
	flag.BoolVar(&c.reportOnly, "report-only", false, "only render the report again from the results.json in -out (after editing the template)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if c.reportOnly {
		if err := rerender(c); err != nil {
			log.Fatal(err)
		}
		return
	}
	// The ceiling is measured in this process: it must run with the
	// registrar's runtime settings, or the yardstick would be lower than
	// what the hash alone can do.
	daemon.KeepFreedMemory()
	if err := run(context.Background(), c); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, c config) error {
	for _, tool := range []string{"bin/k6", "bin/mailpit", "bin/registrar", "bin/mailer"} {
		if _, err := os.Stat(tool); err != nil {
			return fmt.Errorf("%s is missing: run make tools build", tool)
		}
	}
	work, err := os.MkdirTemp("", "loadrun-")
	if err != nil {
		return err
	}
	log.Printf("scratch directory (logs, k6 output): %s", work)
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	res := results{Date: time.Now().UTC().Format(time.RFC3339), Machine: describeMachine(), Config: c.describe()}

	r := &runner{cfg: c, dir: work}
	if strings.Contains(c.stacks, "embedded") {
		if res.Embedded, err = r.embedded(ctx); err != nil {
			return fmt.Errorf("embedded: %w", err)
		}
	}
	if strings.Contains(c.stacks, "full") {
		full, err := r.fullStack(ctx)
		if err != nil {
			return fmt.Errorf("full stack: %w", err)
		}
		res.FullStack = full
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeReport(c.doc, res); err != nil {
		return err
	}
	log.Printf("wrote %s and %s", filepath.Join(c.out, "results.json"), c.doc)
	return nil
}

func rerender(c config) error {
	raw, err := os.ReadFile(filepath.Join(c.out, "results.json"))
	if err != nil {
		return err
	}
	var res results
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("results.json: %w", err)
	}
	return writeReport(c.doc, res)
}

func (c config) describe() map[string]string {
	return map[string]string{
		"duration":             c.duration.String(),
		"memory_registrations": fmt.Sprint(c.memoryRegs),
		"ceiling_time":         c.ceilingTime.String(),
		"stacks":               c.stacks,
	}
}
