// Command saturate is a light load client (keep-alive HTTP, no scripting
// engine): it registers fresh accounts against one or more registrars,
// closed-loop (as fast as they answer, -concurrency at a time) or
// open-loop (-rate per second), and measures the argon2id ceiling of this
// machine (the hash alone on every core) before and after, in the same
// run, so the result is a ratio the machine's mood does not change.
//
//	go run ./loadtest/cmd/saturate -targets http://127.0.0.1:8080 -duration 20s
//
// With -smtp it is also the mail server (an smtptest server at that
// address: point the mailer's SMTP_URL at it) and reports the time from
// each request to its email accepted; with -activate it then activates the
// accounts with the codes of those emails, closed-loop. With -procs it
// reports the CPU time of the named processes per registration (and
// activation), and what of it the password hash does not explain.
//
// It prints one JSON object. The registrars must run with
// RATE_LIMIT_PER_IP=0 (every request comes from one address).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acme/registrar/internal/daemon"
	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/mailer/smtptest"
	"github.com/acme/registrar/password"
)

type result struct {
	Targets       []string `json:"targets"`
	Mode          string   `json:"mode"`
	Rate          float64  `json:"rate,omitempty"` // open loop: registrations sent per second
	CeilingBefore float64  `json:"ceiling_before"`
	CeilingAfter  float64  `json:"ceiling_after"`
	// HashCPUParallel and HashCPUAlone are the CPU milliseconds of one
	// hash with every core hashing (the ceiling) and with one hash at a
	// time: what a registration's hash costs at saturation and at low load.
	HashCPUParallel float64 `json:"hash_cpu_ms_parallel"`
	HashCPUAlone    float64 `json:"hash_cpu_ms_alone"`
	// IdleCPU is the CPU milliseconds per second of each -procs process
	// (and "servers", their sum) before any load (-idle).
	IdleCPU  map[string]float64 `json:"idle_cpu_ms_per_s,omitempty"`
	Register *phase             `json:"register"`
	Activate *phase             `json:"activate,omitempty"`
	// ToInbox is from sending the registration to its email accepted by
	// the SMTP server (-smtp).
	ToInbox *inbox `json:"request_to_smtp_ms,omitempty"`
}

type phase struct {
	Seconds           float64            `json:"seconds"`
	Succeeded         int                `json:"succeeded"`
	PerSecond         float64            `json:"per_second"`
	OfCeiling         float64            `json:"of_ceiling"`
	Latency           map[string]float64 `json:"latency_ms"`
	Statuses          map[int]int        `json:"statuses"`
	TransportFailures int                `json:"transport_failures"`
	// CPUPerOp is CPU milliseconds per success by process (-procs);
	// "saturate" is this client, "machine" every process on the machine.
	// CPUPerRequest is the same per answer, whatever its status.
	CPUPerOp      map[string]float64 `json:"cpu_ms_per_op,omitempty"`
	CPUPerRequest map[string]float64 `json:"cpu_ms_per_request,omitempty"`
	// NonHashCPUPerOp is the CPU milliseconds per success of the server
	// processes (all of -procs) less one hash at the cost it has under
	// this load (the parallel cost closed-loop, the one-at-a-time cost
	// open-loop, the larger part of what a half load sees).
	NonHashCPUPerOp float64 `json:"non_hash_cpu_ms_per_op,omitempty"`
	// IdleCPUPerOp is what the -procs processes spend idle (IdleCPU, a
	// rate measured before the run) over this phase's length, per success:
	// a fixed cost (a broker's housekeeping, the consumers' long polls)
	// that CPUPerOp includes and that does not grow with the load.
	IdleCPUPerOp map[string]float64 `json:"idle_cpu_ms_per_op,omitempty"`
}

type inbox struct {
	Received int     `json:"received"`
	Missing  int     `json:"missing"`
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
	Max      float64 `json:"max"`
}

// account is one registration answered 201.
type account struct {
	email, password string
	sent            time.Time
}

