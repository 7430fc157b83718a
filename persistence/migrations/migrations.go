// Package migrations embeds the SQL migrations of each dialect, applied by
// goose when the registrar starts.
package migrations

import "embed"

// SQLite holds the SQLite migrations under sqlite/.
//
//go:embed sqlite/*.sql
var SQLite embed.FS
