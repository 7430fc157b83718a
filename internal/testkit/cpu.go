package testkit

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ, fixed
// for the /proc interface).
const ticksPerSecond = 100

// CPUSeconds sums the user and system time of the processes (Linux), with
// that of their children already reaped (a PostgreSQL backend that exited).
// A process that is gone counts nothing.
func CPUSeconds(pids []int) float64 {
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

// MachineBusy is the CPU seconds all cores spent on anything but idling
// since boot (Linux).
func MachineBusy() float64 {
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

// PidsOf returns the processes, other than this one, whose command line
// contains needle (Linux).
func PidsOf(needle string) []int {
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