func main() {
	daemon.KeepFreedMemory() // the ceiling hashes as the registrar does
	targets := flag.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs, used in turn")
	duration := flag.Duration("duration", 20*time.Second, "length of the load (of each phase)")
	concurrency := flag.Int("concurrency", 2*runtime.NumCPU()*4, "requests in flight (closed loop)")
	rate := flag.Float64("rate", 0, "registrations per second (open loop); 0: closed loop")
	ofCeiling := flag.Float64("rate-of-ceiling", 0, "open loop at this fraction of the ceiling measured first (0.5: half load)")
	summarize := flag.String("summarize", "", "print the markdown table of the results in this directory (scripts/bench-stack.sh) and exit")
	ceilingTime := flag.Duration("ceiling", 10*time.Second, "how long the hash ceiling is measured, before and after")
	smtpAddr := flag.String("smtp", "", "be the SMTP server at this address (e.g. 127.0.0.1:2525), and time the emails")
	activate := flag.Bool("activate", false, "then activate the accounts with their codes (needs -smtp), closed loop")
	sameEmail := flag.Bool("same-email", false, "register one email again and again: after the first, every answer is a refusal (429, 409)")
	procs := flag.String("procs", "", "name=needle,... : processes whose command line contains needle, measured as name")
	idle := flag.Duration("idle", 10*time.Second, "how long the -procs processes' idle CPU is measured first (0: not)")
	deleteTopics := flag.String("delete-topics", "", "delete the Kafka topics whose names start with this prefix (on -brokers) and exit")
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers, for -delete-topics")
	flag.Parse()
	if *deleteTopics != "" {
		// The scripts' runs make topics of their own on a broker that lives
		// for weeks: left behind, their partitions slow the next runs.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := testkit.DeleteKafkaTopics(ctx, strings.Split(*brokers, ","), *deleteTopics); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *summarize != "" {
		if err := printSummary(os.Stdout, *summarize); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *activate && *smtpAddr == "" {
		log.Fatal("-activate reads the codes from the emails: it needs -smtp")
	}
	var sink *smtptest.Server
	if *smtpAddr != "" {
		var err error
		if sink, err = smtptest.Listen(smtptest.WithAddr(*smtpAddr)); err != nil {
			log.Fatal(err)
		}
		defer func() { _ = sink.Close() }()
	}
	meter := newMeter(*procs)
	res := result{Targets: strings.Split(*targets, ","), Mode: "closed loop"}
	if len(meter.needles) > 0 && *idle > 0 {
		res.IdleCPU = meter.idle(*idle)
		meter.idleRate = res.IdleCPU
	}
	res.HashCPUAlone = hashCPUAlone(30)
	res.CeilingBefore, res.HashCPUParallel = ceiling(*ceilingTime)
	if *ofCeiling > 0 {
		*rate = *ofCeiling * res.CeilingBefore
	}
	if *rate > 0 {
		res.Mode = fmt.Sprintf("open loop at %.1f/s", *rate)
		res.Rate = *rate
	}
	c := client{targets: res.Targets, http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}}}

	var accounts []account
	res.Register = meter.measure(func() *phase { return c.register(*duration, *concurrency, *rate, *sameEmail, &accounts) })
	if sink != nil {
		res.ToInbox = timeToInbox(sink, accounts)
	}
	if *activate {
		res.Activate = meter.measure(func() *phase { return c.activate(*duration, *concurrency, accounts, sink) })
	}
	res.CeilingAfter, _ = ceiling(*ceilingTime)
	hash := res.HashCPUParallel
	if *rate > 0 {
		hash = res.HashCPUAlone
	}
	for _, p := range []*phase{res.Register, res.Activate} {
		if p == nil {
			continue
		}
		p.PerSecond = float64(p.Succeeded) / p.Seconds
		p.OfCeiling = p.PerSecond / ((res.CeilingBefore + res.CeilingAfter) / 2)
		if len(meter.needles) > 0 {
			p.NonHashCPUPerOp = p.CPUPerOp["servers"] - hash
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		log.Fatal(err)
	}
}

