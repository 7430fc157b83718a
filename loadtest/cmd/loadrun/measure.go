package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/acme/registrar/password"
)

// ceiling is what the machine can do with the password hash alone.
type ceiling struct {
	// HashesPerSecond with one hash per core, every core busy: no service
	// can register faster.
	HashesPerSecond float64 `json:"hashes_per_second"`
	// HashMillis is the median time of one hash on an otherwise idle core.
	HashMillis float64 `json:"hash_ms"`
	Params     string  `json:"params"`
}

// measureCeiling hashes with the production parameters: first one at a time
// (latency), then on every core for d (throughput), with the same package
// the service uses.
func measureCeiling(d time.Duration) ceiling {
	h, err := password.NewHasher(password.Config{MaxWait: time.Hour})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	var single []time.Duration
	for range 31 {
		start := time.Now()
		_, _ = h.Hash(ctx, "correct horse battery staple")
		single = append(single, time.Since(start))
	}
	sort.Slice(single, func(i, j int) bool { return single[i] < single[j] })

	var n atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for time.Now().Before(stop) {
				_, _ = h.Hash(ctx, "correct horse battery staple")
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return ceiling{
		HashesPerSecond: float64(n.Load()) / time.Since(start).Seconds(),
		HashMillis:      float64(single[len(single)/2].Microseconds()) / 1000,
		Params:          password.OWASP.String(),
	}
}

type machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemoryGiB int    `json:"memory_gib"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	K6        string `json:"k6"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		_ = f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int
				for _, c := range strings.Fields(v)[0] {
					kb = kb*10 + int(c-'0')
				}
				m.MemoryGiB = (kb + (1 << 19)) >> 20
				break
			}
		}
		_ = f.Close()
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("bin/k6", "version").Output(); err == nil {
		m.K6 = strings.Fields(string(out))[1]
	}
	return m
}

type results struct {
	Date      string            `json:"date"`
	Machine   machine           `json:"machine"`
	Config    map[string]string `json:"config"`
	Embedded  *stackResult      `json:"embedded"`
	FullStack *stackResult      `json:"full_stack,omitempty"`
}

type stackResult struct {
	Name          string    `json:"name"`
	Ceiling       ceiling   `json:"ceiling"`
	Registrations rate      `json:"registrations_at_saturation"`
	CPU           *cpuUse   `json:"cpu_at_saturation"`
	Activations   rate      `json:"activations_at_saturation"`
	HalfLoad      halfLoad  `json:"half_load"`
	Flow          *flow     `json:"flow"`
	CheapHash     *cheap    `json:"cheapest_hash,omitempty"`
	Memory        *memory   `json:"memory,omitempty"`
	Overload      *overload `json:"overload,omitempty"`
}

// OfRegistrarCPU is the registrations per second at saturation over the
// ceiling scaled to the CPU the registrar got during the run: how well it
// used what the other processes left it.
func (s *stackResult) OfRegistrarCPU() float64 {
	r := s.Registrations
	if s.CPU == nil || r.Seconds == 0 || s.CPU.Cores == 0 {
		return 0
	}
	cores := s.CPU.ByProcess["registrar"] / r.Seconds // the registrar only works while k6 runs
	return r.PerSecond / (s.Ceiling.HashesPerSecond * cores / float64(s.CPU.Cores))
}

type rate struct {
	Count        int     `json:"count"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"per_second"`
	OfCeiling    float64 `json:"of_ceiling"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	Errors       int     `json:"errors"`
	ThresholdsOK bool    `json:"thresholds_ok"`
}

type halfLoad struct {
	Rate             int         `json:"rate_per_second"`
	Latency          percentiles `json:"latency"`
	TargetP99        float64     `json:"target_p99_ms"`
	Failed           int         `json:"failed"`
	InboxFromRequest percentiles `json:"inbox_from_request"`
	InboxFrom201     percentiles `json:"inbox_from_201"`
	ThresholdsOK     bool        `json:"thresholds_ok"`
}

// flow is flow.js: whole user journeys at a steady rate.
type flow struct {
	Rate         int     `json:"journeys_per_second"`
	Journeys     int     `json:"journeys"`
	P50          float64 `json:"p50_ms"`
	P99          float64 `json:"p99_ms"`
	Checks       float64 `json:"checks_passed"` // share of the script's checks that passed
	ThresholdsOK bool    `json:"thresholds_ok"`
}

type cheap struct {
	Rate rate    `json:"registrations"`
	CPU  *cpuUse `json:"cpu"`
	// RegistrarMillis is the registrar's CPU time per registration.
	RegistrarMillis float64 `json:"registrar_cpu_ms_per_registration"`
	ProfileTop      string  `json:"profile_top"`
}

type memory struct {
	Registrations int     `json:"registrations"`
	PeakActors    float64 `json:"actors_at_end_of_burst"`
	BaselineRSS   int64   `json:"baseline_rss_bytes"`
	BaselineHeap  int64   `json:"baseline_heap_inuse_bytes"`
	RSS           int64   `json:"rss_bytes"`
	LazyFree      int64   `json:"lazy_free_bytes"`
	HeapInuse     int64   `json:"heap_inuse_bytes"`
	// PerRegistration counts resident memory the kernel cannot take back
	// (RSS minus LazyFree); PerRegistrationRSS counts all of it.
	PerRegistration    float64 `json:"resident_bytes_per_registration"`
	PerRegistrationRSS float64 `json:"rss_bytes_per_registration"`
}

type overload struct {
	Rate              int     `json:"rate_per_second"`
	Requests          int     `json:"requests"`
	Accepted          int     `json:"accepted"`
	AcceptedPerSecond float64 `json:"accepted_per_second"`
	Shed              int     `json:"shed_503"`
	Other             int     `json:"other_errors"`
	ShedShare         float64 `json:"shed_share"`
	AcceptedP99       float64 `json:"accepted_p99_ms"`
	PeakRSS           int64   `json:"peak_rss_bytes"`
	Survived          bool    `json:"survived"`
	ThresholdsOK      bool    `json:"thresholds_ok"`
}
