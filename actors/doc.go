// Package actors is the core of the registration service: the registration
// rules, the per-email actors that apply them, and the ports they need.
//
// Rules (rules.go, budget.go, code.go) is a pure state machine: given the
// current Registration, a command and the time, it returns the next state,
// the events and the answer. No I/O, no clock, no randomness (codes and ids
// come in as inputs), no actor runtime. It is tested exhaustively with table
// tests on a fake clock.
//
// The actors are a thin shell around it (Proto.Actor):
//   - One actor per normalized email, spawned on demand by one of a fixed set
//     of shards (hash of the email). Commands for one email are serialized
//     by its actor's mailbox, so concurrent requests cannot both win.
//   - Every decision is persisted (the versioned row plus its outbox
//     messages, in one transaction) before the reply. A version conflict
//     means another writer owns the row: reload and retry once, else 503.
//   - The code's expiry timer is tagged with the code's generation; a stale
//     timer changes nothing. The stored expires_at is the truth.
//   - Passivation is a handshake through the shard, never a self-stop: a
//     request racing a passivation is buffered and replayed, not dropped.
//   - Every command reads the row afresh: with several registrar instances
//     on one database, an actor's memory may be stale, and only writes are
//     fenced by the version. Memory only serves timers and passivation.
//
// Imports: the standard library, protoactor-go and protos only. Adapters
// (gateway, persistence, messaging, mailer, password) depend on this
// package, never the reverse; architecture_test.go enforces it.
package actors
