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
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
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

// BelowOWASP reports whether p is cheaper than the OWASP minimum.
func (p Params) BelowOWASP() bool {
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
	// MaxQueue is how many callers may wait for a slot at once; more are
	// turned away at once with actors.ErrOverloaded. Default 8 per slot.
	// Under overload a wait bounded only by time makes every accepted
	// request wait about MaxWait; a bounded queue keeps their wait to a few
	// hashes.
	MaxQueue int
	Random   io.Reader // default crypto/rand.Reader
}

// Hasher hashes and verifies passwords, at most Concurrency at a time. It is
// safe for concurrent use.
type Hasher struct {
	params   Params
	slots    chan struct{}
	maxWait  time.Duration
	maxQueue int64
	random   io.Reader
	stats    struct {
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
	if p.BelowOWASP() && !cfg.AllowWeakParams {
		return nil, fmt.Errorf("password: %s is below the OWASP minimum %s", p, OWASP)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = time.Second
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 8 * cfg.Concurrency
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	return &Hasher{params: p, slots: make(chan struct{}, cfg.Concurrency), maxWait: cfg.MaxWait,
		maxQueue: int64(cfg.MaxQueue), random: cfg.Random}, nil
}

// warmRounds is how many rounds of one hash per slot Warm runs: enough
// allocation for the heap to grow to its working size under a full hashing
// load (a few collections' worth).
const warmRounds = 3

// Warm runs warmRounds rounds of one hash per slot at once and returns one
// of them: the heap then holds the memory of a full hashing load, and the
// first requests do not pay for faulting it in (measured: without it, every
// registration slower than 45 ms at half load fell in the first second).
// The result serves as a dummy hash.
func (h *Hasher) Warm(ctx context.Context) (string, error) {
	var dummy string
	for range warmRounds {
		hashes := make([]string, cap(h.slots))
		errs := make([]error, cap(h.slots))
		var wg sync.WaitGroup
		for i := range hashes {
			wg.Go(func() { hashes[i], errs[i] = h.Hash(ctx, rand.Text()) }) // a password nobody knows
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return "", err
		}
		dummy = hashes[0]
	}
	return dummy, nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// tracer traces each hash as its wait for a slot and the argon2id work
// apart.
var tracer = otel.Tracer("github.com/acme/registrar/password")

// Hash returns the PHC string of password under a fresh salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	ctx, span := tracer.Start(ctx, "password.hash")
	defer span.End()
	salt := make([]byte, h.params.SaltLen)
	if _, err := io.ReadFull(h.random, salt); err != nil {
		return "", fmt.Errorf("password: draw salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		span.SetStatus(codes.Error, "no hashing slot")
		return "", err
	}
	key := h.argon2id(ctx, []byte(password), salt, h.params, h.params.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded. The
// comparison is constant-time. It implements actors.PasswordVerifier.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (bool, error) {
	ctx, span := tracer.Start(ctx, "password.verify")
	defer span.End()
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		span.SetStatus(codes.Error, "no hashing slot")
		return false, err
	}
	got := h.argon2id(ctx, []byte(password), salt, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// argon2id computes the key in the slot acquire took, and releases it.
func (h *Hasher) argon2id(ctx context.Context, password, salt []byte, p Params, keyLen uint32) []byte {
	_, span := tracer.Start(ctx, "argon2id", trace.WithAttributes(
		attribute.Int("argon2.memory_kib", int(p.Memory)), attribute.Int("argon2.time", int(p.Time))))
	defer span.End()
	defer h.release()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, keyLen)
}

// acquire waits for a hashing slot, at most maxWait; a wait is a
// password.queue span.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		h.stats.hashes.Add(1)
		return nil
	default:
	}
	_, span := tracer.Start(ctx, "password.queue")
	defer span.End()
	defer h.stats.waiting.Add(-1)
	if h.stats.waiting.Add(1) > h.maxQueue {
		h.stats.overloaded.Add(1)
		return fmt.Errorf("password: %d callers already wait for a hashing slot: %w", h.maxQueue, actors.ErrOverloaded)
	}
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
