package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process under test, its output in a log file.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// alive reports whether the process is still running.
func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits; a process that does not stop is killed.
func (p *proc) stop() {
	if !p.alive() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// rss is the process's resident memory in bytes (Linux /proc).
func (p *proc) rss() (int64, error) { return p.statusKiB("status", "VmRSS:") }

// lazyFree is the part of the resident memory the process has freed with
// MADV_FREE (GODEBUG=madvdontneed=0): counted in RSS, but the kernel takes
// it back whenever it needs it.
func (p *proc) lazyFree() (int64, error) { return p.statusKiB("smaps_rollup", "LazyFree:") }

// statusKiB reads the "key: N kB" line of /proc/PID/file, in bytes.
func (p *proc) statusKiB(file, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", p.cmd.Process.Pid, file))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/%s", key, p.cmd.Process.Pid, file)
}

// peakRSS samples rss every 100 ms until done, and returns the largest.
func (p *proc) peakRSS(done <-chan struct{}) int64 {
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if r, err := p.rss(); err == nil && r > peak {
			peak = r
		}
		select {
		case <-done:
			return peak
		case <-t.C:
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freeAddr() string {
	port, err := freePort()
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// waitHTTP polls url until it answers 200, for at most d.
func waitHTTP(ctx context.Context, url string, d time.Duration, p *proc) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p != nil && !p.alive() {
			return fmt.Errorf("%s exited: %w", p.name, p.err)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if res, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer 200 within %s", url, d)
}

// metric reads one sample of a Prometheus text endpoint (the first line
// starting with name).
func metric(url, name string) (float64, error) {
	res, err := http.Get(url)
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
	return 0, fmt.Errorf("metric %s not found at %s", name, url)
}

// mailpit is the SMTP sink of the runs, whose REST API gives the codes and
// the receive time of every email.
type mailpit struct {
	proc *proc
	smtp string
	api  string
}

func startMailpit(dir string) (*mailpit, error) {
	m := &mailpit{smtp: freeAddr(), api: freeAddr()}
	p, err := startProc("mailpit", filepath.Join("bin", "mailpit"), []string{
		"--smtp", m.smtp, "--listen", m.api, "--max", "500000", "--smtp-disable-rdns",
		"--database", filepath.Join(dir, "mailpit.db"),
	}, nil, filepath.Join(dir, "mailpit.log"))
	if err != nil {
		return nil, err
	}
	m.proc = p
	if err := waitHTTP(context.Background(), "http://"+m.api+"/readyz", 30*time.Second, p); err != nil {
		p.stop()
		return nil, err
	}
	return m, nil
}

func (m *mailpit) url() string { return "http://" + m.api }

// clear deletes every stored message.
func (m *mailpit) clear() error {
	req, _ := http.NewRequest(http.MethodDelete, m.url()+"/api/v1/messages", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	return nil
}
