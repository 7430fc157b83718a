// Package persistence holds the adapters that keep state in a database:
//
//   - the actors' Store (and ExpiredCodes) and the relay's Outbox: SQLite
//     (embedded, the default; sqlite.go) and PostgreSQL (postgres.go). Each
//     state change is one transaction: the versioned row plus its outbox
//     messages;
//   - the gateway's RateLimiter in PostgreSQL (postgres_ratelimit.go), a
//     sliding log per client shared by every registrar;
//   - the mailer's Deduper in PostgreSQL (postgres_deliveries.go), its memory
//     of the emails sent, shared by every mailer.
//
// It imports actors (the port and its types) and protos; never gateway,
// messaging or mailer: the other ports are matched by their method sets.
// Driver errors are translated into the core's errors by code, never by
// message text. Every adapter passes its port's contract suite:
// actors/storetest, messaging/outboxtest, gateway/limittest and
// mailer/dedupetest.
package persistence
