package testkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a program run by a test or a load run: the e2e tests' binaries
// and brokers, the load runner's services. Its environment is PATH and what
// the caller gives, nothing inherited: a variable set in the developer's
// shell must not change what is measured or tested.
type Process struct {
	Name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// StartProcess runs path with args and env, its output to stdout and
// stderr (either may be nil).
func StartProcess(name, path string, args, env []string, stdout, stderr io.Writer) (*Process, error) {
	p := &Process{Name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited; Err then holds its status.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the exit status (nil for 0); valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Alive reports whether the process is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// ErrKilled is Stop's answer when the process outlived its grace.
var ErrKilled = errors.New("killed: no exit after SIGTERM")

// Stop sends SIGTERM and waits up to grace, then kills. It returns the exit
// status, or ErrKilled.
func (p *Process) Stop(grace time.Duration) error {
	if !p.Alive() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.err
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("%s: %w within %s", p.Name, ErrKilled, grace)
	}
}

// Kill sends SIGKILL (nothing runs after it) and waits for the exit.
func (p *Process) Kill() {
	if p.Alive() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

// Signal sends sig (SIGSTOP, SIGCONT: a frozen member, a paused broker).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as host:port.
func FreeAddr() (string, error) {
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// WaitHTTP polls url until it answers 200, for at most d; it stops early
// when p (if not nil) exits.
func WaitHTTP(ctx context.Context, url string, d time.Duration, p *Process) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if res, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		var exited <-chan struct{}
		if p != nil {
			exited = p.exited
		}
		select {
		case <-exited:
			if p.err == nil {
				return fmt.Errorf("%s exited with status 0 before %s answered", p.Name, url)
			}
			return fmt.Errorf("%s exited: %w", p.Name, p.err)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200 within %s", url, d)
		case <-tick.C:
		}
	}
}

// Metric reads one sample from a Prometheus text endpoint: the first whose
// name is name, with or without labels.
func Metric(ctx context.Context, url, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			fields := strings.Fields(line)
			return strconv.ParseFloat(fields[len(fields)-1], 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", url, err)
	}
	return 0, fmt.Errorf("metric %s not found at %s", name, url)
}
