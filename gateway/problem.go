package gateway

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/address"
	"github.com/acme/registrar/password"
)

// Problem is an RFC 9457 problem document with the contract's stable code.
// It is the only error body the service sends. Its text is written by us:
// it never carries a submitted value, SQL or a stack trace.
type Problem struct {
	Type   string `json:"type" doc:"Identifies the problem type (urn:registrar:problem:<code>)"`
	Title  string `json:"title" doc:"Short summary of the problem type"`
	Status int    `json:"status" doc:"HTTP status code"`
	Detail string `json:"detail" doc:"Explanation of this occurrence"`
	Code   string `json:"code" doc:"Stable machine-readable code" enum:"malformed_request,invalid_credentials,email_taken,already_active,code_expired,invalid_code,request_too_large,unsupported_media_type,invalid_request,invalid_email,weak_password,too_many_attempts,rate_limited,overloaded,unavailable,not_found,method_not_allowed,not_acceptable,request_timeout,internal_error"`
	// Errors lists the invalid parts of a request (422 invalid_request).
	Errors []FieldError `json:"errors,omitempty" doc:"The invalid parts of the request"`
	// AttemptsRemaining is set on invalid_code.
	AttemptsRemaining *int `json:"attempts_remaining,omitempty" doc:"Guesses left for the current code"`

	headers http.Header
}

// FieldError locates one invalid part of a request.
type FieldError struct {
	Location string `json:"location" doc:"Where the error is, e.g. body.email"`
	Message  string `json:"message" doc:"What is wrong"`
}

func (p *Problem) Error() string { return p.Code + ": " + p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// GetHeaders implements huma.HeadersError.
func (p *Problem) GetHeaders() http.Header { return p.headers }

// ContentType implements huma.ContentTypeFilter.
func (p *Problem) ContentType(string) string { return "application/problem+json" }

func newProblem(status int, code, detail string) *Problem {
	return &Problem{
		Type:    "urn:registrar:problem:" + code,
		Title:   titles[code],
		Status:  status,
		Detail:  detail,
		Code:    code,
		headers: http.Header{},
	}
}

// retryAfter sets Retry-After in whole seconds, rounded up, at least 1.
func (p *Problem) retryAfter(d time.Duration) *Problem {
	secs := int64(math.Ceil(d.Seconds()))
	p.headers.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	return p
}

var titles = map[string]string{
	"malformed_request":      "Malformed request",
	"invalid_credentials":    "Invalid credentials",
	"email_taken":            "Email already registered",
	"already_active":         "Account already active",
	"code_expired":           "Verification code expired",
	"invalid_code":           "Invalid verification code",
	"request_too_large":      "Request too large",
	"unsupported_media_type": "Unsupported media type",
	"invalid_request":        "Invalid request",
	"invalid_email":          "Invalid email",
	"weak_password":          "Weak password",
	"too_many_attempts":      "Too many attempts",
	"rate_limited":           "Rate limited",
	"overloaded":             "Overloaded",
	"unavailable":            "Service unavailable",
	"not_found":              "Not found",
	"method_not_allowed":     "Method not allowed",
	"not_acceptable":         "Not acceptable",
	"request_timeout":        "Request timeout",
	"internal_error":         "Internal error",
}

const wwwAuthenticate = `Basic realm="registration", charset="UTF-8"`

func invalidCredentials() *Problem {
	p := newProblem(http.StatusUnauthorized, "invalid_credentials",
		"The email and password do not match an account. Send them with HTTP Basic authentication.")
	p.headers.Set("WWW-Authenticate", wwwAuthenticate)
	return p
}

// problemFor is the one place that turns an error into a status and a
// problem type. An error it does not know becomes a 500 whose detail says
// nothing about the cause (the caller logs it).
func problemFor(err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, true
	}
	var rej *actors.Rejection
	var retry time.Duration
	if errors.As(err, &rej) {
		retry = rej.RetryAfter
	}
	var weak *password.WeakError
	var badEmail *address.Error
	switch {
	case errors.Is(err, actors.ErrEmailTaken):
		return newProblem(http.StatusConflict, "email_taken", "An account with this email already exists."), true
	case errors.Is(err, actors.ErrInvalidCredentials):
		return invalidCredentials(), true
	case errors.Is(err, actors.ErrAlreadyActive):
		return newProblem(http.StatusConflict, "already_active", "This account is already active."), true
	case errors.Is(err, actors.ErrInvalidCodeFormat):
		return invalidRequest(FieldError{Location: "body.code", Message: "must be exactly 4 ASCII digits"}), true
	case errors.Is(err, actors.ErrCodeExpired):
		return newProblem(http.StatusGone, "code_expired",
			"The verification code has expired. Ask for a new one at POST /v1/users/activation-code."), true
	case errors.Is(err, actors.ErrInvalidCode):
		p := newProblem(http.StatusBadRequest, "invalid_code", "The verification code is not the one we sent.")
		if rej != nil {
			left := rej.AttemptsRemaining
			p.AttemptsRemaining = &left
		}
		return p, true
	case errors.Is(err, actors.ErrTooManyAttempts):
		return newProblem(http.StatusTooManyRequests, "too_many_attempts",
			"Too many failed attempts. Try again after the time in Retry-After.").retryAfter(retry), true
	case errors.Is(err, actors.ErrRateLimited):
		return newProblem(http.StatusTooManyRequests, "rate_limited",
			"Too many requests. Try again after the time in Retry-After.").retryAfter(retry), true
	case errors.Is(err, actors.ErrOverloaded):
		return newProblem(http.StatusServiceUnavailable, "overloaded",
			"The service is busy. Try again after the time in Retry-After.").retryAfter(retry), true
	case errors.Is(err, actors.ErrUnavailable):
		return newProblem(http.StatusServiceUnavailable, "unavailable",
			"The service is temporarily unavailable. Try again after the time in Retry-After.").retryAfter(retry), true
	case errors.As(err, &badEmail):
		p := newProblem(http.StatusUnprocessableEntity, "invalid_email", capitalize(badEmail.Reason)+".")
		p.Errors = []FieldError{{Location: "body.email", Message: badEmail.Reason}}
		return p, true
	case errors.As(err, &weak):
		p := newProblem(http.StatusUnprocessableEntity, "weak_password", capitalize(weak.Reason)+".")
		p.Errors = []FieldError{{Location: "body.password", Message: weak.Reason}}
		return p, true
	}
	return internalError(), false
}

