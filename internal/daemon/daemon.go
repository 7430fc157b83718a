// Package daemon is the main function of the service binaries.
package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/registrar/internal/healthcheck"
)

// Run is a binary without its process: it reads its configuration from
// environ and serves until ctx ends. Tests call it with their own
// environment and outputs.
type Run func(ctx context.Context, environ []string, stdout, stderr io.Writer) error

// Main runs the binary called name until SIGINT or SIGTERM, and exits 1
// when run fails. "name healthcheck" instead probes the binary's /readyz at
// the address in the variable addrVar (default defaultAddr), for container
// health checks: the images have no curl.
func Main(name, addrVar, defaultAddr string, run Run) {
	if len(os.Args) == 2 && os.Args[1] == "healthcheck" {
		addr := os.Getenv(addrVar)
		if addr == "" {
			addr = defaultAddr
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
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
