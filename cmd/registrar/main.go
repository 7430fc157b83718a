// Command registrar serves the registration API: HTTP gateway, registration
// actors, outbox relay and, without KAFKA_BROKERS, the mailer in process.
// Configuration comes from the environment (see README.md).
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/internal/daemon"
)

func main() { daemon.Main("registrar", "HTTP_ADDR", ":8080", run) }

// run is the binary (daemon.Run).
func run(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	cfg, err := config.Load[Config](environ)
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
