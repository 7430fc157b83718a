// Command registrar serves the registration API: HTTP gateway, registration
// actors, outbox relay and, without KAFKA_BROKERS, the mailer in process.
// Configuration comes from the environment (see README.md).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/acme/registrar/internal/healthcheck"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		// For container health checks: the image has no curl.
		addr := os.Getenv("HTTP_ADDR")
		if addr == "" {
			addr = ":8080"
		}
		if err := healthcheck.Probe(context.Background(), addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(1)
	}
}

// run is main without the process: tests call it with their own environment
// and outputs.
func run(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(environ)
	if err != nil {
		return err
	}
	log := cfg.Log.Logger(stderr)
	warnAboutCodes(log, cfg)
	adviseMemory(log, os.Getenv("GODEBUG"))
	app, err := newApp(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}

// adviseMemory says when the runtime returns freed heap pages to the kernel
// at once. Every password hash allocates 19 MiB; with MADV_DONTNEED (Go's
// default on Linux) the next hash faults them in again, which in a VM costs
// 70-90 ms for one buffer and tripled the p99 of a registration at half
// load. GODEBUG=madvdontneed=0 (MADV_FREE) leaves them mapped until the
// kernel needs the memory. The runtime reads it only from the environment
// at start (docs/adr/0008-password-hash-memory.md).
func adviseMemory(log *slog.Logger, godebug string) {
	if !strings.Contains(godebug, "madvdontneed=0") {
		log.Info("GODEBUG=madvdontneed=0 is not set: password hashes will fault in freed memory again (slower tail latency; see docs/OPERATIONS.md)")
	}
}
