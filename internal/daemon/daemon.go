// Package daemon is the main function of the service binaries: their
// command line (run, healthcheck, version, --help) and their stop on
// SIGINT or SIGTERM.
package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/acme/registrar/internal/config"
	"github.com/acme/registrar/internal/healthcheck"
	"github.com/acme/registrar/internal/tracing"
)

// Run is a binary without its process: it reads its configuration from
// environ and serves until ctx ends. Tests call it with their own
// environment and outputs.
type Run func(ctx context.Context, environ []string, stdout, stderr io.Writer) error

// Binary describes one service binary.
type Binary struct {
	Name    string
	Summary string // one line: what it is
	// AddrVar names the variable of the HTTP address that healthcheck probes
	// (DefaultAddr when unset).
	AddrVar, DefaultAddr string
	// HealthExclude names the readiness checks the healthcheck leaves out
	// of its verdict, given the environment (nil: none).
	HealthExclude func(environ []string) []string
	// Config is the binary's configuration type (a struct with env tags):
	// --help lists its variables and their defaults.
	Config reflect.Type
	// Prepare runs first when the binary is about to serve (it may replace
	// the process, see KeepFreedMemory).
	Prepare func()
	Run     Run
}

// Main runs the binary with the process's arguments and exits with its
// status.
func Main(b Binary) {
	os.Exit(b.Main(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Main is the binary's command line: no argument serves until SIGINT or
// SIGTERM (status 1 when it fails), "healthcheck" probes the binary's
// /readyz (for container health checks: the images have no curl),
// "version" prints the build, --help prints the usage. Anything else is
// status 2.
func (b Binary) Main(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		if b.Prepare != nil {
			b.Prepare()
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := b.serve(ctx, environ, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, b.Name+":", err)
			return 1
		}
		return 0
	case len(args) == 1 && args[0] == "healthcheck":
		addr := lookup(environ, b.AddrVar)
		if addr == "" {
			addr = b.DefaultAddr
		}
		var exclude []string
		if b.HealthExclude != nil {
			exclude = b.HealthExclude(environ)
		}
		if err := healthcheck.Probe(ctx, addr, exclude...); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case len(args) == 1 && args[0] == "version":
		fmt.Fprintln(stdout, b.Name, version())
		return 0
	case len(args) == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help"):
		b.usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "%s: unknown argument %q (see %s --help)\n", b.Name, strings.Join(args, " "), b.Name)
	return 2
}

// serve runs the binary with tracing as the OTEL_* variables ask (off
// without them), and flushes the spans left once it stopped.
func (b Binary) serve(ctx context.Context, environ []string, stdout, stderr io.Writer) error {
	shutdown, err := tracing.Setup(ctx, b.Name, environ, stdout)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := shutdown(sctx); err != nil {
			fmt.Fprintln(stderr, b.Name+": flush traces:", err)
		}
	}()
	return b.Run(ctx, environ, stdout, stderr)
}

func (b Binary) usage(w io.Writer) {
	fmt.Fprintf(w, "%s: %s\n\n", b.Name, b.Summary)
	fmt.Fprintf(w, "Usage:\n  %s              serve, configured by the environment; SIGTERM stops it cleanly\n", b.Name)
	fmt.Fprintf(w, "  %s healthcheck  exit 0 when its /readyz on %s (default %s) answers 200\n", b.Name, b.AddrVar, b.DefaultAddr)
	fmt.Fprintf(w, "  %s version      print the build\n", b.Name)
	fmt.Fprintf(w, "  %s --help       print this\n\nEnvironment (default):\n", b.Name)
	for _, v := range config.Variables(b.Config) {
		def := v.Default
		if def == "" {
			def = "empty"
		}
		fmt.Fprintf(w, "  %-30s %s\n", v.Name, def)
	}
	fmt.Fprintf(w, "\nTraces (OpenTelemetry, off unless an exporter or an OTLP endpoint is set):\n  %s\n",
		strings.Join(tracing.Variables, " "))
	fmt.Fprintln(w, "\nSee README.md and docs/OPERATIONS.md for what each one means.")
}

// version is the module version and VCS revision from the build info.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(no build information)"
	}
	out := info.Main.Version
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		out += " revision " + rev
		if t := settings["vcs.time"]; t != "" {
			out += " " + t
		}
		if settings["vcs.modified"] == "true" {
			out += " (modified)"
		}
	}
	return out + " " + info.GoVersion
}

func lookup(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}
