package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Sender delivers one email. Implementations: SMTP and Log.
type Sender interface {
	// Send returns nil once the email is accepted for delivery. An error
	// wrapping ErrRejected means the server refused it for good (5xx);
	// any other error is temporary.
	Send(ctx context.Context, e Email) error
}

// ErrRejected marks a permanent refusal by the mail server.
var ErrRejected = errors.New("rejected by the mail server")

// Log is the Sender used when no SMTP server is configured: it prints each
// email to w, code included, so that a developer can read it. It is meant for
// one laptop, never for production; the registrar warns at start.
type Log struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLog returns a Log sender printing to w.
func NewLog(w io.Writer) *Log { return &Log{w: w} }

// Send implements Sender.
func (l *Log) Send(_ context.Context, e Email) error {
	var b strings.Builder
	fmt.Fprintf(&b, "----- email %s (SMTP_URL is empty: printed, not sent) -----\n", e.ID)
	fmt.Fprintf(&b, "From: %s\nTo: %s\nSubject: %s\n\n%s", e.From, e.To, e.Subject, e.Text)
	b.WriteString("----- end of email -----\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := io.WriteString(l.w, b.String()); err != nil {
		return fmt.Errorf("print email: %w", err)
	}
	return nil
}
