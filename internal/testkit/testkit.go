// Package testkit holds small helpers shared by the tests of several
// packages. Production code never imports it.
package testkit

import (
	"bytes"
	"regexp"
	"sync"
	"time"
)

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Buffer is a bytes.Buffer safe for concurrent writers (loggers, processes).
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ContainsToken reports whether secret appears in text as a token of its
// own: a JSON string, a quoted value or a word. A 4-digit code occurs by
// chance inside dates, UUIDs and numbers; that is no leak, and a plain
// substring check would make tests fail at random.
func ContainsToken(text, secret string) bool {
	return regexp.MustCompile(`(^|[\s"'])` + regexp.QuoteMeta(secret) + `($|[\s"'.,;:])`).MatchString(text)
}
