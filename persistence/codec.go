package persistence

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/pressly/goose/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/actors"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Times are stored as Unix milliseconds, the precision the actors use.

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromNullMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMillis(v.Int64)
}

func timestamp(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// scanClaims reads the outbox rows of a claim (seq, id, topic, key, type,
// source, time, payload) and returns their messages oldest first: RETURNING
// gives no order. T is how the store keeps a time.
func scanClaims[T any](next func() bool, scan func(...any) error, toTime func(T) time.Time) ([]*registrationv1.Envelope, error) {
	type claimed struct {
		seq int64
		env *registrationv1.Envelope
	}
	var out []claimed
	for next() {
		var (
			c  claimed
			at T
			m  = &registrationv1.Envelope{}
		)
		if err := scan(&c.seq, &m.Id, &m.Topic, &m.Key, &m.Type, &m.Source, &at, &m.Payload, &m.Traceparent, &m.Tracestate); err != nil {
			return nil, err
		}
		m.Time = timestamp(toTime(at))
		c.env = m
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b claimed) int { return cmp.Compare(a.seq, b.seq) })
	envs := make([]*registrationv1.Envelope, len(out))
	for i, c := range out {
		envs[i] = c.env
	}
	return envs, nil
}

// encodeTimes stores a sliding log as a JSON array of Unix milliseconds.
func encodeTimes(ts []time.Time) string {
	ms := make([]int64, len(ts))
	for i, t := range ts {
		ms[i] = t.UnixMilli()
	}
	b, _ := json.Marshal(ms) // []int64 always marshals
	return string(b)
}

func decodeTimes(s string) ([]time.Time, error) {
	var ms []int64
	if err := json.Unmarshal([]byte(s), &ms); err != nil {
		return nil, fmt.Errorf("decode time log: %w", err)
	}
	if len(ms) == 0 {
		return nil, nil
	}
	out := make([]time.Time, len(ms))
	for i, m := range ms {
		out[i] = fromMillis(m)
	}
	return out, nil
}

// The password throttle's state is stored as one JSON document (times in
// Unix milliseconds), the same in both stores.
type guardDoc struct {
	Known     throttleDoc   `json:"known"`
	Strangers []throttleDoc `json:"strangers,omitempty"`
	Everyone  throttleDoc   `json:"everyone"`
	Sources   []string      `json:"sources,omitempty"`
}

type throttleDoc struct {
	Source   string  `json:"source,omitempty"`
	Failures []int64 `json:"failures,omitempty"`
	Level    int     `json:"level,omitempty"`
}

func encodeGuard(g actors.PasswordGuard) string {
	doc := guardDoc{Known: throttleDocOf("", g.Known), Everyone: throttleDocOf("", g.Everyone), Sources: g.Sources}
	for _, s := range g.Strangers {
		doc.Strangers = append(doc.Strangers, throttleDocOf(s.Source, s.Throttle))
	}
	b, _ := json.Marshal(doc) // plain data always marshals
	return string(b)
}

func throttleDocOf(source string, t actors.Throttle) throttleDoc {
	d := throttleDoc{Source: source, Level: t.Level}
	for _, f := range t.Failures {
		d.Failures = append(d.Failures, f.UnixMilli())
	}
	return d
}

func (d throttleDoc) throttle() actors.Throttle {
	t := actors.Throttle{Level: d.Level}
	for _, ms := range d.Failures {
		t.Failures = append(t.Failures, fromMillis(ms))
	}
	return t
}

func decodeGuard(s string) (actors.PasswordGuard, error) {
	var doc guardDoc
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		return actors.PasswordGuard{}, fmt.Errorf("decode password throttle: %w", err)
	}
	g := actors.PasswordGuard{Known: doc.Known.throttle(), Everyone: doc.Everyone.throttle(), Sources: doc.Sources}
	for _, d := range doc.Strangers {
		g.Strangers = append(g.Strangers, actors.SourceThrottle{Source: d.Source, Throttle: d.throttle()})
	}
	return g, nil
}

func parseStatus(s string) (actors.Status, error) {
	switch s {
	case "pending":
		return actors.StatusPending, nil
	case "active":
		return actors.StatusActive, nil
	}
	return 0, fmt.Errorf("unknown registration status %q", s)
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func subFS(fsys fs.FS, dir string) (fs.FS, error) {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations %s: %w", dir, err)
	}
	return sub, nil
}

func logMigrations(logger *slog.Logger, dialect string, results []*goose.MigrationResult) {
	if logger == nil {
		return
	}
	for _, r := range results {
		logger.Info("applied migration", "dialect", dialect, "version", r.Source.Version, "duration", r.Duration)
	}
}
