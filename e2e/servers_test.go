package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/registrar/internal/testkit"
)

// The fault tests stop, kill and restart servers; the shared ones of
// scripts/services.sh serve other tests meanwhile, so these tests run
// servers of their own, from the same binaries and jars.

func freePort(t *testing.T) int {
	t.Helper()
	port, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// waitUntil polls cond every 50 ms for at most d.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kafkaBroker is a one-node KRaft broker owned by one test.
type kafkaBroker struct {
	t    *testing.T
	lib  string
	dir  string
	port int
	proc *testkit.Process
}

func startKafka(t *testing.T) *kafkaBroker {
	t.Helper()
	b := &kafkaBroker{t: t, lib: testkit.Env(t, "TEST_KAFKA_LIB", "Kafka jars"), dir: t.TempDir(), port: freePort(t)}
	controller := freePort(t)
	tmpl, err := os.ReadFile("../scripts/kafka/server.properties") // as scripts/services.sh
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("@PORT@", fmt.Sprint(b.port), "@CONTROLLER_PORT@", fmt.Sprint(controller), "@DIR@", b.dir).Replace(string(tmpl))
	if err := os.WriteFile(filepath.Join(b.dir, "server.properties"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	format := exec.Command("java", "-cp", b.lib+"/*", "kafka.tools.StorageTool", "format",
		"-t", "e2e-fault-test-cluster0", "-c", filepath.Join(b.dir, "server.properties"))
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format kafka storage: %v\n%s", err, out)
	}
	b.start()
	t.Cleanup(b.kill)
	return b
}

func (b *kafkaBroker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

func (b *kafkaBroker) start() {
	b.t.Helper()
	logPath := filepath.Join(b.dir, "kafka.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { _ = logFile.Close() })
	b.proc, err = testkit.StartProcess("kafka", "java", []string{"-Xms128m", "-Xmx384m", "-cp", b.lib + "/*", "kafka.Kafka",
		filepath.Join(b.dir, "server.properties")}, nil, logFile, logFile)
	if err != nil {
		b.t.Fatal(err)
	}
	waitUntil(b.t, "kafka start", 90*time.Second, func() bool {
		out, _ := os.ReadFile(logPath)
		return strings.Contains(string(out), "Kafka Server started")
	})
}

// stop shuts the broker down cleanly (killed after a minute).
func (b *kafkaBroker) stop() { _ = b.proc.Stop(60 * time.Second) }

func (b *kafkaBroker) kill() {
	if b.proc != nil {
		b.proc.Kill()
	}
}

// pgServer is a PostgreSQL cluster owned by one test.
type pgServer struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	s := &pgServer{t: t, bin: testkit.Env(t, "TEST_POSTGRES_BIN", "PostgreSQL binaries"), port: freePort(t)}
	dir, err := os.MkdirTemp("", "registrar-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "stop"); _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // the server refuses to run as root
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE registrar"); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *pgServer) data() string { return filepath.Join(s.dir, "data") }

func (s *pgServer) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/registrar?sslmode=disable", s.port)
}

func (s *pgServer) run(program string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, program)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...).CombinedOutput()
	}
	return exec.Command(path, args...).CombinedOutput()
}

func (s *pgServer) start() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "postgres.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s", s.port, s.dir), "start"); err != nil {
		s.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

func (s *pgServer) stop() {
	s.t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop"); err != nil {
		s.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}
