// Package migrations embeds the SQL migrations of each store, applied with
// goose when the binaries start.
package migrations

import "embed"

// SQLite holds the embedded store's migrations.
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres holds the registrar's PostgreSQL migrations (registrations,
// outbox, rate limits).
//
//go:embed postgres/*.sql
var Postgres embed.FS

// PostgresMailer holds the mailer's PostgreSQL migrations (its delivery
// memory), versioned in a goose table of their own.
//
//go:embed postgres_mailer/*.sql
var PostgresMailer embed.FS
