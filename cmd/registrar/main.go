// Command registrar serves the registration API: HTTP gateway, registration
// actors, outbox relay and, without KAFKA_BROKERS, the mailer in process.
// Configuration comes from the environment (see README.md).
package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/internal/daemon"
)

func main() { daemon.Main(binary) }

var binary = daemon.Binary{
	Name:    "registrar",
	Summary: "the registration API (HTTP gateway, registration actors, outbox relay; without KAFKA_BROKERS also the mailer)",
	AddrVar: "HTTP_ADDR", DefaultAddr: ":8080",
	// A container whose Kafka is down keeps serving: the outbox holds the
	// messages until Kafka is back (docs/OPERATIONS.md).
	HealthExclude: func(environ []string) []string {
		if cfg, err := config.Load[Config](environ); err == nil && cfg.Kafka.Enabled() {
			return []string{"kafka"}
		}
		return nil
	},
	Config:  reflect.TypeFor[Config](),
	Prepare: daemon.KeepFreedMemory,
	Run:     run,
}

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

// adviseMemory says when the process runs without MADV_FREE for freed heap
// pages (an operator's GODEBUG said so, or not on Linux): password hashes
// then fault their memory in again (daemon.KeepFreedMemory).
func adviseMemory(log *slog.Logger, godebug string) {
	if !strings.Contains(godebug, "madvdontneed=0") {
		log.Info("GODEBUG=madvdontneed=0 is not in force: password hashes will fault in freed memory again (slower tail latency; see docs/adr/0008-password-hash-memory.md)")
	}
}
