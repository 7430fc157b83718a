// Package smtptest runs a real SMTP server for tests, like net/http/httptest
// does for HTTP: it speaks the protocol (go-smtp), optionally with STARTTLS or
// implicit TLS under a freshly generated certificate and with PLAIN auth,
// records every message it accepts and can be told to refuse the next ones.
package smtptest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted email.
type Message struct {
	From string
	To   []string
	Data []byte
	At   time.Time // when the server accepted it (end of DATA)
}

// Server is a running test SMTP server.
type Server struct {
	tls      string // "", "starttls" or "implicit"
	listen   string
	delay    time.Duration
	user     string
	password string
	srv      *smtp.Server
	addr     string
	CA       *x509.CertPool // trusts the server's certificate when TLS is on

	mu       sync.Mutex
	msgs     []Message
	refusals []*smtp.SMTPError
	refused  int
	changed  chan struct{}
	conns    map[*smtp.Conn]bool // every client connection (open or not)
}

// Option configures a Server.
type Option func(*Server)

// WithSTARTTLS offers STARTTLS.
func WithSTARTTLS() Option { return func(s *Server) { s.tls = "starttls" } }

// WithImplicitTLS serves SMTP inside TLS from the first byte (smtps).
func WithImplicitTLS() Option { return func(s *Server) { s.tls = "implicit" } }

// WithDelay makes the server take d to accept each message, like a slow
// relay (the delay is in DATA, before the reply).
func WithDelay(d time.Duration) Option { return func(s *Server) { s.delay = d } }

// WithAddr listens at addr (host:port) instead of a free loopback port.
func WithAddr(addr string) Option { return func(s *Server) { s.listen = addr } }

// WithAuth requires PLAIN authentication with these credentials.
func WithAuth(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// Start runs a server on a loopback port until the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s, err := Listen(opts...)
	if err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Listen runs a server on a loopback port until Close, for a program that
// is not a test (the load client's mail sink).
func Listen(opts ...Option) (*Server, error) {
	s := &Server{listen: "127.0.0.1:0", changed: make(chan struct{}), conns: map[*smtp.Conn]bool{}}
	for _, o := range opts {
		o(s)
	}
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "smtptest.localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	var l net.Listener
	var err error
	if s.tls != "" {
		cfg, pool, cerr := selfSigned()
		if cerr != nil {
			return nil, fmt.Errorf("certificate: %w", cerr)
		}
		s.CA = pool
		srv.TLSConfig = cfg
		if s.tls == "implicit" {
			l, err = tls.Listen("tcp", s.listen, cfg)
		} else {
			l, err = net.Listen("tcp", s.listen)
		}
	} else {
		l, err = net.Listen("tcp", s.listen)
	}
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.srv, s.addr = srv, l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	return s, nil
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL is the SMTP_URL that reaches this server.
func (s *Server) URL() string {
	u := url.URL{Scheme: "smtp", Host: s.addr}
	if s.tls == "implicit" {
		u.Scheme = "smtps"
	}
	if s.user != "" {
		u.User = url.UserPassword(s.user, s.password)
	}
	return u.String()
}

// Refuse makes the server answer the next messages' RCPT TO with these
// errors, one message each (e.g. 451 for a temporary, 550 for a permanent
// failure).
func (s *Server) Refuse(errs ...*smtp.SMTPError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = append(s.refusals, errs...)
}

// Refused counts the messages refused so far.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Accept drops the refusals not used yet: every next message is accepted.
func (s *Server) Accept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusals = nil
}

// Connections counts the client connections opened so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Disconnect closes every client connection, as a server does with the
// sessions it finds idle for too long.
func (s *Server) Disconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// Temporary and Permanent are ready-made refusals.
var (
	Temporary = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	Permanent = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
)

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Wait returns once at least n messages were accepted, or fails the test
// after timeout.
func (s *Server) Wait(tb testing.TB, n int, timeout time.Duration) []Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.WaitContext(ctx, n); err != nil {
		tb.Fatalf("smtptest: %d messages after %s, want %d", len(s.Messages()), timeout, n)
	}
	return s.Messages()
}

// WaitContext returns once at least n messages were accepted, or ctx's
// error when it ends first.
func (s *Server) WaitContext(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, changed := len(s.msgs), s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *Server) accept(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) nextRefusal() *smtp.SMTPError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.refusals) == 0 {
		return nil
	}
	r := s.refusals[0]
	s.refusals = s.refusals[1:]
	s.refused++
	return r
}

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	// go-smtp starts a new session on the same connection after STARTTLS.
	b.s.conns[c] = true
	return &session{s: b.s}, nil
}

type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != ss.s.user || password != ss.s.password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if r := ss.s.nextRefusal(); r != nil {
		return r
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	time.Sleep(ss.s.delay)
	ss.s.accept(Message{From: ss.from, To: ss.to, Data: data, At: time.Now()})
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool, nil
}

// Parsed is a message decoded for assertions.
type Parsed struct {
	Header mail.Header
	Text   string
	HTML   string
}

// Parse decodes the headers and the text and HTML parts of m.
func (m Message) Parse() (Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return Parsed{}, err
	}
	p := Parsed{Header: msg.Header}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return Parsed{}, err
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		body, err := decodePart(msg.Body, msg.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Parsed{}, err
		}
		p.Text = body
		return p, nil
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return Parsed{}, err
		}
		body, err := decodePart(part, part.Header.Get("Content-Transfer-Encoding"))
		if err != nil {
			return Parsed{}, err
		}
		switch ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type")); ct {
		case "text/plain":
			p.Text = body
		case "text/html":
			p.HTML = body
		}
	}
}

// Subject decodes the Subject header.
func (p Parsed) Subject() string {
	s, err := new(mime.WordDecoder).DecodeHeader(p.Header.Get("Subject"))
	if err != nil {
		return p.Header.Get("Subject")
	}
	return s
}

func decodePart(r io.Reader, encoding string) (string, error) {
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
