package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// summary is k6's end-of-test summary export: metric name -> values
// (trends in milliseconds).
type summary map[string]map[string]any

func (s summary) value(metric, stat string) float64 {
	v, _ := s[metric][stat].(float64)
	return v
}

// k6Run is the outcome of one k6 scenario.
type k6Run struct {
	Summary      summary
	ThresholdsOK bool
	CPUSeconds   float64 // k6's own CPU time: it shares the cores with the service
}

// runK6 runs a script; env goes to the script with -e. jsonOut, when set,
// receives every sample (for the time-to-inbox correlation).
func runK6(dir, name, script string, env map[string]string, jsonOut string) (k6Run, error) {
	sumPath := filepath.Join(dir, name+"-summary.json")
	args := []string{"run", "--quiet", "--no-color", "--summary-export", sumPath}
	if jsonOut != "" {
		args = append(args, "--out", "json="+jsonOut)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-e", k+"="+env[k])
	}
	args = append(args, filepath.Join("loadtest", script))
	logFile, err := os.Create(filepath.Join(dir, name+"-k6.log"))
	if err != nil {
		return k6Run{}, err
	}
	defer logFile.Close()
	cmd := exec.Command(filepath.Join("bin", "k6"), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	err = cmd.Run()
	run := k6Run{ThresholdsOK: true}
	if cmd.ProcessState != nil {
		run.CPUSeconds = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 99 { // thresholds crossed
		run.ThresholdsOK = false
	} else if err != nil {
		return run, fmt.Errorf("k6 %s: %w (see %s)", name, err, logFile.Name())
	}
	raw, err := os.ReadFile(sumPath)
	if err != nil {
		return run, err
	}
	var doc struct {
		Metrics summary `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return run, fmt.Errorf("k6 %s summary: %w", name, err)
	}
	run.Summary = doc.Metrics
	return run, nil
}

// requestTimes reads k6's JSON output: when each tagged registration was
// sent and answered (201 only).
func requestTimes(path string) (map[string][2]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][2]time.Time{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p struct {
			Type   string `json:"type"`
			Metric string `json:"metric"`
			Data   struct {
				Time  time.Time         `json:"time"`
				Value float64           `json:"value"`
				Tags  map[string]string `json:"tags"`
			} `json:"data"`
		}
		if json.Unmarshal(sc.Bytes(), &p) != nil || p.Type != "Point" || p.Metric != "http_req_duration" {
			continue
		}
		email := p.Data.Tags["email"]
		if email == "" || p.Data.Tags["status"] != "201" {
			continue
		}
		end := p.Data.Time
		start := end.Add(-time.Duration(p.Data.Value * float64(time.Millisecond)))
		out[email] = [2]time.Time{start, end}
	}
	return out, sc.Err()
}

var subjectCode = regexp.MustCompile(`^([0-9]{4}) is your verification code$`)

// mailed is one email as Mailpit received it.
type mailed struct {
	to       string
	code     string
	received time.Time
}

// messages lists every email Mailpit holds.
func (m *mailpit) messages() ([]mailed, error) {
	var out []mailed
	for start := 0; ; start += 1000 {
		res, err := http.Get(m.url() + "/api/v1/messages?" + url.Values{"start": {fmt.Sprint(start)}, "limit": {"1000"}}.Encode())
		if err != nil {
			return nil, err
		}
		var page struct {
			Total    int `json:"total"`
			Messages []struct {
				To      []struct{ Address string } `json:"To"`
				Subject string                     `json:"Subject"`
				Created time.Time                  `json:"Created"`
			} `json:"messages"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		_ = res.Body.Close()
		if err != nil {
			return nil, err
		}
		for _, msg := range page.Messages {
			if len(msg.To) == 0 {
				continue
			}
			code := ""
			if c := subjectCode.FindStringSubmatch(msg.Subject); c != nil {
				code = c[1]
			}
			out = append(out, mailed{to: msg.To[0].Address, code: code, received: msg.Created})
		}
		if len(page.Messages) == 0 || start+len(page.Messages) >= page.Total {
			return out, nil
		}
	}
}

// waitMessages waits until Mailpit holds at least n emails.
func (m *mailpit) waitMessages(n int, d time.Duration) ([]mailed, error) {
	deadline := time.Now().Add(d)
	for {
		msgs, err := m.messages()
		if err == nil && len(msgs) >= n {
			return msgs, nil
		}
		if time.Now().After(deadline) {
			return msgs, fmt.Errorf("mailpit holds %d emails after %s, want %d (err %w)", len(msgs), d, n, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// percentiles summarizes durations: p50, p95, p99 and max, in milliseconds.
type percentiles struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func summarize(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(p int) float64 {
		i := max((len(ds)*p+99)/100-1, 0)
		return float64(ds[i].Microseconds()) / 1000
	}
	return percentiles{Count: len(ds), P50: at(50), P95: at(95), P99: at(99), Max: float64(ds[len(ds)-1].Microseconds()) / 1000}
}
