package profiling

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.DiscardHandler)

func TestServesProfilesUntilStopped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	stop, err := Start(addr, quiet)
	require.NoError(t, err)
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(body), "goroutine profile")

	stop()
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	assert.Error(t, err, "stopped")
}

func TestNothingWithoutAnAddress(t *testing.T) {
	stop, err := Start("", quiet)
	require.NoError(t, err)
	stop()
}

func TestABadAddressFailsAtStart(t *testing.T) {
	_, err := Start("127.0.0.1:99999", quiet)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "PPROF_ADDR")
}
