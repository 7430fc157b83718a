package gateway_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/gateway"
)

const wwwAuthenticate = `Basic realm="registration", charset="UTF-8"`

func TestRegister(t *testing.T) {
	t.Run("a new email gets 201, a pending account and one email", func(t *testing.T) {
		e := newEnv(t, options{})
		pw := e.secret("Tr0ub4dor&3")
		r := e.register("  Ann@Example.COM ", pw)
		require.Equal(t, http.StatusCreated, r.status, r.raw)
		assert.Equal(t, "/v1/users/me", r.header.Get("Location"))
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, r.body["id"])
		assert.Equal(t, "ann@example.com", r.body["email"], "the email is normalized")
		assert.Equal(t, "pending", r.body["status"])
		assert.Equal(t, "2026-11-23T12:01:00Z", r.body["code_expires_at"])
		assert.Equal(t, "2026-11-23T12:00:30Z", r.body["resend_available_at"])
		assert.Len(t, r.body, 5)
		require.Len(t, e.mails("ann@example.com"), 1)
		assert.Regexp(t, `^[0-9]{4}$`, e.code("ann@example.com"))
	})

	t.Run("a pending account whose cooldown passed is replaced: same id, new password, new code", func(t *testing.T) {
		e := newEnv(t, options{})
		oldPW, oldCode := e.pending("bea@example.com")
		first := e.me("bea@example.com", oldPW)
		e.clock.Advance(30 * time.Second)
		newPW := e.secret("correct horse battery staple")
		r := e.register("bea@example.com", newPW)
		require.Equal(t, http.StatusCreated, r.status, r.raw)
		assert.Equal(t, first.body["id"], r.body["id"])
		assert.Len(t, e.mails("bea@example.com"), 2)
		assert.Equal(t, http.StatusUnauthorized, e.me("bea@example.com", oldPW).status, "the old password is dead")
		newCode := e.code("bea@example.com")
		if newCode != oldCode {
			assert.Equal(t, "invalid_code", e.activate("bea@example.com", newPW, oldCode).code(), "the old code is dead")
		}
		assert.Equal(t, http.StatusOK, e.activate("bea@example.com", newPW, newCode).status)
	})

	t.Run("an active account is taken and nothing changes", func(t *testing.T) {
		e := newEnv(t, options{})
		pw := e.active("cat@example.com")
		r := e.register("CAT@example.com", e.secret("correct horse battery staple"))
		assert.Equal(t, http.StatusConflict, r.status)
		assert.Equal(t, "email_taken", r.code())
		assert.Len(t, e.mails("cat@example.com"), 1, "no email")
		assert.Equal(t, http.StatusOK, e.me("cat@example.com", pw).status, "the password is unchanged")
	})

	t.Run("a pending account whose password checks are throttled registers as usual", func(t *testing.T) {
		e := newEnv(t, options{})
		old, _ := e.pending("dan@example.com")
		for range 10 {
			require.Equal(t, http.StatusUnauthorized, e.me("dan@example.com", e.secret("wrong password 1")).status)
		}
		require.Equal(t, http.StatusTooManyRequests, e.me("dan@example.com", old).status)
		e.clock.Advance(30 * time.Second)
		pw := e.secret("correct horse battery staple")
		r := e.register("dan@example.com", pw)
		assert.Equal(t, http.StatusCreated, r.status, r.raw)
		assert.Len(t, e.mails("dan@example.com"), 2)
		assert.Equal(t, http.StatusOK, e.me("dan@example.com", pw).status, "the new password works at once")
		assert.Equal(t, http.StatusUnauthorized, e.me("dan@example.com", old).status, "the old one is gone")
	})

	t.Run("a pending account within its cooldown is rate limited", func(t *testing.T) {
		e := newEnv(t, options{})
		e.pending("eve@example.com")
		e.clock.Advance(10*time.Second + 500*time.Millisecond)
		r := e.register("eve@example.com", e.secret("correct horse battery staple"))
		assert.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "rate_limited", r.code())
		assert.Equal(t, "20", r.header.Get("Retry-After"), "19.5 s rounds up")
		assert.Len(t, e.mails("eve@example.com"), 1)
	})

	t.Run("bad email is invalid_email", func(t *testing.T) {
		e := newEnv(t, options{})
		for _, email := range []string{"Ann <ann@example.com>", "a@b", `"a b"@example.com`, "ann@localhost",
			strings.Repeat("a", 65) + "@example.com", "ann:x@example.com", ""} {
			r := e.register(email, e.secret("correct horse battery staple"))
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, email)
			assert.Equal(t, "invalid_email", r.code(), email)
		}
	})

	t.Run("bad password is weak_password and never echoed", func(t *testing.T) {
		e := newEnv(t, options{})
		for _, pw := range []string{"short7!", "password", "12345678", "qwertyuiop", strings.Repeat("xK9#mQ2$vL", 13)} {
			if pw != "password" { // a word of the fixed messages themselves
				e.secret(pw)
			}
			r := e.register("fay@example.com", pw)
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, pw)
			assert.Equal(t, "weak_password", r.code(), pw)
		}
		assert.Empty(t, e.mails("fay@example.com"))
	})

	t.Run("a body that is not JSON is malformed", func(t *testing.T) {
		e := newEnv(t, options{})
		for _, body := range []string{`{"email": "a@example.com", "password": `, `not json`, `{"email":"a@example.com","password":"x"} trailing`} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: body})
			assert.Equal(t, http.StatusBadRequest, r.status, body)
			assert.Equal(t, "malformed_request", r.code(), body)
		}
		r := e.do(request{method: http.MethodPost, path: "/v1/users", header: map[string]string{"Content-Type": "application/json"}})
		assert.Equal(t, "malformed_request", r.code(), "an empty body")
	})

	t.Run("missing or extra fields and wrong types are invalid_request and echo nothing", func(t *testing.T) {
		e := newEnv(t, options{})
		pw := e.secret("secret-Passw0rd-42")
		tests := map[string]struct{ body, location string }{
			"missing password": {`{"email":"ann@example.com"}`, "body"},
			"extra field":      {`{"email":"ann@example.com","password":"` + pw + `","admin":true}`, "body.admin"},
			"wrong type":       {`{"email":"ann@example.com","password":["` + pw + `"]}`, "body.password"},
			"not an object":    {`["` + pw + `"]`, "body"},
			"null":             {`null`, "body"},
		}
		for name, tt := range tests {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: tt.body})
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, name)
			assert.Equal(t, "invalid_request", r.code(), name)
			errs, _ := r.body["errors"].([]any)
			require.NotEmpty(t, errs, name)
			first, _ := errs[0].(map[string]any)
			assert.Equal(t, tt.location, first["location"], name)
			assert.NotEmpty(t, first["message"], name)
			assert.NotContains(t, first, "value", "%s: huma's echo of the value must be gone", name)
		}
	})

	t.Run("a content type other than JSON is unsupported", func(t *testing.T) {
		e := newEnv(t, options{})
		body := registerBody("ann@example.com", e.secret("correct horse battery staple"))
		for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "application/xml", ""} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: body, header: map[string]string{"Content-Type": ct}})
			assert.Equal(t, http.StatusUnsupportedMediaType, r.status, "content type %q", ct)
			assert.Equal(t, "unsupported_media_type", r.code())
		}
		r := e.do(request{method: http.MethodPost, path: "/v1/users", body: body,
			header: map[string]string{"Content-Type": "application/json; charset=utf-8"}})
		assert.Equal(t, http.StatusCreated, r.status, "parameters are fine")
	})

	t.Run("any content encoding but identity is unsupported, before anything is inflated", func(t *testing.T) {
		e := newEnv(t, options{})
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		_, _ = w.Write(bytes.Repeat([]byte(" "), 10<<20)) // 10 MiB of spaces: a few KiB compressed
		require.NoError(t, w.Close())
		for _, enc := range []string{"gzip", "deflate", "br", "gzip, identity"} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users", body: gz.String(),
				header: map[string]string{"Content-Encoding": enc}})
			assert.Equal(t, http.StatusUnsupportedMediaType, r.status, enc)
			assert.Equal(t, "unsupported_media_type", r.code(), enc)
		}
		r := e.do(request{method: http.MethodPost, path: "/v1/users",
			body:   registerBody("ann@example.com", e.secret("correct horse battery staple")),
			header: map[string]string{"Content-Encoding": "identity"}})
		assert.Equal(t, http.StatusCreated, r.status)
	})

	t.Run("a body over 64 KiB is too large; 64 KiB exactly is read", func(t *testing.T) {
		e := newEnv(t, options{})
		body := registerBody("ann@example.com", e.secret("correct horse battery staple"))
		exact := body[:len(body)-1] + strings.Repeat(" ", 64*1024-len(body)) + "}"
		require.Len(t, exact, 64*1024)
		r := e.do(request{method: http.MethodPost, path: "/v1/users", body: exact})
		assert.Equal(t, http.StatusCreated, r.status, r.raw)

		// fasthttp refuses a declared length over the limit before reading
		// the body, which only a real connection shows.
		r = e.sendHeaders(request{method: http.MethodPost, path: "/v1/users", header: map[string]string{
			"Content-Type": "application/json", "Content-Length": fmt.Sprint(64*1024 + 1)}})
		assert.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		assert.Equal(t, "request_too_large", r.code())
	})

	t.Run("the per-client-IP limit answers rate_limited", func(t *testing.T) {
		e := newEnv(t, options{limiter: gateway.NewRollingLimiter(3, time.Minute)})
		for i := range 3 {
			r := e.do(request{method: http.MethodGet, path: "/v1/users/me"})
			require.Equal(t, http.StatusUnauthorized, r.status, "request %d", i)
		}
		r := e.register("ann@example.com", e.secret("correct horse battery staple"))
		assert.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "rate_limited", r.code())
		h := e.do(request{method: http.MethodGet, path: "/healthz"})
		assert.Equal(t, http.StatusOK, h.status, "only /v1 is limited")
	})

	t.Run("saturated hashing answers overloaded", func(t *testing.T) {
		e := newEnv(t, options{})
		e.hasher.overloaded.Store(true)
		r := e.register("ann@example.com", e.secret("correct horse battery staple"))
		assert.Equal(t, http.StatusServiceUnavailable, r.status)
		assert.Equal(t, "overloaded", r.code())
		assert.Empty(t, e.mails("ann@example.com"))
	})
}

