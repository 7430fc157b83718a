package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/registrar/internal/testkit"
)

type runner struct {
	cfg config
	dir string
	n   int // scenario counter, for file names
}

func (r *runner) file(name string) string {
	r.n++
	return filepath.Join(r.dir, fmt.Sprintf("%02d-%s", r.n, name))
}

// service is a registrar (and, for the full stack, a mailer) under test.
type service struct {
	registrar *proc
	mailer    *proc
	base      string
	pprof     string
}

// processes are what shares the machine's CPU with the service during a
// run, by name.
func (s *service) processes(mp *mailpit) map[string]func() []int {
	procs := map[string]func() []int{"registrar": pidOf(s.registrar), "Mailpit (test mail server)": pidOf(mp.proc)}
	if s.mailer != nil {
		procs["mailer"] = pidOf(s.mailer)
		procs["Kafka"] = pidsOf("kafka.Kafka")
		procs["PostgreSQL"] = pidsOf("postgres")
	}
	return procs
}

func (s *service) stop() {
	if s.registrar != nil {
		s.registrar.stop()
	}
	if s.mailer != nil {
		s.mailer.stop()
	}
}

// startRegistrar runs bin/registrar with env on fresh ports.
func (r *runner) startRegistrar(ctx context.Context, name string, env []string) (*service, error) {
	pprof, err := testkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	addr, err := testkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &service{pprof: pprof, base: "http://" + addr}
	// The binary as users start it: its own defaults (GODEBUG included,
	// daemon.KeepFreedMemory), and only what the scenario needs to reach it.
	env = append([]string{"HTTP_ADDR=" + addr, "RATE_LIMIT_PER_IP=0", "LOG_FORMAT=json", "PPROF_ADDR=" + s.pprof}, env...)
	p, err := startProc(name, filepath.Join("bin", "registrar"), nil, env, r.file(name+".log"))
	if err != nil {
		return nil, err
	}
	s.registrar = p
	if err := testkit.WaitHTTP(ctx, s.base+"/readyz", 90*time.Second, p.Process); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// sqliteEnv is the embedded configuration, with its own database.
func (r *runner) sqliteEnv(name string, extra ...string) []string {
	return append([]string{"DATABASE_URL=sqlite:" + filepath.Join(r.dir, name, "registrar.db")}, extra...)
}

// embedded measures the embedded service: SQLite, in-process bus and mailer.
func (r *runner) embedded(ctx context.Context) (*stackResult, error) {
	res := &stackResult{Name: "embedded (SQLite, in-process bus and mailer)"}
	mp, err := startMailpit(r.dir)
	if err != nil {
		return nil, err
	}
	defer mp.proc.stop()
	smtp := "SMTP_URL=smtp://" + mp.smtp

	log.Print("embedded: measuring the hash ceiling")
	res.Ceiling = measureCeiling(r.cfg.ceilingTime)
	log.Printf("ceiling: %.1f hashes/s on all cores, %.2f ms per hash on one", res.Ceiling.HashesPerSecond, res.Ceiling.HashMillis)

	svc, err := r.startRegistrar(ctx, "embedded", r.sqliteEnv("embedded", smtp, "CODE_TTL=10m"))
	if err != nil {
		return nil, err
	}
	if err := r.capacityScenarios(ctx, res, svc, mp); err != nil {
		svc.stop()
		return nil, err
	}
	svc.stop()

	if err := r.cheapHash(ctx, res); err != nil {
		return nil, err
	}
	if err := r.memory(ctx, res); err != nil {
		return nil, err
	}
	if err := r.overload(ctx, res, smtp); err != nil {
		return nil, err
	}
	return res, nil
}

// capacityScenarios measures registrations and activations at saturation,
// then latency and time to inbox at half the ceiling.
func (r *runner) capacityScenarios(ctx context.Context, res *stackResult, svc *service, mp *mailpit) error {
	dur := r.cfg.duration
	log.Print(res.Name + ": registrations at saturation")
	_ = mp.clear()
	meter := newCPUMeter(svc.processes(mp))
	sat, err := runK6(r.dir, r.name(res, "register-saturate"), "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "saturate", "VUS": "8", "DURATION": dur.String(), "RUN_ID": runID(),
	}, "")
	if err != nil {
		return err
	}
	res.Registrations = saturation(sat, "http_req_duration{expected_response:true}", dur, res.Ceiling)
	res.CPU = meter.stop(map[string]float64{"k6 (load generator)": sat.CPUSeconds})
	log.Printf("registrations: %.1f/s = %.2f of the ceiling", res.Registrations.PerSecond, res.Registrations.OfCeiling)

	log.Print(res.Name + ": activations at saturation")
	accounts, err := r.prepareAccounts(ctx, svc.base, mp, int(math.Ceil(res.Ceiling.HashesPerSecond*dur.Seconds())))
	if err != nil {
		return err
	}
	act, err := runK6(r.dir, r.name(res, "activate-saturate"), "activate.js", map[string]string{
		"BASE_URL": svc.base, "VUS": "8", "ACCOUNTS": accounts,
	}, "")
	if err != nil {
		return err
	}
	// Shared iterations end when the accounts run out: the elapsed time is
	// the iterations over their rate.
	elapsed := act.Summary.value("iterations", "count") / act.Summary.value("iterations", "rate")
	res.Activations = saturation(act, "http_req_duration{expected_response:true}", time.Duration(elapsed*float64(time.Second)), res.Ceiling)
	log.Printf("activations: %.1f/s = %.2f of the ceiling", res.Activations.PerSecond, res.Activations.OfCeiling)

	rate := int(math.Round(res.Ceiling.HashesPerSecond / 2))
	log.Printf("%s: %d registrations/s (half the ceiling), after a warm-up at that rate", res.Name, rate)
	if _, err := runK6(r.dir, r.name(res, "register-half-warmup"), "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "rate", "RATE": fmt.Sprint(rate), "DURATION": "5s", "RUN_ID": runID(), "P99_MS": "100000",
	}, ""); err != nil {
		return err
	}
	_ = mp.clear()
	samples := r.file(r.name(res, "half-load-samples.json"))
	half, err := runK6(r.dir, r.name(res, "register-half"), "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "rate", "RATE": fmt.Sprint(rate), "DURATION": dur.String(), "RUN_ID": runID(),
		"P99_MS": fmt.Sprint(int(3 * res.Ceiling.HashMillis)),
	}, samples)
	if err != nil {
		return err
	}
	res.HalfLoad, err = r.halfLoad(half, samples, mp, rate, res.Ceiling)
	if err != nil {
		return err
	}
	log.Printf("half load: p99 %.1f ms; request to inbox p99 %.1f ms", res.HalfLoad.Latency.P99, res.HalfLoad.InboxFromRequest.P99)

	// A journey hashes twice (register, activate): a quarter of the ceiling
	// in journeys is half of it in hashes.
	journeys := max(1, int(math.Round(res.Ceiling.HashesPerSecond/4)))
	log.Printf("%s: %d user journeys/s (register, code from Mailpit, activate)", res.Name, journeys)
	// The journeys search Mailpit for their codes several times each: on the
	// emails of the earlier scenarios its searches took CPU from the hashes
	// (1 % of the full stack's requests were shed as overloaded).
	_ = mp.clear()
	fl, err := runK6(r.dir, r.name(res, "flow"), "flow.js", map[string]string{
		"BASE_URL": svc.base, "MAILPIT_URL": mp.url(), "RATE": fmt.Sprint(journeys), "DURATION": dur.String(), "RUN_ID": runID(),
	}, "")
	if err != nil {
		return err
	}
	res.Flow = &flow{
		Rate: journeys, Journeys: int(fl.Summary.value("journey_duration", "count")),
		P50: fl.Summary.value("journey_duration", "med"), P99: fl.Summary.value("journey_duration", "p(99)"),
		Checks: fl.Summary.value("checks", "value"), ThresholdsOK: fl.ThresholdsOK,
	}
	log.Printf("journeys: p99 %.0f ms, checks %.3f", res.Flow.P99, res.Flow.Checks)
	return nil
}

