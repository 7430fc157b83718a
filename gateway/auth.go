package gateway

import (
	"context"
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/address"
)

type credentialsKey struct{}

// parseBasic reads an Authorization header per RFC 7617: scheme "Basic"
// (any case), base64 of "user-id:password" in UTF-8. The user-id is the email
// and is normalized; the password is taken exactly as sent.
func parseBasic(header string) (actors.Credentials, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return actors.Credentials{}, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
	if err != nil || !utf8.Valid(raw) {
		return actors.Credentials{}, false
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return actors.Credentials{}, false
	}
	email, err := address.Normalize(user)
	if err != nil {
		return actors.Credentials{}, false
	}
	return actors.Credentials{Email: email, Password: pass}, true
}

// basicAuth is the huma middleware of the authenticated operations. It runs
// before the body is read. Missing or malformed credentials get the same 401
// as a wrong password, after verifying the dummy hash so they take as long.
func (s *Server) basicAuth(ctx huma.Context, next func(huma.Context)) {
	creds, ok := parseBasic(ctx.Header("Authorization"))
	creds.Source = sourceFrom(ctx.Context())
	if !ok {
		// The outcome does not matter, only the time it takes; an overloaded
		// hasher answers at once, which is no oracle either.
		_, _ = s.cfg.Passwords.Verify(ctx.Context(), s.cfg.DummyHash, "")
		s.writeProblem(ctx, invalidCredentials())
		return
	}
	next(huma.WithValue(ctx, credentialsKey{}, creds))
}

func credentialsFrom(ctx context.Context) actors.Credentials {
	c, _ := ctx.Value(credentialsKey{}).(actors.Credentials)
	return c
}