func TestActivate(t *testing.T) {
	t.Run("missing or malformed credentials get the uniform 401", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, _ := e.pending("ann@example.com")
		var bodies []string
		before := e.hasher.verified.Load()
		for name, auth := range map[string]string{
			"missing":        "",
			"other scheme":   "Bearer abc",
			"not base64":     "Basic !!!",
			"no colon":       "Basic YW5uQGV4YW1wbGUuY29t",
			"invalid email":  basic("not-an-email", pw)["Authorization"],
			"unknown email":  basic("nobody@example.com", pw)["Authorization"],
			"wrong password": basic("ann@example.com", "wrong")["Authorization"],
		} {
			r := e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: `{"code":"1234"}`,
				header: map[string]string{"Authorization": auth}})
			assert.Equal(t, http.StatusUnauthorized, r.status, name)
			assert.Equal(t, "invalid_credentials", r.code(), name)
			assert.Equal(t, wwwAuthenticate, r.header.Get("WWW-Authenticate"), name)
			bodies = append(bodies, r.raw)
			after := e.hasher.verified.Load()
			assert.Equal(t, int64(1), after-before, "%s: every 401 costs exactly one password verification, so all take about as long", name)
			before = after
		}
		for _, b := range bodies[1:] {
			assert.Equal(t, bodies[0], b, "every 401 has the same body")
		}
	})

	t.Run("the scheme is case-insensitive and the email is normalized", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, code := e.pending("ann@example.com")
		auth := strings.Replace(basic(" ANN@Example.com", pw)["Authorization"], "Basic", "bAsIc", 1)
		r := e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: `{"code":"` + code + `"}`,
			header: map[string]string{"Authorization": auth}})
		assert.Equal(t, http.StatusOK, r.status, r.raw)
	})

	t.Run("throttled password checks answer 429 even with the right password, for at most 15 minutes", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, code := e.pending("bob@example.com")
		for range 10 {
			require.Equal(t, http.StatusUnauthorized, e.activate("bob@example.com", "wrong password", code).status)
		}
		r := e.activate("bob@example.com", pw, code)
		assert.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "too_many_attempts", r.code())
		assert.Equal(t, "60", r.header.Get("Retry-After"))
		e.clock.Advance(time.Minute)
		assert.Equal(t, http.StatusUnauthorized, e.activate("bob@example.com", "wrong password", code).status)
		assert.Equal(t, "120", e.activate("bob@example.com", pw, code).header.Get("Retry-After"), "the wait doubles")
	})

	t.Run("an exhausted code budget answers 429 after the credentials", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, _ := e.pending("bud@example.com")
		for i := range 10 {
			if i > 0 && i%3 == 0 {
				e.clock.Advance(30 * time.Second)
				require.Equal(t, http.StatusAccepted, e.resend("bud@example.com", pw).status)
			}
			e.activate("bud@example.com", pw, wrongCode(e.code("bud@example.com")))
		}
		e.clock.Advance(30 * time.Second)
		require.Equal(t, http.StatusAccepted, e.resend("bud@example.com", pw).status)
		assert.Equal(t, http.StatusUnauthorized, e.activate("bud@example.com", "wrong password", "0000").status, "credentials first")
		r := e.activate("bud@example.com", pw, e.code("bud@example.com"))
		assert.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "too_many_attempts", r.code())
		assert.Equal(t, "86280", r.header.Get("Retry-After"), "until the first wrong code is a day old")
	})

	t.Run("an active account is already active", func(t *testing.T) {
		e := newEnv(t, options{})
		pw := e.active("cat@example.com")
		r := e.activate("cat@example.com", pw, "1234")
		assert.Equal(t, http.StatusConflict, r.status)
		assert.Equal(t, "already_active", r.code())
	})

	t.Run("a code that is not 4 ASCII digits is invalid_request and counts no attempt", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, code := e.pending("dan@example.com")
		for _, bad := range []string{"123", "12345", "12a4", "١٢٣٤", " 123", ""} {
			r := e.activate("dan@example.com", pw, bad)
			assert.Equal(t, http.StatusUnprocessableEntity, r.status, "%q", bad)
			assert.Equal(t, "invalid_request", r.code(), "%q", bad)
		}
		r := e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: `{"code":1234}`, header: basic("dan@example.com", pw)})
		assert.Equal(t, "invalid_request", r.code(), "a number is the wrong type")
		r = e.activate("dan@example.com", pw, wrongCode(code))
		assert.Equal(t, "invalid_code", r.code())
		assert.EqualValues(t, 2, r.body["attempts_remaining"], "format errors must not count")
	})

	t.Run("an expired code is gone, whatever code was sent", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, code := e.pending("eve@example.com")
		e.clock.Advance(time.Minute)
		for _, c := range []string{code, wrongCode(code)} {
			r := e.activate("eve@example.com", pw, c)
			assert.Equal(t, http.StatusGone, r.status)
			assert.Equal(t, "code_expired", r.code())
		}
	})

	t.Run("wrong codes count down, the last one burns the code", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, code := e.pending("fay@example.com")
		wrong := wrongCode(code)
		r := e.activate("fay@example.com", pw, wrong)
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Equal(t, "invalid_code", r.code())
		assert.EqualValues(t, 2, r.body["attempts_remaining"])
		r = e.activate("fay@example.com", pw, wrong)
		assert.EqualValues(t, 1, r.body["attempts_remaining"])
		e.clock.Advance(5 * time.Second)
		r = e.activate("fay@example.com", pw, wrong)
		assert.Equal(t, http.StatusTooManyRequests, r.status)
		assert.Equal(t, "too_many_attempts", r.code())
		assert.Equal(t, "25", r.header.Get("Retry-After"), "until a new code may be issued")

		r = e.activate("fay@example.com", pw, code)
		assert.Equal(t, http.StatusTooManyRequests, r.status, "a burned code stays burned, even the right one")
		assert.Equal(t, "too_many_attempts", r.code())
	})

	t.Run("the right code activates", func(t *testing.T) {
		e := newEnv(t, options{})
		pw, code := e.pending("gus@example.com")
		e.clock.Advance(59 * time.Second)
		r := e.activate("gus@example.com", pw, code)
		require.Equal(t, http.StatusOK, r.status, r.raw)
		assert.Equal(t, "gus@example.com", r.body["email"])
		assert.Equal(t, "active", r.body["status"])
		assert.Equal(t, "2026-11-23T12:00:59Z", r.body["activated_at"])
		assert.NotEmpty(t, r.body["id"])
		assert.Len(t, r.body, 4)
	})

	t.Run("unauthenticated requests are refused before the body is read", func(t *testing.T) {
		e := newEnv(t, options{})
		r := e.do(request{method: http.MethodPost, path: "/v1/users/activate", body: `not json`})
		assert.Equal(t, http.StatusUnauthorized, r.status)
	})
}