func (r *runner) name(res *stackResult, s string) string {
	if strings.HasPrefix(res.Name, "embedded") {
		return "embedded-" + s
	}
	return "full-" + s
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func saturation(run k6Run, accepted string, elapsed time.Duration, c ceiling) rate {
	n := run.Summary.value(accepted, "count")
	rt := rate{Count: int(n), Seconds: elapsed.Seconds(), ThresholdsOK: run.ThresholdsOK,
		P50: run.Summary.value(accepted, "med"), P99: run.Summary.value(accepted, "p(99)")}
	if elapsed > 0 {
		rt.PerSecond = n / elapsed.Seconds()
	}
	if c.HashesPerSecond > 0 {
		rt.OfCeiling = rt.PerSecond / c.HashesPerSecond
	}
	rt.Errors = int(run.Summary.value("http_reqs", "count") - n)
	return rt
}

// prepareAccounts registers n accounts (concurrently, as fast as the
// service takes them) and reads their codes from Mailpit, for the
// activation scenario. It returns the path of the accounts file.
func (r *runner) prepareAccounts(ctx context.Context, base string, mp *mailpit, n int) (string, error) {
	_ = mp.clear()
	id := runID()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				body := fmt.Sprintf(`{"email":"act-%s-%d@load.test","password":"correct horse battery staple"}`, id, i)
				res, err := http.Post(base+"/v1/users", "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				_ = res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("prepare account %d: status %d", i, res.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	msgs, err := mp.waitMessages(n, 2*time.Minute)
	if err != nil {
		return "", err
	}
	type account struct {
		Email string `json:"email"`
		Code  string `json:"code"`
	}
	var accounts []account
	for _, m := range msgs {
		accounts = append(accounts, account{Email: m.to, Code: m.code})
	}
	path := r.file("accounts.json")
	raw, err := json.Marshal(accounts)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return abs, os.WriteFile(abs, raw, 0o600)
}

// halfLoad reads latency from k6 and matches each registration with the
// moment Mailpit received its email.
func (r *runner) halfLoad(run k6Run, samples string, mp *mailpit, rateN int, c ceiling) (halfLoad, error) {
	h := halfLoad{Rate: rateN, ThresholdsOK: run.ThresholdsOK, TargetP99: 3 * c.HashMillis}
	m := "http_req_duration{expected_response:true}"
	h.Latency = percentiles{
		Count: int(run.Summary.value(m, "count")), P50: run.Summary.value(m, "med"),
		P95: run.Summary.value(m, "p(95)"), P99: run.Summary.value(m, "p(99)"), Max: run.Summary.value(m, "max"),
	}
	h.Failed = int(run.Summary.value("http_reqs", "count")) - h.Latency.Count
	times, err := requestTimes(samples)
	if err != nil {
		return h, err
	}
	msgs, err := mp.waitMessages(len(times), time.Minute)
	if err != nil {
		return h, err
	}
	var fromRequest, fromAnswer []time.Duration
	for _, msg := range msgs {
		t, ok := times[msg.to]
		if !ok {
			continue
		}
		fromRequest = append(fromRequest, msg.received.Sub(t[0]))
		fromAnswer = append(fromAnswer, msg.received.Sub(t[1]))
	}
	h.InboxFromRequest, h.InboxFrom201 = summarize(fromRequest), summarize(fromAnswer)
	return h, os.Remove(samples) // large; the figures are kept
}

// cheapHashEnv is the cheapest argon2id setting, and a hashing queue long
// enough for 32 clients: these runs measure the rest of the path, not
// shedding.
var cheapHashEnv = []string{"PASSWORD_HASH_PARAMS=m=8,t=1,p=1", "PASSWORD_HASH_BENCHMARK=true", "HASH_MAX_QUEUE=64"}

// cheapHash runs registrations at saturation with the cheapest argon2id
// setting: what the rest of the path costs, with a CPU profile of it.
func (r *runner) cheapHash(ctx context.Context, res *stackResult) error {
	log.Print("embedded: the path without the hash's cost")
	svc, err := r.startRegistrar(ctx, "cheap", r.sqliteEnv("cheap", cheapHashEnv...))
	if err != nil {
		return err
	}
	defer svc.stop()
	profile := r.file("cpu-cheap-hash.pprof")
	profDone := make(chan error, 1)
	go func() {
		time.Sleep(r.cfg.duration / 4)
		profDone <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", svc.pprof, int(r.cfg.duration.Seconds()/2)), profile)
	}()
	meter := newCPUMeter(map[string]func() []int{"registrar": pidOf(svc.registrar)})
	run, err := runK6(r.dir, "embedded-cheap-hash", "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "saturate", "VUS": "32", "DURATION": r.cfg.duration.String(), "RUN_ID": runID(),
	}, "")
	if err != nil {
		return err
	}
	c := &cheap{Rate: saturation(run, "http_req_duration{expected_response:true}", r.cfg.duration, ceiling{}),
		CPU: meter.stop(map[string]float64{"k6 (load generator)": run.CPUSeconds})}
	if c.Rate.Count > 0 {
		c.RegistrarMillis = 1000 * c.CPU.ByProcess["registrar"] / float64(c.Rate.Count)
	}
	if err := <-profDone; err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=25", "bin/registrar", profile).Output()
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	c.ProfileTop = string(top)
	if err := copyFile(profile, filepath.Join(r.cfg.out, "cpu-cheap-hash.pprof")); err != nil {
		return err
	}
	res.CheapHash = c
	log.Printf("cheap hash: %.0f registrations/s", c.Rate.PerSecond)
	return nil
}

// memory registers many accounts with the cheapest hash, waits for their
// actors to go idle, and reads the resident memory.
func (r *runner) memory(ctx context.Context, res *stackResult) error {
	log.Printf("embedded: memory after %d pending registrations", r.cfg.memoryRegs)
	svc, err := r.startRegistrar(ctx, "memory", r.sqliteEnv("memory", append(cheapHashEnv, "CODE_TTL=20s", "ACTOR_IDLE_TIMEOUT=5s")...))
	if err != nil {
		return err
	}
	defer svc.stop()
	metrics := svc.base + "/metrics"
	// Warm up the pools and caches before the baseline.
	if _, err := runK6(r.dir, "memory-warmup", "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "count", "VUS": "4", "ITERATIONS": "200", "RUN_ID": runID(),
	}, ""); err != nil {
		return err
	}
	if err := waitIdle(ctx, metrics, 2*time.Minute); err != nil {
		return err
	}
	if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", svc.pprof), os.DevNull); err != nil {
		return err
	}
	m := &memory{Registrations: r.cfg.memoryRegs}
	baseHeap, _ := testkit.Metric(ctx, metrics, "go_memstats_heap_inuse_bytes")
	m.BaselineHeap = int64(baseHeap)
	m.BaselineRSS, _ = svc.registrar.rss()
	baseLazy, _ := svc.registrar.lazyFree()
	run, err := runK6(r.dir, "memory-register", "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "count", "VUS": "32", "ITERATIONS": fmt.Sprint(r.cfg.memoryRegs), "RUN_ID": runID(),
	}, "")
	if err != nil {
		return err
	}
	if got := int(run.Summary.value("http_req_duration{expected_response:true}", "count")); got != r.cfg.memoryRegs {
		return fmt.Errorf("memory scenario: %d registrations accepted, want %d", got, r.cfg.memoryRegs)
	}
	m.PeakActors, _ = testkit.Metric(ctx, metrics, "registrar_actors")
	if err := waitIdle(ctx, metrics, 5*time.Minute); err != nil {
		return err
	}
	// The in-process mailer remembers each sent email until its code
	// expires; the figure is the memory of the pending registrations, so it
	// is read once that memory has been pruned (mailer.Memory, on a timer).
	if err := waitMetrics(ctx, metrics, 2*time.Minute, map[string]float64{"mailer_dedupe_entries": 0}); err != nil {
		return err
	}
	// An idle service rarely collects.
	if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", svc.pprof), os.DevNull); err != nil {
		return err
	}
	m.RSS, _ = svc.registrar.rss()
	m.LazyFree, _ = svc.registrar.lazyFree()
	heap, _ := testkit.Metric(ctx, metrics, "go_memstats_heap_inuse_bytes")
	m.HeapInuse = int64(heap)
	m.PerRegistration = float64((m.RSS-m.LazyFree)-(m.BaselineRSS-baseLazy)) / float64(m.Registrations)
	m.PerRegistrationRSS = float64(m.RSS-m.BaselineRSS) / float64(m.Registrations)
	res.Memory = m
	log.Printf("memory: %.0f bytes of RSS per pending registration (heap in use %d MiB)", m.PerRegistration, m.HeapInuse>>20)
	return nil
}

