package password

import (
	"context"
	"testing"
)

// BenchmarkHashOWASP is one argon2id hash with the production parameters on
// one goroutine: the latency of a hash.
func BenchmarkHashOWASP(b *testing.B) {
	h, err := NewHasher(Config{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashOWASPParallel hashes on every core at once: the ceiling of
// the machine, in hashes per second (1e9 / ns/op).
func BenchmarkHashOWASPParallel(b *testing.B) {
	h, err := NewHasher(Config{MaxWait: 1 << 62})
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.Hash(context.Background(), "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
