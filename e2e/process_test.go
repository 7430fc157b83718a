package e2e_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acme/registrar/internal/testkit"
)

// binDir holds the binaries built once for all tests, as `make build` does.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "registrar-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, name := range []string{"registrar", "mailer"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), "../cmd/"+name)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running binary with its output captured.
type process struct {
	*testkit.Process
	t      *testing.T
	stdout *testkit.Buffer
	stderr *testkit.Buffer
	addr   chan string
	base   string
}

// start runs a binary with env (plus JSON logs on an ephemeral port) and
// waits until /readyz answers 200.
func start(t *testing.T, name string, env ...string) *process {
	t.Helper()
	p := &process{t: t, stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}, addr: make(chan string, 1)}
	pr, pw := io.Pipe()
	var err error
	p.Process, err = testkit.StartProcess(name, filepath.Join(binDir, name), nil,
		append([]string{"HTTP_ADDR=127.0.0.1:0", "LOG_FORMAT=json"}, env...), p.stdout, io.MultiWriter(p.stderr, pw))
	if err != nil {
		t.Fatal(err)
	}
	go p.scanForAddr(pr)
	go func() {
		<-p.Exited()
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	select {
	case addr := <-p.addr:
		p.base = "http://" + addr
	case <-p.Exited():
		t.Fatalf("%s exited at start: %v\n%s", name, p.Err(), p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not log its address\n%s", name, p.stderr.String())
	}
	if err := testkit.WaitHTTP(t.Context(), p.base+"/readyz", 30*time.Second, p.Process); err != nil {
		t.Fatalf("%v\n%s", err, p.stderr.String())
	}
	return p
}

// scanForAddr reads the JSON log for the "started" line and its address.
func (p *process) scanForAddr(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasSuffix(line.Msg, "started") && line.Addr != "" {
			p.addr <- line.Addr
			break
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (p *process) stop() error {
	p.t.Helper()
	err := p.Stop(60 * time.Second)
	if errors.Is(err, testkit.ErrKilled) {
		p.t.Fatal(err)
	}
	return err
}
