package mailer_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/mailer/smtptest"
)

// BenchmarkSMTPSend is one email to an in-process SMTP server over
// loopback, the server's work included: on a kept connection (the default)
// and on a new connection per email (what a relay that drops idle
// sessions costs), in plain text and with STARTTLS and AUTH.
func BenchmarkSMTPSend(b *testing.B) {
	e, err := mailer.Render("msg-1", "no-reply@registrar.test", "ann@example.com", "0427", expires, issued)
	if err != nil {
		b.Fatal(err)
	}
	for _, server := range []struct {
		name string
		opts []smtptest.Option
	}{
		{"plain", nil},
		{"starttls+auth", []smtptest.Option{smtptest.WithSTARTTLS(), smtptest.WithAuth("mailer", "s3cret")}},
	} {
		for _, conn := range []struct {
			name string
			idle time.Duration
		}{{"kept", 0}, {"new-each", time.Nanosecond}} {
			b.Run(server.name+"/"+conn.name, func(b *testing.B) {
				srv := smtptest.Start(b, server.opts...)
				s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL(), TLSConfig: &tls.Config{RootCAs: srv.CA}, IdleTimeout: conn.idle})
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					if err := s.Send(context.Background(), e); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
