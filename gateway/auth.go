package gateway

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/registrar/address"
)

// credentials are the email and password of a Basic Authorization header.
type credentials struct {
	email    string // normalized
	password string
}

// LogValue keeps the password out of any log line.
func (c credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("email", c.email), slog.String("password", "[REDACTED]"))
}

type credentialsKey struct{}

// parseBasic reads an Authorization header per RFC 7617: scheme "Basic"
// (any case), base64 of "user-id:password" in UTF-8. The user-id is the email
// and is normalized; the password is taken exactly as sent.
func parseBasic(header string) (credentials, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return credentials{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil || !utf8.Valid(raw) {
		return credentials{}, false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return credentials{}, false
	}
	email, err := address.Normalize(user)
	if err != nil {
		return credentials{}, false
	}
	return credentials{email: email, password: pass}, true
}

// basicAuth is the huma middleware of the authenticated operations. It runs
// before the body is read. Missing or malformed credentials get the same 401
// as a wrong password, after verifying the dummy hash so they take as long.
func (s *Server) basicAuth(ctx huma.Context, next func(huma.Context)) {
	creds, ok := parseBasic(ctx.Header("Authorization"))
	if !ok {
		// The outcome does not matter, only the time it takes; an overloaded
		// hasher answers at once, which is no oracle either.
		_, _ = s.cfg.Passwords.Verify(ctx.Context(), s.cfg.DummyHash, "")
		s.writeProblem(ctx, invalidCredentials())
		return
	}
	next(huma.WithValue(ctx, credentialsKey{}, creds))
}

func credentialsFrom(ctx context.Context) credentials {
	c, _ := ctx.Value(credentialsKey{}).(credentials)
	return c
}