func invalidRequest(errs ...FieldError) *Problem {
	p := newProblem(http.StatusUnprocessableEntity, "invalid_request", "The request is not valid.")
	p.Errors = errs
	return p
}

func internalError() *Problem {
	return newProblem(http.StatusInternalServerError, "internal_error", "Something went wrong on our side.")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// statusProblem is the problem for a status that huma or fiber decided on
// (body parsing, routing, limits).
func statusProblem(status int) *Problem {
	switch status {
	case http.StatusBadRequest:
		return newProblem(status, "malformed_request", "The request body is missing or is not valid JSON.")
	case http.StatusNotFound:
		return newProblem(status, "not_found", "There is nothing at this path.")
	case http.StatusMethodNotAllowed:
		return newProblem(status, "method_not_allowed", "This path does not support this method.")
	case http.StatusNotAcceptable:
		return newProblem(status, "not_acceptable", "Responses are only available as application/json.")
	case http.StatusRequestTimeout:
		return newProblem(status, "request_timeout", "The request took too long to arrive.")
	case http.StatusRequestEntityTooLarge:
		return newProblem(status, "request_too_large", fmt.Sprintf("The request body is over %d KiB.", maxBody/1024))
	case http.StatusRequestHeaderFieldsTooLarge:
		return newProblem(status, "headers_too_large", "The request's headers are too large.")
	case http.StatusUnsupportedMediaType:
		return unsupportedMediaType("Send the body as application/json, without Content-Encoding.")
	case http.StatusUnprocessableEntity:
		return newProblem(status, "invalid_request", "The request is not valid.")
	case http.StatusServiceUnavailable:
		return newProblem(status, "unavailable", "The service is temporarily unavailable.").retryAfter(time.Second)
	}
	if status >= 500 {
		return internalError()
	}
	return newProblem(status, "malformed_request", http.StatusText(status)+".")
}

func unsupportedMediaType(detail string) *Problem {
	return newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", detail)
}

// humaError replaces huma.NewError: huma's own error model echoes submitted
// values (the password among them) in validation errors. Only the location
// and huma's fixed message of each detail are kept.
func humaError(status int, _ string, errs ...error) huma.StatusError {
	p := statusProblem(status)
	if status == http.StatusUnprocessableEntity {
		for _, err := range errs {
			var d huma.ErrorDetailer
			if errors.As(err, &d) {
				detail := d.ErrorDetail()
				p.Errors = append(p.Errors, FieldError{Location: detail.Location, Message: detail.Message})
			}
		}
	}
	return p
}

func init() {
	// huma offers no per-API hook for its error type, only these package
	// variables; the gateway owns how every error is rendered.
	huma.NewError = humaError
	huma.NewErrorWithContext = func(_ huma.Context, status int, msg string, errs ...error) huma.StatusError {
		return humaError(status, msg, errs...)
	}
}
