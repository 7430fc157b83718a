package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/acme/registrar/internal/testkit"
)

// proc is a process under test (internal/testkit, as the e2e tests run
// theirs), its output in a log file.
type proc struct {
	*testkit.Process
}

func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p, err := testkit.StartProcess(name, bin, args, env, logFile, logFile)
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	go func() {
		<-p.Exited()
		_ = logFile.Close()
	}()
	return &proc{p}, nil
}

// stop sends SIGTERM and waits a minute; a process that does not stop is
// killed.
func (p *proc) stop() {
	if err := p.Stop(time.Minute); errors.Is(err, testkit.ErrKilled) {
		log.Print(err)
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
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", p.Pid(), file))
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
	return 0, fmt.Errorf("no %s in /proc/%d/%s", key, p.Pid(), file)
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

// mailpit is the SMTP sink of the runs, whose REST API gives the codes and
// the receive time of every email.
type mailpit struct {
	proc *proc
	smtp string
	api  string
}

func startMailpit(dir string) (*mailpit, error) {
	smtp, err := testkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	api, err := testkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	m := &mailpit{smtp: smtp, api: api}
	p, err := startProc("mailpit", filepath.Join("bin", "mailpit"), []string{
		"--smtp", m.smtp, "--listen", m.api, "--max", "500000", "--smtp-disable-rdns",
		"--database", filepath.Join(dir, "mailpit.db"),
	}, nil, filepath.Join(dir, "mailpit.log"))
	if err != nil {
		return nil, err
	}
	m.proc = p
	if err := testkit.WaitHTTP(context.Background(), "http://"+m.api+"/readyz", 30*time.Second, p.Process); err != nil {
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