// ceiling is argon2id hashes per second with every core hashing (OWASP
// parameters, as the registrar hashes), and the CPU milliseconds each took.
func ceiling(d time.Duration) (perSecond, cpuMs float64) {
	h := hasher()
	var n atomic.Int64
	cpu0 := selfCPU()
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := h.Hash(context.Background(), "correct horse battery staple"); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), (selfCPU() - cpu0) * 1000 / float64(n.Load())
}

// hashCPUAlone is the CPU milliseconds of one hash, n hashed one at a time.
func hashCPUAlone(n int) float64 {
	h := hasher()
	_, _ = h.Warm(context.Background()) // the first hashes fault their memory in
	cpu0 := selfCPU()
	for range n {
		_, _ = h.Hash(context.Background(), "correct horse battery staple")
	}
	return (selfCPU() - cpu0) * 1000 / float64(n)
}

func hasher() *password.Hasher {
	h, err := password.NewHasher(password.Config{MaxWait: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	return h
}

func selfCPU() float64 { return testkit.CPUSeconds([]int{os.Getpid()}) }

type client struct {
	targets []string
	http    *http.Client
	seq     atomic.Int64
}

// run calls one until d has passed: open-loop at rate a second, or
// closed-loop, concurrency at a time, while one says there is more work.
func run(d time.Duration, concurrency int, rate float64, one func(*phase) bool) *phase {
	p := &phase{Statuses: map[int]int{}}
	var (
		wg   sync.WaitGroup
		stop = time.Now().Add(d)
	)
	begin := time.Now()
	if rate > 0 {
		every := time.Duration(float64(time.Second) / rate)
		for next := begin; next.Before(stop); next = next.Add(every) {
			time.Sleep(time.Until(next))
			wg.Go(func() { one(p) })
		}
	} else {
		for range concurrency {
			wg.Go(func() {
				for time.Now().Before(stop) {
					if !one(p) {
						return
					}
				}
			})
		}
	}
	wg.Wait()
	p.Seconds = time.Since(begin).Seconds()
	return p
}

// latencies collects the successes' latencies of a phase under mu.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) done(p *phase, status int, err error, took time.Duration, want int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		p.TransportFailures++
		return false
	}
	p.Statuses[status]++
	if status == want {
		p.Succeeded++
		l.all = append(l.all, took)
		return true
	}
	return false
}

func (l *latencies) summary() map[string]float64 {
	slices.Sort(l.all)
	return map[string]float64{"p50": percentile(l.all, 0.50), "p95": percentile(l.all, 0.95), "p99": percentile(l.all, 0.99), "max": percentile(l.all, 1)}
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(p*float64(len(sorted)-1))].Microseconds()) / 1000
}

func (c *client) register(d time.Duration, concurrency int, rate float64, sameEmail bool, accounts *[]account) *phase {
	prefix := make([]byte, 4)
	_, _ = rand.Read(prefix)
	var lat latencies
	p := run(d, concurrency, rate, func(p *phase) bool {
		i := c.seq.Add(1)
		if sameEmail {
			i = 0
		}
		a := account{email: fmt.Sprintf("load-%s-%d@example.com", hex.EncodeToString(prefix), i), password: fmt.Sprintf("correct horse battery staple %d", i)}
		body, _ := json.Marshal(map[string]string{"email": a.email, "password": a.password})
		a.sent = time.Now()
		status, err := c.send(c.targets[int(i)%len(c.targets)], "/v1/users", body, nil)
		if lat.done(p, status, err, time.Since(a.sent), http.StatusCreated) {
			lat.mu.Lock()
			*accounts = append(*accounts, a)
			lat.mu.Unlock()
		}
		return true // a refusal is an answer too: go on
	})
	p.Latency = lat.summary()
	return p
}

