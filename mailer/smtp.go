package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/acme/registrar/address"
)

// SMTPConfig configures an SMTP sender.
type SMTPConfig struct {
	// URL is smtp://[user:pass@]host[:port] (STARTTLS when the server offers
	// it; port 25 by default) or smtps://[user:pass@]host[:port] (implicit
	// TLS; port 465 by default).
	URL string
	// TLSConfig overrides the TLS settings (tests trust their own CA here).
	TLSConfig *tls.Config
	// Timeout bounds the dial and every SMTP command; default 10s.
	Timeout time.Duration
}

// SMTP sends emails with go-mail, one connection per email.
type SMTP struct {
	opts []mail.Option
	host string
}

// NewSMTP validates cfg.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("SMTP_URL is not a URL") // the URL may hold a password: not echoed
	}
	if u.Hostname() == "" {
		return nil, errors.New("SMTP_URL has no host")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	opts := []mail.Option{mail.WithTimeout(timeout)}
	port := 25
	switch u.Scheme {
	case "smtp":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	case "smtps":
		port = 465
		opts = append(opts, mail.WithSSL())
	default:
		return nil, fmt.Errorf("SMTP_URL scheme must be smtp or smtps, got %q", u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("SMTP_URL port %q is not valid", p)
		}
	}
	opts = append(opts, mail.WithPort(port))
	tlsCfg := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = u.Hostname()
		}
	}
	opts = append(opts, mail.WithTLSConfig(tlsCfg))
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(user), mail.WithPassword(pass))
	}
	return &SMTP{opts: opts, host: u.Hostname()}, nil
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, e Email) error {
	// RCPT TO must be ASCII: an internationalized domain goes as punycode.
	to, err := address.Normalize(e.To)
	if err != nil {
		return fmt.Errorf("recipient: %w: %w", err, ErrRejected)
	}
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return fmt.Errorf("sender address: %w: %w", err, ErrRejected)
	}
	if err := m.To(to); err != nil {
		return fmt.Errorf("recipient address: %w: %w", err, ErrRejected)
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(e.ID + "@registrar")
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	m.AddAlternativeString(mail.TypeTextHTML, e.HTML)

	client, err := mail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		return classify(err)
	}
	return nil
}

// classify marks a 5xx answer of the server as permanent; everything else
// (4xx, a refused connection, a timeout, a TLS failure) is temporary.
func classify(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return fmt.Errorf("smtp: %w: %w", err, ErrRejected)
	}
	return fmt.Errorf("smtp: %w", err)
}
