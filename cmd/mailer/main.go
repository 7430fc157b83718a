// Command mailer is the consumer of the private mail topic: it sends the
// verification emails the registrar publishes to Kafka. In embedded mode
// (KAFKA_BROKERS empty) the registrar mails in process and this binary has
// nothing to do. Configuration comes from the environment (README.md).
package main

import (
	"context"
	"io"
	"reflect"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/internal/daemon"
)

func main() { daemon.Main(binary) }

var binary = daemon.Binary{
	Name:    "mailer",
	Summary: "sends the verification emails the registrar publishes on Kafka (the private mail topic)",
	AddrVar: "MAILER_HTTP_ADDR", DefaultAddr: ":8081",
	Config: reflect.TypeFor[Config](),
	Run:    run,
}

// run is the binary (daemon.Run).
func run(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	cfg, err := config.Load[Config](environ)
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
