package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/acme/registrar/actors"
)

// Params are argon2id parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// OWASP is the minimum the OWASP Password Storage Cheat Sheet recommends for
// argon2id: m=19 MiB, t=2, p=1.
var OWASP = Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// belowOWASP reports whether p is cheaper than the OWASP minimum.
func (p Params) belowOWASP() bool {
	return p.Memory < OWASP.Memory || p.Time < OWASP.Time || p.SaltLen < OWASP.SaltLen || p.KeyLen < OWASP.KeyLen
}

func (p Params) String() string {
	return fmt.Sprintf("argon2id m=%dKiB t=%d p=%d", p.Memory, p.Time, p.Threads)
}

// Config of a Hasher.
type Config struct {
	Params Params // default OWASP
	// AllowWeakParams must be set to use Params below the OWASP minimum
	// (benchmarks and tests only).
	AllowWeakParams bool
	// Concurrency is the number of hashes run at once; default GOMAXPROCS.
	Concurrency int
	// MaxWait is how long a caller waits for a free slot before
	// actors.ErrOverloaded; default 1s.
	MaxWait time.Duration
	Random  io.Reader // default crypto/rand.Reader
}

// Hasher hashes and verifies passwords, at most Concurrency at a time. It is
// safe for concurrent use.
type Hasher struct {
	params  Params
	slots   chan struct{}
	maxWait time.Duration
	random  io.Reader
	stats   struct {
		hashes, overloaded atomic.Int64
		waiting            atomic.Int64
	}
}

// NewHasher validates cfg and applies its defaults.
func NewHasher(cfg Config) (*Hasher, error) {
	if cfg.Params == (Params{}) {
		cfg.Params = OWASP
	}
	p := cfg.Params
	if p.Time == 0 || p.Threads == 0 || p.Memory < 8*uint32(p.Threads) || p.SaltLen < 8 || p.KeyLen < 16 {
		return nil, fmt.Errorf("password: invalid parameters %s", p)
	}
	if p.belowOWASP() && !cfg.AllowWeakParams {
		return nil, fmt.Errorf("password: %s is below the OWASP minimum %s", p, OWASP)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Second
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	return &Hasher{params: p, slots: make(chan struct{}, cfg.Concurrency), maxWait: cfg.MaxWait, random: cfg.Random}, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string of password under a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.random, salt); err != nil {
		return "", fmt.Errorf("password: draw salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	h.release()
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded. The
// comparison is constant-time. It implements actors.PasswordVerifier.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	h.release()
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// acquire waits for a hashing slot, at most maxWait.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		h.stats.hashes.Add(1)
		return nil
	default:
	}
	h.stats.waiting.Add(1)
	defer h.stats.waiting.Add(-1)
	timer := time.NewTimer(h.maxWait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		h.stats.hashes.Add(1)
		return nil
	case <-timer.C:
		h.stats.overloaded.Add(1)
		return fmt.Errorf("password: no hashing slot within %s: %w", h.maxWait, actors.ErrOverloaded)
	case <-ctx.Done():
		return fmt.Errorf("password: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Stats are live figures of a Hasher, for metrics.
type Stats struct {
	Slots      int   // hashes that may run at once
	InUse      int   // hashes running now
	Waiting    int64 // callers waiting for a slot now
	Hashes     int64 // hashes and verifications started since start
	Overloaded int64 // callers turned away since start
}

// Stats returns live figures.
func (h *Hasher) Stats() Stats {
	return Stats{
		Slots:      cap(h.slots),
		InUse:      len(h.slots),
		Waiting:    h.stats.waiting.Load(),
		Hashes:     h.stats.hashes.Load(),
		Overloaded: h.stats.overloaded.Load(),
	}
}

// ErrMalformedHash is returned for a stored hash that is not an argon2id PHC
// string this package can verify.
var ErrMalformedHash = errors.New("password: malformed argon2id hash")

// Bounds on parameters read from stored hashes, so a corrupted row cannot
// make a verification take minutes or gigabytes.
const (
	maxMemory = 1 << 20 // KiB (1 GiB)
	maxTime   = 16
)

func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > maxTime || p.Threads == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, ErrMalformedHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}
