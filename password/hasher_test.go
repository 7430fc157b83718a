package password

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"

	"github.com/acme/registrar/actors"
)

// cheap parameters keep tests fast; the production parameters get one test.
var cheap = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newCheap(t *testing.T, concurrency int, maxWait time.Duration) *Hasher {
	t.Helper()
	h, err := NewHasher(Config{Params: cheap, AllowWeakParams: true, Concurrency: concurrency, MaxWait: maxWait})
	require.NoError(t, err)
	return h
}

func TestHashWithOWASPParamsVerifies(t *testing.T) {
	h, err := NewHasher(Config{})
	require.NoError(t, err)
	assert.Equal(t, OWASP, h.Params())
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	require.NoError(t, err)
	assert.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, enc)

	ok, err := h.Verify(context.Background(), enc, "correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = h.Verify(context.Background(), enc, "correct horse battery stapl")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestVerifiesAHashOfTheReferenceImplementation(t *testing.T) {
	// Made by argon2-cffi 23 (the reference C implementation) with
	// time_cost=2, memory_cost=19456, parallelism=1, hash_len=32.
	const ref = "$argon2id$v=19$m=19456,t=2,p=1$aeOnGAGzSbjOzYR34wSIGA$hTDwsW7t3N/iTvgK5VRb9Q0+HaHF0wxBE6p/3W1e4i4"
	h := newCheap(t, 1, time.Second)
	ok, err := h.Verify(context.Background(), ref, "correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, ok, "the parameters must be read from the hash, not from the hasher")
	ok, err = h.Verify(context.Background(), ref, "Correct horse battery staple")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestPasswordsAreVerifiedExactlyAsReceived(t *testing.T) {
	h := newCheap(t, 2, time.Second)
	ctx := context.Background()
	long := string(make([]rune, 100)) + "tail" // past bcrypt's 72 bytes
	for _, pw := range []string{" padded password ", "pässwörd-ünicode", long} {
		enc, err := h.Hash(ctx, pw)
		require.NoError(t, err)
		for _, other := range []string{pw[:len(pw)-1], pw + " ", "x" + pw[1:]} {
			ok, err := h.Verify(ctx, enc, other)
			require.NoError(t, err)
			assert.False(t, ok, "%q must not verify %q", other, pw)
		}
		ok, err := h.Verify(ctx, enc, pw)
		require.NoError(t, err)
		assert.True(t, ok)
	}
}

func TestEveryHashHasItsOwnSalt(t *testing.T) {
	h := newCheap(t, 2, time.Second)
	a, err := h.Hash(context.Background(), "same password")
	require.NoError(t, err)
	b, err := h.Hash(context.Background(), "same password")
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
}

func TestMalformedHashesAreRejected(t *testing.T) {
	h := newCheap(t, 1, time.Second)
	for _, enc := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",  // argon2i, not id
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", // old version
		"$argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$c2hvcnQ",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", // bcrypt
	} {
		_, err := h.Verify(context.Background(), enc, "password")
		assert.ErrorIs(t, err, ErrMalformedHash, "%q", enc)
	}
}

func TestWeakParamsNeedAnExplicitFlag(t *testing.T) {
	_, err := NewHasher(Config{Params: cheap})
	require.Error(t, err)
	_, err = NewHasher(Config{Params: Params{Memory: 19 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}})
	require.Error(t, err, "t=1 is below the minimum")
	_, err = NewHasher(Config{Params: Params{Memory: 64 * 1024, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 32}})
	require.NoError(t, err, "stronger than the minimum is fine")
	_, err = NewHasher(Config{Params: Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, AllowWeakParams: true})
	require.Error(t, err, "t=0 is never valid")
}

func TestAFullHasherTurnsCallersAwayAfterMaxWait(t *testing.T) {
	h := newCheap(t, 1, 20*time.Millisecond)
	h.slots <- struct{}{} // every slot busy
	_, err := h.Hash(context.Background(), "any password")
	require.ErrorIs(t, err, actors.ErrOverloaded)
	_, err = h.Verify(context.Background(), "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "x")
	require.ErrorIs(t, err, actors.ErrOverloaded)
	assert.Equal(t, int64(2), h.Stats().Overloaded)

	<-h.slots // a slot frees up
	_, err = h.Hash(context.Background(), "any password")
	require.NoError(t, err)
}

func TestCallersBeyondTheQueueAreTurnedAwayAtOnce(t *testing.T) {
	h, err := NewHasher(Config{Params: cheap, AllowWeakParams: true, Concurrency: 1, MaxQueue: 1, MaxWait: time.Hour})
	require.NoError(t, err)
	h.slots <- struct{}{} // every slot busy
	first := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "any password")
		first <- err
	}()
	require.Eventually(t, func() bool { return h.Stats().Waiting == 1 }, 5*time.Second, time.Millisecond)

	second := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "any password")
		second <- err
	}()
	select {
	case err := <-second:
		require.ErrorIs(t, err, actors.ErrOverloaded)
	case <-time.After(10 * time.Second):
		t.Fatal("a caller beyond the queue waits for a slot (MaxWait is an hour)")
	}
	assert.Equal(t, int64(1), h.Stats().Waiting, "the queued caller still waits")

	<-h.slots
	require.NoError(t, <-first, "the queued caller gets the slot")
}

