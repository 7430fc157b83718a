package daemon

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keepFreedHelper is set when this test binary runs as the process under
// test; execsSoFar counts how often it has started.
const (
	keepFreedHelper = "DAEMON_TEST_KEEP_FREED_MEMORY"
	execsSoFar      = "DAEMON_TEST_EXECS"
)

func TestMain(m *testing.M) {
	if os.Getenv(keepFreedHelper) != "" {
		n, _ := strconv.Atoi(os.Getenv(execsSoFar))
		if n > 1 { // KeepFreedMemory replaced the process more than once
			os.Stdout.WriteString("looped\n")
			os.Exit(3)
		}
		_ = os.Setenv(execsSoFar, strconv.Itoa(n+1))
		KeepFreedMemory()
		var godebug []string
		for _, kv := range os.Environ() {
			if strings.HasPrefix(kv, "GODEBUG=") {
				godebug = append(godebug, kv)
			}
		}
		os.Stdout.WriteString(os.Getenv(execsSoFar) + " " + strings.Join(godebug, " ") + "\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKeepFreedMemoryReplacesTheProcessOnceKeepingTheOperatorsGODEBUG(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MADV_FREE is the Linux runtime's setting")
	}
	for godebug, want := range map[string]string{
		"":                             "2 GODEBUG=madvdontneed=0",
		"gctrace=0":                    "2 GODEBUG=gctrace=0,madvdontneed=0",
		"madvdontneed=1":               "1 GODEBUG=madvdontneed=1", // the operator's choice stands
		"gctrace=0,madvdontneed=0,x=1": "1 GODEBUG=gctrace=0,madvdontneed=0,x=1",
	} {
		t.Run(godebug, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = []string{keepFreedHelper + "=1", "PATH=" + os.Getenv("PATH")}
			if godebug != "" {
				cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
			}
			out, err := cmd.Output()
			require.NoError(t, err, "output: %s", out)
			assert.Equal(t, want, strings.TrimSpace(string(out)))
		})
	}
}

func TestWithVariableReplacesEveryEntryOfTheName(t *testing.T) {
	got := withVariable([]string{"A=1", "GODEBUG=x=1", "GODEBUGX=2", "GODEBUG=y=1"}, "GODEBUG", "z=1")
	assert.Equal(t, []string{"A=1", "GODEBUGX=2", "GODEBUG=z=1"}, got)
}
