// Command saturate is a light load client (keep-alive HTTP, no scripting
// engine): it registers fresh accounts against one or more registrars,
// closed-loop (as fast as they answer, -concurrency at a time) or
// open-loop (-rate per second), and measures the argon2id ceiling of this
// machine (the hash alone on every core) before and after, in the same
// run, so the result is a ratio the machine's mood does not change.
//
//	go run ./loadtest/cmd/saturate -targets http://127.0.0.1:8080 -duration 20s
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
	"github.com/acme/registrar/password"
)

type result struct {
	Targets           []string       `json:"targets"`
	Mode              string         `json:"mode"`
	Seconds           float64        `json:"seconds"`
	Created           int            `json:"created"`
	PerSecond         float64        `json:"registrations_per_second"`
	CeilingBefore     float64        `json:"ceiling_before"`
	CeilingAfter      float64        `json:"ceiling_after"`
	OfCeiling         float64        `json:"of_ceiling"`
	Latency           map[string]any `json:"latency_ms"`
	Statuses          map[int]int    `json:"statuses"`
	TransportFailures int            `json:"transport_failures"`
}

func main() {
	daemon.KeepFreedMemory() // the ceiling hashes as the registrar does
	targets := flag.String("targets", "http://127.0.0.1:8080", "comma-separated base URLs, used in turn")
	duration := flag.Duration("duration", 20*time.Second, "length of the load")
	concurrency := flag.Int("concurrency", 2*runtime.NumCPU()*4, "requests in flight (closed loop)")
	rate := flag.Float64("rate", 0, "requests per second (open loop); 0: closed loop")
	ceilingTime := flag.Duration("ceiling", 10*time.Second, "how long the hash ceiling is measured, before and after")
	flag.Parse()
	res := result{Targets: strings.Split(*targets, ","), Statuses: map[int]int{}}
	res.CeilingBefore = ceiling(*ceilingTime)
	lat, elapsed := load(res.Targets, *duration, *concurrency, *rate, &res)
	res.CeilingAfter = ceiling(*ceilingTime)
	res.Seconds = elapsed.Seconds()
	res.Created = res.Statuses[http.StatusCreated]
	res.PerSecond = float64(res.Created) / res.Seconds
	res.OfCeiling = res.PerSecond / ((res.CeilingBefore + res.CeilingAfter) / 2)
	res.Mode = "closed loop"
	if *rate > 0 {
		res.Mode = fmt.Sprintf("open loop at %.1f/s", *rate)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	res.Latency = map[string]any{"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1)}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		log.Fatal(err)
	}
}

// ceiling is argon2id hashes per second with every core hashing (OWASP
// parameters, as the registrar hashes).
func ceiling(d time.Duration) float64 {
	h, err := password.NewHasher(password.Config{MaxWait: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	var n atomic.Int64
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
	return float64(n.Load()) / time.Since(start).Seconds()
}

// load sends registrations until d has passed and returns the latencies of
// the 201s.
func load(targets []string, d time.Duration, concurrency int, rate float64, res *result) ([]time.Duration, time.Duration) {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		seq  atomic.Int64
		wg   sync.WaitGroup
		stop = time.Now().Add(d)
	)
	prefix := make([]byte, 4)
	_, _ = rand.Read(prefix)
	one := func() {
		i := seq.Add(1)
		body := fmt.Sprintf(`{"email":"load-%s-%d@example.com","password":"correct horse battery staple %d"}`, hex.EncodeToString(prefix), i, i)
		start := time.Now()
		r, err := client.Post(targets[int(i)%len(targets)]+"/v1/users", "application/json", strings.NewReader(body))
		took := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			res.TransportFailures++
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
		res.Statuses[r.StatusCode]++
		if r.StatusCode == http.StatusCreated {
			lat = append(lat, took)
		}
	}
	begin := time.Now()
	if rate > 0 {
		every := time.Duration(float64(time.Second) / rate)
		for next := begin; next.Before(stop); next = next.Add(every) {
			time.Sleep(time.Until(next))
			wg.Go(one)
		}
	} else {
		for range concurrency {
			wg.Go(func() {
				for time.Now().Before(stop) {
					one()
				}
			})
		}
	}
	wg.Wait()
	return lat, time.Since(begin)
}