func (c *client) activate(d time.Duration, concurrency int, accounts []account, sink *smtptest.Server) *phase {
	codes := map[string]string{}
	for _, m := range sink.Messages() {
		if parsed, err := m.Parse(); err == nil && len(m.To) == 1 {
			codes[m.To[0]], _, _ = strings.Cut(parsed.Subject(), " ")
		}
	}
	var next atomic.Int64
	var lat latencies
	p := run(d, concurrency, 0, func(p *phase) bool {
		i := int(next.Add(1)) - 1
		if i >= len(accounts) {
			return false
		}
		a := accounts[i]
		code, ok := codes[a.email]
		if !ok {
			return true
		}
		start := time.Now()
		status, err := c.send(c.targets[i%len(c.targets)], "/v1/users/activate", []byte(`{"code":"`+code+`"}`), func(r *http.Request) { r.SetBasicAuth(a.email, a.password) })
		lat.done(p, status, err, time.Since(start), http.StatusOK)
		return true
	})
	p.Latency = lat.summary()
	return p
}

func (c *client) send(target, path string, body []byte, auth func(*http.Request)) (int, error) {
	req, err := http.NewRequest(http.MethodPost, target+path, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != nil {
		auth(req)
	}
	r, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return r.StatusCode, nil
}

// timeToInbox waits (up to 30 s) for the email of every account and
// returns the times from their requests to the SMTP server's accept.
func timeToInbox(sink *smtptest.Server, accounts []account) *inbox {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = sink.WaitContext(ctx, len(accounts))
	at := map[string]time.Time{}
	for _, m := range sink.Messages() {
		if len(m.To) == 1 {
			if _, seen := at[m.To[0]]; !seen {
				at[m.To[0]] = m.At
			}
		}
	}
	var took []time.Duration
	for _, a := range accounts {
		if t, ok := at[a.email]; ok {
			took = append(took, t.Sub(a.sent))
		}
	}
	slices.Sort(took)
	return &inbox{Received: len(took), Missing: len(accounts) - len(took), P50: percentile(took, 0.5), P99: percentile(took, 0.99), Max: percentile(took, 1)}
}

// meter reads the CPU time of the -procs processes, of this one and of the
// machine around a phase.
type meter struct {
	needles  map[string]string
	idleRate map[string]float64 // CPU ms per second idle, by process
}

func newMeter(spec string) meter {
	m := meter{needles: map[string]string{}}
	for _, kv := range strings.Split(spec, ",") {
		if name, needle, ok := strings.Cut(kv, "="); ok {
			m.needles[name] = needle
		}
	}
	return m
}

func (m meter) read() map[string]float64 {
	out := map[string]float64{"saturate": selfCPU(), "machine": testkit.MachineBusy()}
	for name, needle := range m.needles {
		out[name] = testkit.CPUSeconds(testkit.PidsOf(needle))
		out["servers"] += out[name]
	}
	return out
}

// idle is the CPU milliseconds per second of each process (and "servers")
// over d with no load.
func (m meter) idle(d time.Duration) map[string]float64 {
	before := m.read()
	time.Sleep(d)
	after := m.read()
	out := map[string]float64{}
	for name := range m.needles {
		out[name] = (after[name] - before[name]) * 1000 / d.Seconds()
		out["servers"] += out[name]
	}
	return out
}

func (m meter) measure(phaseOf func() *phase) *phase {
	before := m.read()
	p := phaseOf()
	after := m.read()
	answered := 0
	for _, n := range p.Statuses {
		answered += n
	}
	p.CPUPerOp, p.CPUPerRequest = map[string]float64{}, map[string]float64{}
	for name, s := range after {
		if p.Succeeded > 0 {
			p.CPUPerOp[name] = (s - before[name]) * 1000 / float64(p.Succeeded)
		}
		if answered > 0 {
			p.CPUPerRequest[name] = (s - before[name]) * 1000 / float64(answered)
		}
	}
	if m.idleRate != nil && p.Succeeded > 0 {
		p.IdleCPUPerOp = map[string]float64{}
		for name, rate := range m.idleRate {
			p.IdleCPUPerOp[name] = rate * p.Seconds / float64(p.Succeeded)
		}
	}
	return p
}
