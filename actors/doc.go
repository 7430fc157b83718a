// Package actors is the core of the registration service: the registration
// rules, the per-email actors that apply them, and the ports they need.
//
// Rules (rules.go, budget.go, throttle.go, code.go) is a pure state
// machine: given the current Registration, a command and the time, it
// returns the next state, the events and the answer. No I/O, no clock, no
// randomness (codes and ids come in as inputs), no actor runtime. It is
// tested exhaustively with table tests on a fake clock.
//
// The actors are a thin shell around it (Proto.Actor):
//   - One actor per normalized email across the fleet. Emails hash to a
//     fixed set of shards; a shard owns the actors of its emails. In one
//     process the shards are local actors; in a cluster each shard is a
//     grain that the cluster's disthash identity lookup places on one member
//     (placement.go, cluster.go). Commands for one email are serialized by
//     its actor's mailbox, so concurrent requests cannot both win.
//   - The actor's memory is the state it decides on: it loads the row when
//     it starts and again only after a version conflict. Every decision is
//     persisted (the versioned row plus its outbox messages, in one
//     transaction) before the reply; the version is the fence against a
//     second actor for the email (members whose views of the topology
//     disagree for a moment). An answer that writes nothing after a password
//     check first compares the stored version with memory's.
//   - A command carries a budget, counted from its arrival on the actor's
//     member; store calls and the password check are bounded by it, so a 503
//     never hides a committed change (budget_time.go).
//   - The code's expiry timer is tagged with the code's generation; a stale
//     timer changes nothing. The stored expires_at is the truth, and an
//     expiry sweep notes the expiries whose timer died with its member.
//   - Passivation is a handshake through the shard, never a self-stop: a
//     request racing a passivation is buffered and replayed, not dropped.
//   - A member that the cluster dropped fences itself (membership.go).
//
// Imports: the standard library, protoactor-go and protos only. Adapters
// (gateway, persistence, messaging, mailer, password) depend on this
// package, never the reverse; architecture_test.go enforces it.
package actors
