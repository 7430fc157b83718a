// Package composecheck is a module of its own that loads docker-compose.yml
// with the Compose specification's loader (no Docker engine runs here, but a
// broken file still fails): the loader's dependencies stay out of the
// service's go.mod. make test runs it.
package composecheck
