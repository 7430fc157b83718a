package persistence_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/internal/testkit"
)

// commitCutter is a TCP proxy in front of PostgreSQL that, once armed,
// drops the server's answer to the next COMMIT and cuts the connection: the
// commit happened, its acknowledgment is lost.
type commitCutter struct {
	ln     net.Listener
	target string
	armed  atomic.Bool
	cut    atomic.Int64
	wg     sync.WaitGroup
}

// committed is the CommandComplete tag of a COMMIT.
var committed = []byte("COMMIT\x00")

func newCommitCutter(t *testing.T, target string) *commitCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c := &commitCutter{ln: ln, target: target}
	c.wg.Go(c.accept)
	t.Cleanup(func() { _ = ln.Close(); c.wg.Wait() })
	return c
}

func (c *commitCutter) accept() {
	for {
		client, err := c.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", c.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		closeBoth := func() { _ = client.Close(); _ = server.Close() }
		c.wg.Go(func() { _, _ = io.Copy(server, client); closeBoth() })
		c.wg.Go(func() {
			defer closeBoth()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 {
					if bytes.Contains(buf[:n], committed) && c.armed.CompareAndSwap(true, false) {
						c.cut.Add(1)
						return // the answer never reaches the client
					}
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

func TestPostgresCommitWhoseAnswerIsLostIsFoundOut(t *testing.T) {
	direct := testkit.Postgres(t)
	u, err := url.Parse(direct)
	require.NoError(t, err)
	cutter := newCommitCutter(t, u.Host)
	u.Host = cutter.ln.Addr().String()
	store := openPostgres(t, u.String())
	ctx := context.Background()

	reg := &actors.Registration{
		ID: "01900000-0000-7000-8000-0000000000c1", Email: "cut@example.com", PasswordHash: "h",
		Status: actors.StatusPending, CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC(), Version: 1,
	}
	cutter.armed.Store(true)
	require.NoError(t, store.Save(ctx, reg, nil), "the commit went through: Save must say so")
	require.Equal(t, int64(1), cutter.cut.Load(), "the COMMIT's answer was cut")
	got, err := store.Load(ctx, reg.Email)
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Version)

	// A transaction that did not commit is reported as failed.
	next := got.Clone()
	next.Version = 3 // not the next version: nothing to commit, a conflict
	assert.ErrorIs(t, store.Save(ctx, next, nil), actors.ErrConflict)
}