func TestResendCode(t *testing.T) {
	e := newEnv(t, options{})
	pw, first := e.pending("ann@example.com")

	r := e.resend("ann@example.com", pw)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "rate_limited", r.code())
	assert.Equal(t, "30", r.header.Get("Retry-After"))

	assert.Equal(t, http.StatusUnauthorized, e.resend("ann@example.com", "wrong").status)
	assert.Equal(t, http.StatusUnauthorized, e.resend("nobody@example.com", pw).status)

	e.clock.Advance(30 * time.Second)
	r = e.resend("ann@example.com", pw)
	require.Equal(t, http.StatusAccepted, r.status, r.raw)
	assert.Equal(t, map[string]any{
		"code_expires_at": "2026-11-23T12:01:30Z", "resend_available_at": "2026-11-23T12:01:00Z",
	}, r.body)
	require.Len(t, e.mails("ann@example.com"), 2, "one email with the new code")
	second := e.code("ann@example.com")
	if second != first {
		assert.Equal(t, "invalid_code", e.activate("ann@example.com", pw, first).code(), "the first code is dead")
	}
	assert.Equal(t, http.StatusOK, e.activate("ann@example.com", pw, second).status)

	r = e.resend("ann@example.com", pw)
	assert.Equal(t, http.StatusConflict, r.status)
	assert.Equal(t, "already_active", r.code())
	assert.Len(t, e.mails("ann@example.com"), 2, "no email for an active account")
}

