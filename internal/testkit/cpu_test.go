package testkit

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCPUSecondsOfThisProcessGrow(t *testing.T) {
	self := []int{os.Getpid()}
	before := CPUSeconds(self)
	for deadline := time.Now().Add(30 * time.Second); CPUSeconds(self) <= before && time.Now().Before(deadline); {
		_ = strings.Repeat("spin", 1000)
	}
	assert.Greater(t, CPUSeconds(self), before)
	assert.Positive(t, MachineBusy())

	child := exec.Command("sleep", "60")
	require.NoError(t, child.Start())
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	assert.Contains(t, PidsOf("sleep"), child.Process.Pid)
	assert.NotContains(t, PidsOf(os.Args[0]), os.Getpid(), "never itself")
}
