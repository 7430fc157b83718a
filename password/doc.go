// Package password hashes and verifies passwords with argon2id and enforces
// the password policy of the API contract.
//
// Hashing is the costliest thing the service does (16-20 ms of a core and
// 19 MiB per hash with the OWASP parameters on the machine of
// docs/BENCHMARKS.md), so a Hasher runs at most a fixed number of
// hashes at once (by default one per CPU) and makes callers wait a bounded
// time for a slot: past it, the caller gets actors.ErrOverloaded and the
// client a 503 with Retry-After, instead of a queue that grows without end.
//
// Hashes are PHC strings ($argon2id$v=19$m=...,t=...,p=...$salt$hash), so the
// parameters travel with each hash and can be raised without a migration.
//
// The policy's guessability check (guessable.go) reads its words from
// words.txt, generated from zxcvbn-go's frequency lists (make
// password-words); zxcvbn-go itself, whose estimator cost milliseconds per
// password, is only used by the tests, to compare.
//
// Imports: the standard library, x/crypto and actors
// (for ErrOverloaded, the one error the rest of the service maps).
package password