func TestResendCodeHourlyCap(t *testing.T) {
	e := newEnv(t, options{})
	pw, _ := e.pending("cap@example.com")
	for range 4 {
		e.clock.Advance(30 * time.Second)
		require.Equal(t, http.StatusAccepted, e.resend("cap@example.com", pw).status)
	}
	e.clock.Advance(30 * time.Second)
	r := e.resend("cap@example.com", pw)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "rate_limited", r.code())
	assert.Equal(t, "3450", r.header.Get("Retry-After"), "until the first code of the hour is an hour old")
}

func TestMe(t *testing.T) {
	e := newEnv(t, options{})
	pw, code := e.pending("ann@example.com")
	r := e.me("ann@example.com", pw)
	require.Equal(t, http.StatusOK, r.status, r.raw)
	assert.Equal(t, "pending", r.body["status"])
	assert.Equal(t, "2026-11-23T12:00:00Z", r.body["created_at"])
	assert.Nil(t, r.body["activated_at"])
	assert.Contains(t, r.body, "activated_at", "null, not missing")
	assert.Equal(t, "2026-11-23T12:01:00Z", r.body["code_expires_at"])
	assert.Equal(t, "2026-11-23T12:00:30Z", r.body["resend_available_at"])

	require.Equal(t, http.StatusOK, e.activate("ann@example.com", pw, code).status)
	r = e.me("ann@example.com", pw)
	assert.Equal(t, "active", r.body["status"])
	assert.Equal(t, "2026-11-23T12:00:00Z", r.body["activated_at"])
	assert.Nil(t, r.body["code_expires_at"])
	assert.Nil(t, r.body["resend_available_at"])
	assert.Len(t, r.body, 7)

	for range 10 {
		assert.Equal(t, http.StatusUnauthorized, e.me("ann@example.com", "wrong").status)
	}
	r = e.me("ann@example.com", pw)
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	assert.Equal(t, "too_many_attempts", r.code())
}