func TestAWaitingCallerGetsASlotThatFreesUp(t *testing.T) {
	h := newCheap(t, 1, 10*time.Second)
	h.slots <- struct{}{}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "any password")
		done <- err
	}()
	require.Eventually(t, func() bool { return h.Stats().Waiting == 1 }, 5*time.Second, time.Millisecond)
	<-h.slots
	require.NoError(t, <-done)
}

func TestAWaitingCallerStopsWithItsContext(t *testing.T) {
	h := newCheap(t, 1, 10*time.Second)
	h.slots <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(ctx, "any password")
		done <- err
	}()
	require.Eventually(t, func() bool { return h.Stats().Waiting == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	err := <-done
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, errors.Is(err, actors.ErrOverloaded))
}

func TestWarmReturnsAHashOfAnUnknownPassword(t *testing.T) {
	h := newCheap(t, 3, time.Second)
	dummy, err := h.Warm(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(3*3), h.Stats().Hashes, "three rounds of one hash per slot")
	for _, guess := range []string{"", "warm-up 0", "password"} {
		ok, err := h.Verify(context.Background(), dummy, guess)
		require.NoError(t, err)
		assert.False(t, ok, "%q", guess)
	}
}

// TestParameterLimitsAtTheirEdges pins the bounds of NewHasher and of a
// stored hash's parameters at their edges (found by make mutate).
func TestParameterLimitsAtTheirEdges(t *testing.T) {
	edge := Params{Memory: 16, Time: 1, Threads: 2, SaltLen: 8, KeyLen: 16} // 8 KiB per thread, the shortest salt and key
	_, err := NewHasher(Config{Params: edge, AllowWeakParams: true})
	require.NoError(t, err, "the smallest valid parameters")
	for name, p := range map[string]Params{
		"memory under 8 KiB a thread": {Memory: 15, Time: 1, Threads: 2, SaltLen: 8, KeyLen: 16},
		"salt under 8 bytes":          {Memory: 16, Time: 1, Threads: 2, SaltLen: 7, KeyLen: 16},
		"key under 16 bytes":          {Memory: 16, Time: 1, Threads: 2, SaltLen: 8, KeyLen: 15},
	} {
		_, err := NewHasher(Config{Params: p, AllowWeakParams: true})
		assert.Error(t, err, name)
	}

	h := newCheap(t, 1, time.Second)
	stored := func(m, tm uint32, salt []byte) string {
		key := argon2.IDKey([]byte("pw"), salt, tm, m, 1, 32)
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=1$%s$%s", m, tm,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	}
	ok, err := h.Verify(context.Background(), stored(8, maxTime, []byte("8 bytes!")), "pw")
	require.NoError(t, err, "the most passes and the shortest salt a stored hash may have")
	assert.True(t, ok)
	for name, encoded := range map[string]string{
		"too many passes":      stored(8, maxTime+1, []byte("8 bytes!")),
		"a salt under 8 bytes": stored(8, 1, []byte("7 bytes")),
		"too much memory":      strings.Replace(stored(8, 1, []byte("8 bytes!")), "m=8,", fmt.Sprintf("m=%d,", maxMemory+1), 1),
	} {
		_, err := h.Verify(context.Background(), encoded, "pw")
		assert.ErrorIs(t, err, ErrMalformedHash, name)
	}
}
