package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/registrar/actors"
	"github.com/acme/registrar/address"
	"github.com/acme/registrar/password"
)

type registerInput struct {
	Body struct {
		Email    string `json:"email" doc:"Email address; surrounding white space is trimmed, case does not matter" example:"ann@example.com"`
		Password string `json:"password" doc:"8 to 128 characters, taken exactly as sent; common passwords are refused" example:"correct horse battery staple"`
	}
}

// Registration is the answer to a registration.
type Registration struct {
	ID                string    `json:"id" doc:"Account id (UUIDv7); stays the same across re-registrations"`
	Email             string    `json:"email" doc:"The normalized email"`
	Status            string    `json:"status" enum:"pending"`
	CodeExpiresAt     time.Time `json:"code_expires_at" doc:"When the code just sent stops working"`
	ResendAvailableAt time.Time `json:"resend_available_at" doc:"When a new code may be asked for"`
}

type registerOutput struct {
	Location string `header:"Location"`
	Body     Registration
}

// ActivateRequest is the body of an activation. The operation reads it
// itself (activateInput.RawBody): a body it cannot use is answered only
// after the credentials, the throttle and the account's status, in the
// contract's order, like a code of the wrong format.
type ActivateRequest struct {
	Code string `json:"code" doc:"The 4-digit code from the email, exactly 4 ASCII digits" example:"0427"`
}

type activateInput struct {
	RawBody []byte
}

// Activation is the answer to a successful activation.
type Activation struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Status      string    `json:"status" enum:"active"`
	ActivatedAt time.Time `json:"activated_at"`
}

type activateOutput struct{ Body Activation }

// CodeIssued is the answer to a request for a new code.
type CodeIssued struct {
	CodeExpiresAt     time.Time `json:"code_expires_at"`
	ResendAvailableAt time.Time `json:"resend_available_at"`
}

type resendOutput struct{ Body CodeIssued }

// Me describes the caller's account.
type Me struct {
	ID                string     `json:"id"`
	Email             string     `json:"email"`
	Status            string     `json:"status" enum:"pending,active"`
	CreatedAt         time.Time  `json:"created_at"`
	ActivatedAt       *time.Time `json:"activated_at" nullable:"true" required:"true"`
	CodeExpiresAt     *time.Time `json:"code_expires_at" nullable:"true" required:"true" doc:"Expiry of the current code; null once active"`
	ResendAvailableAt *time.Time `json:"resend_available_at" nullable:"true" required:"true" doc:"When a new code may be asked for; null once active"`
}

type meOutput struct{ Body Me }

var basicSecurity = []map[string][]string{{"basicAuth": {}}}

func (s *Server) registerUserRoutes(api huma.API) {
	auth := huma.Middlewares{s.basicAuth}
	huma.Register(api, huma.Operation{
		OperationID:   "register",
		Method:        http.MethodPost,
		Path:          "/v1/users",
		Summary:       "Register",
		Description:   "Creates a pending account and emails it a 4-digit code, or replaces a pending account whose issuing cooldown has passed (new password, new code, same id).",
		Tags:          []string{"users"},
		DefaultStatus: http.StatusCreated,
		Middlewares:   huma.Middlewares{strictBody[registerInput](s)},
		MaxBodyBytes:  maxBody + 1,
		Errors:        []int{400, 409, 413, 415, 422, 429, 503},
	}, s.register)
	huma.Register(api, huma.Operation{
		OperationID:  "activate",
		Method:       http.MethodPost,
		Path:         "/v1/users/activate",
		Summary:      "Activate",
		Description:  "Activates a pending account with the code it was sent. Checks, in order: credentials, password throttle (429 before the password is verified), password, status, code format, expiry, code budget, guesses left, the code.",
		Tags:         []string{"users"},
		Security:     basicSecurity,
		Middlewares:  auth,
		MaxBodyBytes: maxBody + 1,
		Errors:       []int{400, 401, 409, 410, 413, 415, 422, 429, 503},
	}, s.activate)
	// The body is read by the operation (RawBody), so huma documents it as
	// bytes; the document shows its schema.
	activate := api.OpenAPI().Paths["/v1/users/activate"].Post
	activate.RequestBody.Required = true
	activate.RequestBody.Content = map[string]*huma.MediaType{"application/json": {
		Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[ActivateRequest](), true, "ActivateRequest"),
	}}
	huma.Register(api, huma.Operation{
		OperationID:   "issueActivationCode",
		Method:        http.MethodPost,
		Path:          "/v1/users/activation-code",
		Summary:       "Issue a new code",
		Description:   "Emails a new code to a pending account; every earlier code stops working. No body is needed; one that is sent is ignored, but like every body of /v1 it must be JSON (415) and at most 64 KiB (413).",
		Tags:          []string{"users"},
		Security:      basicSecurity,
		Middlewares:   auth,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{401, 409, 413, 415, 429, 503},
	}, s.resendCode)
	huma.Register(api, huma.Operation{
		OperationID: "me",
		Method:      http.MethodGet,
		Path:        "/v1/users/me",
		Summary:     "Describe the caller's account",
		Tags:        []string{"users"},
		Security:    basicSecurity,
		Middlewares: auth,
		Errors:      []int{401, 429, 503},
	}, s.me)
}