func TestUnavailableActorsAnswer503(t *testing.T) {
	e := newEnv(t, options{})
	e.store.FailWith(func(string) error { return assert.AnError })
	r := e.register("ann@example.com", e.secret("correct horse battery staple"))
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Equal(t, "unavailable", r.code())
	e.store.FailWith(nil)
	assert.Equal(t, http.StatusCreated, e.register("ann@example.com", e.secret("correct horse battery staple")).status)
}

// A registration that cannot succeed is answered before the password is
// hashed: a taken email (409), one within its cooldown (429). The actor
// decides again after the hash, so the check only saves work.
func TestRegistrationsThatCannotSucceedCostNoHash(t *testing.T) {
	e := newEnv(t, options{})
	pw := e.active("taken@example.com")
	_, _ = e.pending("cooling@example.com")

	before := e.hasher.hashed.Load()
	r := e.register("taken@example.com", "another fine password")
	assert.Equal(t, http.StatusConflict, r.status, r.raw)
	assert.Equal(t, "email_taken", r.code())
	r = e.register("cooling@example.com", "another fine password")
	assert.Equal(t, http.StatusTooManyRequests, r.status, r.raw)
	assert.Equal(t, "30", r.header.Get("Retry-After"))
	assert.Equal(t, before, e.hasher.hashed.Load(), "neither paid for a hash")

	r = e.register("new@example.com", "another fine password")
	assert.Equal(t, http.StatusCreated, r.status, r.raw)
	assert.Equal(t, before+1, e.hasher.hashed.Load(), "a registration that can succeed hashes once")
	assert.Equal(t, http.StatusOK, e.me("taken@example.com", pw).status, "the taken account is untouched")
}
