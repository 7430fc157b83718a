package mailer_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/mailer/smtptest"
)

var (
	issued  = time.Date(2026, 11, 23, 15, 4, 5, 0, time.UTC)
	expires = issued.Add(time.Minute)
)

func testEmail(t *testing.T, to string) mailer.Email {
	t.Helper()
	e, err := mailer.Render("msg-1", "no-reply@registrar.test", to, "0427", expires, issued)
	require.NoError(t, err)
	return e
}

// delivered is what a sender's far end got, decoded.
type delivered struct {
	to, subject, text, html string
}

// senderContract is what every Sender must do: deliver the email whole.
func senderContract(t *testing.T, sender mailer.Sender, received func(t *testing.T) delivered) {
	t.Helper()
	require.NoError(t, sender.Send(context.Background(), testEmail(t, "ann@example.com")))
	got := received(t)
	assert.Equal(t, "ann@example.com", got.to)
	assert.Equal(t, "0427 is your verification code", got.subject)
	assert.Contains(t, got.text, "0427")
	assert.Contains(t, got.text, "15:05:05 UTC on 23 November 2026", "the text part says when the code expires")
	if got.html != "" {
		assert.Contains(t, got.html, "0427")
	}
}

func fromSMTP(srv *smtptest.Server) func(t *testing.T) delivered {
	return func(t *testing.T) delivered {
		msgs := srv.Wait(t, 1, 5*time.Second)
		p, err := msgs[0].Parse()
		require.NoError(t, err)
		require.Len(t, msgs[0].To, 1)
		require.NotEmpty(t, p.HTML, "an SMTP email carries an HTML part")
		return delivered{to: msgs[0].To[0], subject: p.Subject(), text: p.Text, html: p.HTML}
	}
}

func TestSenderContract(t *testing.T) {
	t.Run("smtp", func(t *testing.T) {
		srv := smtptest.Start(t)
		s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL()})
		require.NoError(t, err)
		senderContract(t, s, fromSMTP(srv))
	})
	t.Run("smtp with STARTTLS and auth", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth("mailer", "s3cret pass"))
		s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL(), TLSConfig: &tls.Config{RootCAs: srv.CA}})
		require.NoError(t, err)
		senderContract(t, s, fromSMTP(srv))
	})
	t.Run("smtps with auth", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("mailer", "s3cret"))
		require.True(t, strings.HasPrefix(srv.URL(), "smtps://"))
		s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL(), TLSConfig: &tls.Config{RootCAs: srv.CA}})
		require.NoError(t, err)
		senderContract(t, s, fromSMTP(srv))
	})
	t.Run("log", func(t *testing.T) {
		var buf testkit.Buffer
		senderContract(t, mailer.NewLog(&buf), func(t *testing.T) delivered {
			out := buf.String()
			header, body, ok := strings.Cut(out, "\n\n")
			require.True(t, ok, "%s", out)
			d := delivered{text: body}
			for _, line := range strings.Split(header, "\n") {
				if v, ok := strings.CutPrefix(line, "To: "); ok {
					d.to = v
				}
				if v, ok := strings.CutPrefix(line, "Subject: "); ok {
					d.subject = v
				}
			}
			return d
		})
	})
}

func TestSMTPRecipientWithAnInternationalDomainGoesAsPunycode(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL()})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), testEmail(t, "bob@bücher.example")))
	assert.Equal(t, []string{"bob@xn--bcher-kva.example"}, srv.Wait(t, 1, 5*time.Second)[0].To)
}

func TestSMTPClassifiesFailures(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL()})
	require.NoError(t, err)

	srv.Refuse(smtptest.Permanent)
	err = s.Send(context.Background(), testEmail(t, "ann@example.com"))
	require.ErrorIs(t, err, mailer.ErrRejected, "a 5xx is permanent")

	srv.Refuse(smtptest.Temporary)
	err = s.Send(context.Background(), testEmail(t, "ann@example.com"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, mailer.ErrRejected, "a 4xx is temporary")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	down, err := mailer.NewSMTP(mailer.SMTPConfig{URL: "smtp://" + closed, Timeout: time.Second})
	require.NoError(t, err)
	err = down.Send(context.Background(), testEmail(t, "ann@example.com"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, mailer.ErrRejected, "a refused connection is temporary")
}

func TestSMTPKeepsItsConnectionBetweenEmails(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithSTARTTLS(), smtptest.WithAuth("mailer", "s3cret"))
	s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL(), TLSConfig: &tls.Config{RootCAs: srv.CA}})
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, s.Send(context.Background(), testEmail(t, "ann@example.com")))
	}
	assert.Len(t, srv.Wait(t, 3, 5*time.Second), 3)
	assert.Equal(t, 1, srv.Connections(), "three emails, one connection")
	require.NoError(t, s.Close())
}

func TestSMTPRedialsWhenTheServerDroppedTheKeptConnection(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL()})
	require.NoError(t, err)
	require.NoError(t, s.Send(context.Background(), testEmail(t, "ann@example.com")))
	srv.Wait(t, 1, 5*time.Second)
	srv.Disconnect()

	require.NoError(t, s.Send(context.Background(), testEmail(t, "bob@example.com")), "a dropped idle connection is not the caller's problem")
	msgs := srv.Wait(t, 2, 5*time.Second)
	assert.Len(t, msgs, 2, "each email once")
	assert.Equal(t, []string{"bob@example.com"}, msgs[1].To)
	assert.Equal(t, 2, srv.Connections())
}

func TestSMTPDoesNotKeepConnectionsPastTheIdleTimeout(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL(), IdleTimeout: time.Nanosecond})
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, s.Send(context.Background(), testEmail(t, "ann@example.com")))
	}
	srv.Wait(t, 2, 5*time.Second)
	assert.Equal(t, 2, srv.Connections())
}

func TestSMTPSendsConcurrently(t *testing.T) {
	srv := smtptest.Start(t)
	s, err := mailer.NewSMTP(mailer.SMTPConfig{URL: srv.URL(), MaxIdleConns: 2})
	require.NoError(t, err)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				errs <- s.Send(context.Background(), testEmail(t, "ann@example.com"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, srv.Wait(t, workers*each, 5*time.Second), workers*each)
	assert.LessOrEqual(t, srv.Connections(), workers*each/2, "connections are reused")
}

func TestNewSMTPRefusesBadURLsWithoutEchoingThem(t *testing.T) {
	for _, u := range []string{"", "http://host:25", "smtp://", "smtp://user:hunter2@host:99999", "smtp://user:hunter2@host:%zz"} {
		_, err := mailer.NewSMTP(mailer.SMTPConfig{URL: u})
		require.Error(t, err, "%q", u)
		assert.NotContains(t, err.Error(), "hunter2")
	}
}
