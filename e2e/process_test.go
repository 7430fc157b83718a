package e2e_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	t      *testing.T
	cmd    *exec.Cmd
	stdout *testkit.Buffer
	stderr *testkit.Buffer
	addr   chan string
	exited chan struct{}
	err    error
	base   string
}

// start runs a binary with env (plus JSON logs on an ephemeral port) and
// waits until /readyz answers 200.
func start(t *testing.T, name string, env ...string) *process {
	t.Helper()
	p := &process{t: t, stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}, addr: make(chan string, 1), exited: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binDir, name))
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=127.0.0.1:0", "LOG_FORMAT=json"}, env...)
	p.cmd.Stdout = p.stdout
	pr, pw := io.Pipe()
	p.cmd.Stderr = io.MultiWriter(p.stderr, pw)
	go p.scanForAddr(pr)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = pw.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	select {
	case addr := <-p.addr:
		p.base = "http://" + addr
	case <-p.exited:
		t.Fatalf("%s exited at start: %v\n%s", name, p.err, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not log its address\n%s", name, p.stderr.String())
	}
	p.waitReady()
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

func (p *process) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(p.base + "/readyz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("exited before ready: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatal("not ready after 30s")
}

// stop sends SIGTERM and returns the exit error (nil for status 0).
func (p *process) stop() error {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(60 * time.Second):
		p.t.Fatal("no exit 60s after SIGTERM")
		return nil
	}
}

// kill sends SIGKILL: nothing gets to run after it.
func (p *process) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	<-p.exited
}
