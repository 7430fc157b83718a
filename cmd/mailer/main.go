// Command mailer is the consumer of the private mail topic: it sends the
// verification emails the registrar publishes to Kafka. In embedded mode
// (KAFKA_BROKERS empty) the registrar mails in process and this binary has
// nothing to do. Configuration comes from the environment (README.md).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/registrar/internal/healthcheck"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		// For container health checks: the image has no curl.
		addr := os.Getenv("MAILER_HTTP_ADDR")
		if addr == "" {
			addr = ":8081"
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
		fmt.Fprintln(os.Stderr, "mailer:", err)
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
	app, err := newApp(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}
