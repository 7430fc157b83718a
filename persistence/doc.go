// Package persistence holds the adapters of the actors' Store port and of the
// relay's outbox: SQLite (embedded, the default) and PostgreSQL. Each state
// change is one transaction: the versioned row plus its outbox messages.
//
// It imports actors (the port and its types) and protos; never gateway or
// messaging. Driver errors are translated into the core's errors by code
// (a unique violation or a stale version becomes actors.ErrConflict), never
// by message text. Every adapter passes the contract suite actors/storetest.
package persistence
