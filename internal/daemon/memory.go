package daemon

import (
	"os"
	"runtime"
	"strings"
	"syscall"
)

// KeepFreedMemory makes the process run with GODEBUG=madvdontneed=0, its
// default for the registrar (docs/adr/0008-password-hash-memory.md).
//
// Every password hash allocates 19 MiB. With Go's default on Linux
// (MADV_DONTNEED) the pages freed by one hash are handed back to the kernel
// and faulted in again by the next, which tripled the p99 of a registration
// at half load; MADV_FREE leaves them mapped until the kernel needs the
// memory. The runtime reads the setting only from the environment at start,
// and `//go:debug` does not offer it, so the process replaces itself
// (execve: same PID, same arguments) with the setting added, once. A
// GODEBUG that names madvdontneed already is left as it is: that is the
// operator's choice.
func KeepFreedMemory() {
	godebug := os.Getenv("GODEBUG")
	if runtime.GOOS != "linux" || strings.Contains(godebug, "madvdontneed=") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return // runs with the default, and says so (see the registrar's start)
	}
	if godebug != "" {
		godebug += ","
	}
	env := withVariable(os.Environ(), "GODEBUG", godebug+"madvdontneed=0")
	_ = syscall.Exec(exe, os.Args, env) // returns only when it failed
}

// withVariable returns environ with every entry of name replaced by one
// name=value. Appending instead would leave the operator's GODEBUG first,
// where os.Getenv finds it after the exec: the process would then replace
// itself again, forever.
func withVariable(environ []string, name, value string) []string {
	out := make([]string, 0, len(environ)+1)
	for _, kv := range environ {
		if k, _, _ := strings.Cut(kv, "="); k != name {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}
