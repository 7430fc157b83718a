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
	"github.com/wneessen/go-mail/smtp"

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
	// MaxIdleConns is how many connections are kept open between emails;
	// default 4.
	MaxIdleConns int
	// IdleTimeout is how long a kept connection may wait for the next
	// email; an older one is closed instead of used (servers drop idle
	// sessions after a minute or more). Default 30s.
	IdleTimeout time.Duration
}

// SMTP sends emails with go-mail over kept-alive connections. A connection
// per email would pay the TCP and TLS handshakes, EHLO and AUTH for every
// code, most of the time to inbox with a remote relay; a kept one costs a
// NOOP (is it still there?) and a RSET. It is safe for concurrent use.
type SMTP struct {
	client      *mail.Client
	idle        chan keptConn
	idleTimeout time.Duration
}

type keptConn struct {
	c     *smtp.Client
	since time.Time
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
	client, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client: %w", err)
	}
	if cfg.MaxIdleConns <= 0 {
		cfg.MaxIdleConns = 4
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Second
	}
	return &SMTP{client: client, idle: make(chan keptConn, cfg.MaxIdleConns), idleTimeout: cfg.IdleTimeout}, nil
}

// Send implements Sender.
func (s *SMTP) Send(ctx context.Context, e Email) error {
	m, err := message(e)
	if err != nil {
		return err
	}
	conn, kept, err := s.conn(ctx)
	if err != nil {
		return classify(err)
	}
	err = s.client.SendWithSMTPClient(conn, m)
	if err != nil && kept && connectionGone(err) {
		// The server closed the kept connection while it waited: nothing
		// was sent, so a fresh connection cannot send the email twice.
		_ = conn.Close()
		if conn, err = s.client.DialToSMTPClientWithContext(ctx); err != nil {
			return classify(err)
		}
		err = s.client.SendWithSMTPClient(conn, m)
	}
	switch {
	case err == nil:
		s.keep(conn)
		return nil
	case m.IsDelivered():
		// Accepted, then the session failed (at RSET): the email is on
		// its way and must not be sent again; the connection is not kept.
		_ = conn.Close()
		return nil
	default:
		_ = conn.Close()
		return classify(err)
	}
}

// Close ends the kept connections with a QUIT. Call it after the last Send.
func (s *SMTP) Close() error {
	for {
		select {
		case k := <-s.idle:
			_ = s.client.CloseWithSMTPClient(k.c)
		default:
			return nil
		}
	}
}

// conn returns a kept connection (kept is true) or a new one.
func (s *SMTP) conn(ctx context.Context) (c *smtp.Client, kept bool, err error) {
	for {
		select {
		case k := <-s.idle:
			if time.Since(k.since) < s.idleTimeout {
				return k.c, true, nil
			}
			_ = k.c.Close()
		default:
			c, err := s.client.DialToSMTPClientWithContext(ctx)
			if err != nil {
				return nil, false, fmt.Errorf("dial: %w", err)
			}
			return c, false, nil
		}
	}
}

func (s *SMTP) keep(c *smtp.Client) {
	select {
	case s.idle <- keptConn{c: c, since: time.Now()}:
	default: // enough kept already
		_ = c.Close()
	}
}

// connectionGone reports the failure of the liveness check (NOOP) that
// go-mail runs before a message on a connection.
func connectionGone(err error) bool {
	var se *mail.SendError
	return errors.As(err, &se) && se.Reason == mail.ErrConnCheck
}

// message builds the MIME message of e.
func message(e Email) (*mail.Msg, error) {
	// RCPT TO must be ASCII: an internationalized domain goes as punycode.
	to, err := address.Normalize(e.To)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w: %w", err, ErrRejected)
	}
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return nil, fmt.Errorf("sender address: %w: %w", err, ErrRejected)
	}
	if err := m.To(to); err != nil {
		return nil, fmt.Errorf("recipient address: %w: %w", err, ErrRejected)
	}
	m.Subject(e.Subject)
	m.SetMessageIDWithValue(e.ID + "@registrar")
	m.SetDate()
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	return m, nil
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
