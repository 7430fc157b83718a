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

// TestImportDirections enforces the layering of docs/ARCHITECTURE.md:
// the core (actors) knows no adapter and no transport; adapters point inward
// and never at each other; only cmd/ wires several of them.
func TestImportDirections(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
	}{
		{"actors", []string{module + "/gateway", module + "/persistence", module + "/messaging", module + "/mailer",
			module + "/password", "github.com/gofiber/", "github.com/danielgtaylor/huma", "github.com/segmentio/kafka-go",
			"github.com/jackc/pgx", "modernc.org/sqlite", "github.com/prometheus/"}},
		{"gateway", []string{module + "/persistence", module + "/messaging", module + "/mailer",
			"github.com/segmentio/kafka-go", "github.com/jackc/pgx", "modernc.org/sqlite"}},
		{"persistence", []string{module + "/gateway", module + "/messaging", module + "/mailer",
			"github.com/gofiber/", "github.com/segmentio/kafka-go"}},
		{"messaging", []string{module + "/actors", module + "/gateway", module + "/persistence", module + "/mailer",
			"github.com/gofiber/", "github.com/jackc/pgx", "modernc.org/sqlite"}},
		{"mailer", []string{module + "/actors", module + "/gateway", module + "/persistence",
			"github.com/gofiber/", "github.com/asynkron/protoactor-go"}},
		{"password", []string{module + "/gateway", module + "/persistence", module + "/messaging", module + "/mailer"}},
		{"address", []string{module + "/"}},
		{"protos/registration/v1", []string{module + "/actors", module + "/gateway", module + "/persistence",
			module + "/messaging", module + "/mailer"}},
	}
	for _, r := range rules {
		for from, deps := range imports(t, r.pkg) {
			for _, dep := range deps {
				for _, f := range r.forbidden {
					if strings.HasPrefix(dep, f) && !strings.HasPrefix(dep, module+"/protos") {
						t.Errorf("%s must not depend on %s (%s imports %s)", r.pkg, f, from, dep)
					}
				}
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