func (s *Server) register(ctx context.Context, in *registerInput) (*registerOutput, error) {
	email, err := address.Normalize(in.Body.Email)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	if err := password.Check(in.Body.Password, password.EmailWords(email)...); err != nil {
		return nil, s.fail(ctx, err)
	}
	// A registration of a taken email, or within its cooldown, is answered
	// without paying for a hash (the actor checks again after it).
	if err := s.cfg.Registrations.CheckRegister(ctx, email); err != nil {
		return nil, s.fail(ctx, err)
	}
	hash, err := s.cfg.Passwords.Hash(ctx, in.Body.Password)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	acc, err := s.cfg.Registrations.Register(ctx, email, hash)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &registerOutput{
		Location: "/v1/users/me",
		Body: Registration{
			ID: acc.ID, Email: acc.Email, Status: acc.Status.String(),
			CodeExpiresAt: acc.CodeExpiresAt.UTC(), ResendAvailableAt: acc.ResendAvailableAt.UTC(),
		},
	}, nil
}

func (s *Server) activate(ctx context.Context, in *activateInput) (*activateOutput, error) {
	c := credentialsFrom(ctx)
	code, bodyProblem := readActivation(in.RawBody)
	// A body without a usable code goes to the actor as an empty code: its
	// problem is answered where the contract puts a code of the wrong
	// format, after the credentials and the account's status.
	acc, err := s.cfg.Registrations.Activate(ctx, c, code)
	if err != nil {
		if bodyProblem != nil && errors.Is(err, actors.ErrInvalidCodeFormat) {
			return nil, bodyProblem
		}
		return nil, s.fail(ctx, err)
	}
	return &activateOutput{Body: Activation{
		ID: acc.ID, Email: acc.Email, Status: acc.Status.String(), ActivatedAt: acc.ActivatedAt.UTC(),
	}}, nil
}

func (s *Server) resendCode(ctx context.Context, _ *struct{}) (*resendOutput, error) {
	c := credentialsFrom(ctx)
	acc, err := s.cfg.Registrations.ResendCode(ctx, c)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &resendOutput{Body: CodeIssued{
		CodeExpiresAt: acc.CodeExpiresAt.UTC(), ResendAvailableAt: acc.ResendAvailableAt.UTC(),
	}}, nil
}

func (s *Server) me(ctx context.Context, _ *struct{}) (*meOutput, error) {
	c := credentialsFrom(ctx)
	acc, err := s.cfg.Registrations.Describe(ctx, c)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &meOutput{Body: Me{
		ID: acc.ID, Email: acc.Email, Status: acc.Status.String(), CreatedAt: acc.CreatedAt.UTC(),
		ActivatedAt: optional(acc.ActivatedAt), CodeExpiresAt: optional(acc.CodeExpiresAt),
		ResendAvailableAt: optional(acc.ResendAvailableAt),
	}}, nil
}

var activationKeys = jsonKeys(reflect.TypeFor[ActivateRequest]())

// readActivation reads the code of an activation body, strictly; the
// problem is what to answer when the body has no usable code.
func readActivation(body []byte) (string, *Problem) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", malformed("The request body is missing or is not valid JSON.")
	}
	if p := checkBody(body, activationKeys); p != nil {
		return "", p
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "", invalidRequest(FieldError{Location: "body", Message: "expected an object"})
	}
	raw, ok := fields["code"]
	if !ok {
		return "", invalidRequest(FieldError{Location: "body", Message: "expected required property code to be present"})
	}
	var code string
	if json.Unmarshal(raw, &code) != nil {
		return "", invalidRequest(FieldError{Location: "body.code", Message: "expected string"})
	}
	return code, nil
}

func optional(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// fail maps err to its problem; an unexpected error is logged here, once,
// and answered with a 500 that says nothing about it.
func (s *Server) fail(ctx context.Context, err error) error {
	p, known := problemFor(err)
	if !known {
		s.log.ErrorContext(ctx, "request failed", "error", err)
	}
	return p
}
