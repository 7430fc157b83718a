package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ, fixed
// for the /proc interface).
const ticksPerSecond = 100

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
		m.at[name] = cpuSeconds(pids())
	}
	m.busy = machineBusy()
	return m
}

// stop returns the use since newCPUMeter; extra adds processes measured
// otherwise (k6, from its exit status).
func (m *cpuMeter) stop(extra map[string]float64) *cpuUse {
	u := &cpuUse{WallSeconds: time.Since(m.start).Seconds(), Cores: runtime.NumCPU(), ByProcess: map[string]float64{}}
	u.Busy = machineBusy() - m.busy
	var named float64
	for name, pids := range m.procs {
		u.ByProcess[name] = max(cpuSeconds(pids())-m.at[name], 0)
		named += u.ByProcess[name]
	}
	for name, s := range extra {
		u.ByProcess[name] = s
		named += s
	}
	u.Other = max(u.Busy-named, 0)
	return u
}

// cpuSeconds sums user and system time of the processes, with that of
// their children already reaped (a PostgreSQL backend that exited).
func cpuSeconds(pids []int) float64 {
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces.
		fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		// After the name: state is field 0, utime 11, stime 12, cutime 13, cstime 14.
		for _, i := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(fields[i], 10, 64)
			ticks += v
		}
	}
	return float64(ticks) / ticksPerSecond
}

// machineBusy is the CPU seconds all cores spent on anything but idling
// since boot.
func machineBusy() float64 {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line)[1:] // user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, f := range fields {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		v, _ := strconv.ParseInt(f, 10, 64)
		busy += v
	}
	return float64(busy) / ticksPerSecond
}

// pidsOf returns the processes whose command line contains needle.
func pidsOf(needle string) func() []int {
	return func() []int {
		entries, _ := os.ReadDir("/proc")
		var out []int
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && bytes.Contains(cmdline, []byte(needle)) {
				out = append(out, pid)
			}
		}
		return out
	}
}

func pidOf(p *proc) func() []int {
	return func() []int { return []int{p.Pid()} }
}
