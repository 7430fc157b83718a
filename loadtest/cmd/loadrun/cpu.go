package main

import (
	"runtime"
	"sort"
	"time"

	"github.com/acme/registrar/internal/testkit"
)

// cpuUse is where the machine's CPU time went during a scenario: every
// process of the stack, the load generator and the test's mail server share
// the same cores as the service.
type cpuUse struct {
	WallSeconds float64 `json:"wall_seconds"`
	Cores       int     `json:"cores"`
	// ByProcess is CPU seconds by process (a name stands for all its
	// processes: PostgreSQL's backends, for one).
	ByProcess map[string]float64 `json:"by_process_seconds"`
	// Busy is all CPU seconds spent on the machine (/proc/stat), Other
	// what the named processes do not account for.
	Busy  float64 `json:"busy_seconds"`
	Other float64 `json:"other_seconds"`
}

// Share is a process's part of all the machine's CPU time.
func (u *cpuUse) Share(name string) float64 {
	if u == nil || u.WallSeconds == 0 {
		return 0
	}
	return u.ByProcess[name] / (u.WallSeconds * float64(u.Cores))
}

// cpuLine is one row of the report, largest first.
type cpuLine struct {
	Name    string
	Seconds float64
	Share   float64
}

// Lines are the rows of the report: each process, then the rest and idle.
func (u *cpuUse) Lines() []cpuLine {
	total := u.WallSeconds * float64(u.Cores)
	var out []cpuLine
	for name, s := range u.ByProcess {
		out = append(out, cpuLine{name, s, s / total})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seconds > out[j].Seconds })
	idle := max(total-u.Busy, 0)
	return append(out, cpuLine{"everything else", u.Other, u.Other / total},
		cpuLine{"idle (k6 starting and stopping included)", idle, idle / total})
}

// cpuMeter reads the CPU time of named sets of processes.
type cpuMeter struct {
	procs map[string]func() []int
	start time.Time
	at    map[string]float64
	busy  float64
}

func newCPUMeter(procs map[string]func() []int) *cpuMeter {
	m := &cpuMeter{procs: procs, start: time.Now(), at: map[string]float64{}}
	for name, pids := range procs {
		m.at[name] = testkit.CPUSeconds(pids())
	}
	m.busy = testkit.MachineBusy()
	return m
}

// stop returns the use since newCPUMeter; extra adds processes measured
// otherwise (k6, from its exit status).
func (m *cpuMeter) stop(extra map[string]float64) *cpuUse {
	u := &cpuUse{WallSeconds: time.Since(m.start).Seconds(), Cores: runtime.NumCPU(), ByProcess: map[string]float64{}}
	u.Busy = testkit.MachineBusy() - m.busy
	var named float64
	for name, pids := range m.procs {
		u.ByProcess[name] = max(testkit.CPUSeconds(pids())-m.at[name], 0)
		named += u.ByProcess[name]
	}
	for name, s := range extra {
		u.ByProcess[name] = s
		named += s
	}
	u.Other = max(u.Busy-named, 0)
	return u
}

// pidsOf returns the processes whose command line contains needle.
func pidsOf(needle string) func() []int {
	return func() []int { return testkit.PidsOf(needle) }
}

func pidOf(p *proc) func() []int {
	return func() []int { return []int{p.Pid()} }
}
