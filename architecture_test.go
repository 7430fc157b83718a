package registrar_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/acme/registrar"

// imports returns what the packages of this module that pkg pulls in
// (pkg included) import directly, production code only. Third-party
// packages are judged by what our code imports, not by their own imports.
func imports(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	byPkg := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.HasPrefix(fields[0], module) {
			byPkg[fields[0]] = fields[1:]
		}
	}
	return byPkg
}

// TestImportDirections enforces the layering of docs/ARCHITECTURE.md as an
// allow-list: each layer names what it may import (the standard library
// always), so a new dependency fails here until someone decides it belongs.
// The core (actors) knows the standard library, Proto.Actor and protos,
// and, as every layer that traces, the OpenTelemetry API (never its SDK,
// which only internal/tracing, wired by cmd/, knows);
// adapters point inward and never at each other (the mailer's one step to
// messaging is the Handler contract, ErrPermanent); only cmd/ wires several.
func TestImportDirections(t *testing.T) {
	protobuf := "google.golang.org/protobuf/"
	otelAPI := []string{"go.opentelemetry.io/otel", module + "/internal/tracecontext"}
	allowed := map[string][]string{
		"actors":                 {module + "/protos/", "github.com/asynkron/protoactor-go/", protobuf},
		"gateway":                {module + "/actors", module + "/address", module + "/password", module + "/internal/lifecycle", module + "/internal/logctx", module + "/internal/ops", "github.com/danielgtaylor/huma/v2", "github.com/gofiber/fiber/v2", "github.com/valyala/fasthttp", "github.com/prometheus/"},
		"persistence":            {module + "/actors", module + "/persistence/migrations", module + "/protos/", "github.com/jackc/pgx/v5", "github.com/pressly/goose/v3", "modernc.org/sqlite", protobuf},
		"messaging":              {module + "/protos/", "github.com/segmentio/kafka-go", protobuf},
		"mailer":                 {module + "/address", module + "/messaging", module + "/protos/", "github.com/wneessen/go-mail", "github.com/prometheus/", protobuf},
		"password":               {module + "/actors", "golang.org/x/crypto/"},
		"address":                {"golang.org/x/net/idna"},
		"protos/registration/v1": {protobuf},
		"internal/config":        {"github.com/caarlos0/env/v11", module + "/internal/logctx"},
		"internal/logctx":        {"go.opentelemetry.io/otel/trace"},
		"internal/tracecontext":  {"go.opentelemetry.io/otel/propagation"},
		"internal/lifecycle":     {},
		"internal/ops":           {module + "/internal/lifecycle", "github.com/prometheus/"},
	}
	for _, layer := range []string{"actors", "gateway", "persistence", "messaging", "mailer", "password"} {
		allowed[layer] = append(allowed[layer], otelAPI...)
	}
	for pkg, allow := range allowed {
		out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, module+"/"+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.Contains(strings.SplitN(dep, "/", 2)[0], ".") {
				continue // the standard library
			}
			ok := false
			for _, a := range allow {
				ok = ok || strings.HasPrefix(dep, a)
			}
			if !ok {
				t.Errorf("%s imports %s, which is not on its list (architecture_test.go)", pkg, dep)
			}
			if strings.HasPrefix(dep, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(dep, "go.opentelemetry.io/otel/exporters") {
				t.Errorf("%s imports %s: only internal/tracing knows the OpenTelemetry SDK", pkg, dep)
			}
		}
	}
	// Nothing imports cmd/, whatever pulls what in.
	for _, pkg := range []string{"actors", "gateway", "persistence", "messaging", "mailer", "password", "address", "internal/config"} {
		for from, deps := range imports(t, pkg) {
			for _, dep := range deps {
				if strings.HasPrefix(dep, module+"/cmd/") {
					t.Errorf("%s imports %s: nothing imports cmd/", from, dep)
				}
			}
		}
	}
}

// TestOnlyTheGatewayKnowsFiber keeps fiber (and its reuse of buffers) inside
// the gateway.
func TestOnlyTheGatewayKnowsFiber(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if strings.Contains(imports, "github.com/gofiber/fiber") && pkg != module+"/gateway" {
			t.Errorf("%s imports fiber; only gateway may", pkg)
		}
	}
}
