package actors_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/actors/actorstest"
)

// BenchmarkRulesRegister is the state machine deciding a new registration.
func BenchmarkRulesRegister(b *testing.B) {
	m := newMachine(b)
	in := actors.RegisterInput{Email: "ann@example.com", PasswordHash: "h", NewID: "user-1", NewCode: "0427"}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.rules.Register(nil, in, t0)
	}
}

// BenchmarkRulesActivate is the state machine checking a right code.
func BenchmarkRulesActivate(b *testing.B) {
	m := newMachine(b)
	m.register("h")
	auth, refused := m.authenticate(true)
	if refused != nil {
		b.Fatal(refused.Err)
	}
	code := m.code
	b.ReportAllocs()
	for b.Loop() {
		_ = m.rules.Activate(auth, code, t0.Add(time.Second))
	}
}

// BenchmarkActorRoundTrip is one authenticated read through the registry,
// a shard and an email's actor, with in-memory ports: the cost of the actor
// path itself.
func BenchmarkActorRoundTrip(b *testing.B) {
	rules, err := actors.NewRules(actors.DefaultPolicy(), []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	reg, err := actors.NewRegistry(actors.Config{
		Rules: rules, Store: actorstest.NewStore(), Passwords: &actorstest.Passwords{},
		DummyHash: actorstest.Hash("dummy"), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close(ctx)
	const emails = 64
	for i := range emails {
		if _, err := reg.Register(ctx, fmt.Sprintf("b%d@example.com", i), actorstest.Hash("pw")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := reg.Describe(ctx, actors.Credentials{Email: fmt.Sprintf("b%d@example.com", i%emails), Password: "pw"}); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
