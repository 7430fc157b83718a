package testkit

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func shell(t *testing.T, script string, out *Buffer) *Process {
	t.Helper()
	p, err := StartProcess("sh", "sh", []string{"-c", script}, nil, out, out)
	require.NoError(t, err)
	t.Cleanup(p.Kill)
	return p
}

func TestProcessInheritsNothingButPath(t *testing.T) {
	t.Setenv("REGISTRAR_TUNING", "set in the developer's shell")
	var out Buffer
	p := shell(t, `echo "tuning=[$REGISTRAR_TUNING]"`, &out)
	<-p.Exited()
	require.NoError(t, p.Err())
	assert.Equal(t, "tuning=[]\n", out.String())
}

func TestProcessStop(t *testing.T) {
	t.Run("a process that exits on SIGTERM", func(t *testing.T) {
		var out Buffer
		p := shell(t, `trap 'echo stopping; exit 0' TERM; echo up; while :; do sleep 0.05; done`, &out)
		require.Eventually(t, func() bool { return out.String() == "up\n" }, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, p.Stop(10*time.Second))
		assert.False(t, p.Alive())
		assert.Contains(t, out.String(), "stopping")
	})
	t.Run("a process that ignores it is killed after the grace", func(t *testing.T) {
		var out Buffer
		p := shell(t, `trap '' TERM; echo up; while :; do sleep 0.05; done`, &out)
		require.Eventually(t, func() bool { return out.String() == "up\n" }, 10*time.Second, 10*time.Millisecond)
		err := p.Stop(200 * time.Millisecond)
		assert.ErrorIs(t, err, ErrKilled)
		assert.False(t, p.Alive())
	})
	t.Run("the exit status is returned", func(t *testing.T) {
		p := shell(t, `exit 3`, &Buffer{})
		<-p.Exited()
		var exit interface{ ExitCode() int }
		require.True(t, errors.As(p.Stop(time.Second), &exit))
		assert.Equal(t, 3, exit.ExitCode())
	})
}

func TestStartProcessMissingBinary(t *testing.T) {
	_, err := StartProcess("ghost", "/nonexistent/ghost", nil, nil, nil, nil)
	assert.ErrorContains(t, err, "start ghost")
}

func TestFreeAddrIsBindable(t *testing.T) {
	addr, err := FreeAddr()
	require.NoError(t, err)
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestWaitHTTP(t *testing.T) {
	t.Run("returns once the endpoint answers 200", func(t *testing.T) {
		calls := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if calls++; calls < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		}))
		defer srv.Close()
		require.NoError(t, WaitHTTP(t.Context(), srv.URL, 10*time.Second, nil))
		assert.Equal(t, 3, calls)
	})
	t.Run("gives up at once when the process exits", func(t *testing.T) {
		addr, err := FreeAddr()
		require.NoError(t, err)
		p := shell(t, `exit 1`, &Buffer{})
		err = WaitHTTP(t.Context(), "http://"+addr, time.Hour, p)
		assert.ErrorContains(t, err, "sh exited")
	})
	t.Run("times out", func(t *testing.T) {
		addr, err := FreeAddr()
		require.NoError(t, err)
		err = WaitHTTP(t.Context(), "http://"+addr, 100*time.Millisecond, nil)
		assert.ErrorContains(t, err, "did not answer 200 within 100ms")
	})
}

func TestMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, strings.Join([]string{
			"# HELP registrar_actors Actors alive.",
			"registrar_actors_total 9",
			"registrar_actors 42",
			`registrar_events_total{type="registered"} 7`,
		}, "\n"))
	}))
	defer srv.Close()
	v, err := Metric(t.Context(), srv.URL, "registrar_actors")
	require.NoError(t, err)
	assert.Equal(t, 42.0, v, "a longer name with the same start is another metric")
	v, err = Metric(t.Context(), srv.URL, "registrar_events_total")
	require.NoError(t, err)
	assert.Equal(t, 7.0, v)
	_, err = Metric(t.Context(), srv.URL, "registrar_missing")
	assert.ErrorContains(t, err, "not found")
}