// waitIdle waits until every actor is passivated and the outbox is empty.
func waitIdle(ctx context.Context, metrics string, d time.Duration) error {
	return waitMetrics(ctx, metrics, d, map[string]float64{"registrar_actors": 0, "registrar_outbox_oldest_age_seconds": 0})
}

// waitMetrics polls a /metrics endpoint until every named sample has its
// value, for at most d.
func waitMetrics(ctx context.Context, url string, d time.Duration, want map[string]float64) error {
	deadline := time.Now().Add(d)
	for {
		var differ []string
		for name, v := range want {
			if got, err := testkit.Metric(ctx, url, name); err != nil || got != v {
				differ = append(differ, fmt.Sprintf("%s=%v (want %v, %v)", name, got, v, err))
			}
		}
		if len(differ) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %s", d, strings.Join(differ, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// overload sends five times the measured capacity.
func (r *runner) overload(ctx context.Context, res *stackResult, smtp string) error {
	target := int(math.Round(5 * res.Registrations.PerSecond))
	log.Printf("embedded: overload at %d registrations/s (5x capacity)", target)
	svc, err := r.startRegistrar(ctx, "overload", r.sqliteEnv("overload", smtp))
	if err != nil {
		return err
	}
	defer svc.stop()
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() { peak <- svc.registrar.peakRSS(done) }()
	run, err := runK6(r.dir, "embedded-overload", "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "overload", "RATE": fmt.Sprint(target), "DURATION": r.cfg.duration.String(), "RUN_ID": runID(),
	}, "")
	close(done)
	if err != nil {
		return err
	}
	o := &overload{Rate: target, ThresholdsOK: run.ThresholdsOK, PeakRSS: <-peak}
	o.Accepted = int(run.Summary.value("http_req_duration{expected_response:true}", "count"))
	o.Shed = int(run.Summary.value("overloaded_answers", "count"))
	o.Other = int(run.Summary.value("unexpected_answers", "count"))
	o.Requests = int(run.Summary.value("http_reqs", "count"))
	if o.Requests > 0 {
		o.ShedShare = float64(o.Shed) / float64(o.Requests)
	}
	o.AcceptedP99 = run.Summary.value("http_req_duration{expected_response:true}", "p(99)")
	o.AcceptedPerSecond = float64(o.Accepted) / r.cfg.duration.Seconds()
	o.Survived = svc.registrar.Alive() && testkit.WaitHTTP(ctx, svc.base+"/readyz", 10*time.Second, svc.registrar.Process) == nil
	res.Overload = o
	log.Printf("overload: %.0f%% shed, accepted p99 %.0f ms, peak RSS %d MiB, other errors %d, survived %v",
		100*o.ShedShare, o.AcceptedP99, o.PeakRSS>>20, o.Other, o.Survived)
	return nil
}

// fullStack measures registrars and mailers on PostgreSQL and Kafka (the
// services of scripts/services.sh), with Mailpit as the mail server.
func (r *runner) fullStack(ctx context.Context) (*stackResult, error) {
	res := &stackResult{Name: "full stack (PostgreSQL, Kafka, separate mailer)"}
	if out, err := exec.Command("./scripts/services.sh", "up").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("services: %w\n%s", err, out)
	}
	dbURL, brokers, dropDatabase, err := r.freshDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer dropDatabase()
	mp, err := startMailpit(filepath.Join(r.dir))
	if err != nil {
		return nil, err
	}
	defer mp.proc.stop()

	log.Print("full stack: measuring the hash ceiling")
	res.Ceiling = measureCeiling(r.cfg.ceilingTime)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	prefix := "load-" + runID() + "."
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := testkit.DeleteKafkaTopics(ctx, strings.Split(brokers, ","), prefix); err != nil {
			log.Printf("the run's topics %s* are left on the broker: %v", prefix, err)
		}
	}()
	mailerAddr, err := testkit.FreeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers, "KAFKA_TOPIC_PREFIX=" + prefix,
		"CODE_HMAC_KEY=" + hex.EncodeToString(key), "SMTP_URL=smtp://" + mp.smtp, "CODE_TTL=10m",
		"MAILER_GROUP_ID=load-" + runID(), "MAILER_HTTP_ADDR=" + mailerAddr}
	mailer, err := startProc("mailer", filepath.Join("bin", "mailer"), nil, append(env, "LOG_FORMAT=json"), r.file("mailer.log"))
	if err != nil {
		return nil, err
	}
	svc, err := r.startRegistrar(ctx, "full", env)
	if err != nil {
		mailer.stop()
		return nil, err
	}
	svc.mailer = mailer
	defer svc.stop()
	// A broker that has just started runs Kafka's code in the JVM's
	// interpreter: measured cold, Kafka took 14 % of the machine at
	// saturation instead of 5-7 %, and the p99 at half the ceiling tripled.
	// A broker in service has long compiled its hot paths.
	rate := int(math.Round(res.Ceiling.HashesPerSecond / 2))
	log.Printf("full stack: warm-up, %s at %d registrations/s (the JVM compiles Kafka's hot paths)", r.cfg.duration, rate)
	if _, err := runK6(r.dir, "full-warmup", "register.js", map[string]string{
		"BASE_URL": svc.base, "MODE": "rate", "RATE": fmt.Sprint(rate), "DURATION": r.cfg.duration.String(), "RUN_ID": runID(), "P99_MS": "100000",
	}, ""); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	if err := r.capacityScenarios(ctx, res, svc, mp); err != nil {
		return nil, err
	}
	return res, nil
}

// freshDatabase creates an empty database for the run on the local
// PostgreSQL and returns its URL, the Kafka brokers and a function that
// drops the database.
func (r *runner) freshDatabase(ctx context.Context) (dbURL, brokers string, drop func(), err error) {
	out, err := exec.Command("./scripts/services.sh", "env").Output()
	if err != nil {
		return "", "", nil, err
	}
	vars := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			vars[k] = strings.Trim(v, "'")
		}
	}
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, vars["DATABASE_URL"])
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, sql)
		return err
	}
	name := "registrar_load_" + runID()
	if err := admin(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", nil, err
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			log.Printf("the run's database %s is left: %v", name, err)
		}
	}
	u, err := url.Parse(vars["DATABASE_URL"])
	if err != nil {
		drop()
		return "", "", nil, fmt.Errorf("DATABASE_URL of scripts/services.sh: %w", err)
	}
	u.Path = "/" + name // the same server and credentials, the run's database
	return u.String(), vars["KAFKA_BROKERS"], drop, nil
}

func fetch(url, path string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, res.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadFrom(res.Body)
	return err
}

func copyFile(from, to string) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, raw, 0o644)
}
