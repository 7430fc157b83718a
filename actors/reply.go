package actors

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// accountMessage and fromReply translate between the core's types and the
// protobuf messages that cross the actor boundary.
func accountMessage(a Account) *registrationv1.Account {
	m := &registrationv1.Account{
		Id:        a.ID,
		Email:     a.Email,
		CreatedAt: timestamppb.New(a.CreatedAt),
	}
	switch a.Status {
	case StatusPending:
		m.Status = registrationv1.AccountStatus_ACCOUNT_STATUS_PENDING
	case StatusActive:
		m.Status = registrationv1.AccountStatus_ACCOUNT_STATUS_ACTIVE
	}
	m.ActivatedAt = optionalTime(a.ActivatedAt)
	m.CodeExpiresAt = optionalTime(a.CodeExpiresAt)
	m.ResendAvailableAt = optionalTime(a.ResendAvailableAt)
	return m
}

func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromOptionalTime(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

func fromReply(reply *registrationv1.Reply) (Account, error) {
	if rej := reply.GetRejection(); rej != nil {
		reason, ok := reasons[rej.GetReason()]
		if !ok {
			return Account{}, fmt.Errorf("actors: unknown rejection reason %v", rej.GetReason())
		}
		return Account{}, &Rejection{
			Reason:            reason,
			RetryAfter:        rej.GetRetryAfter().AsDuration(),
			AttemptsRemaining: int(rej.GetAttemptsRemaining()),
		}
	}
	m := reply.GetAccount()
	if m == nil {
		return Account{}, errors.New("actors: empty reply")
	}
	a := Account{
		ID:                m.GetId(),
		Email:             m.GetEmail(),
		CreatedAt:         m.GetCreatedAt().AsTime(),
		ActivatedAt:       fromOptionalTime(m.GetActivatedAt()),
		CodeExpiresAt:     fromOptionalTime(m.GetCodeExpiresAt()),
		ResendAvailableAt: fromOptionalTime(m.GetResendAvailableAt()),
	}
	switch m.GetStatus() {
	case registrationv1.AccountStatus_ACCOUNT_STATUS_PENDING:
		a.Status = StatusPending
	case registrationv1.AccountStatus_ACCOUNT_STATUS_ACTIVE:
		a.Status = StatusActive
	}
	return a, nil
}

var reasons = map[registrationv1.Reason]error{
	registrationv1.Reason_REASON_EMAIL_TAKEN:         ErrEmailTaken,
	registrationv1.Reason_REASON_INVALID_CREDENTIALS: ErrInvalidCredentials,
	registrationv1.Reason_REASON_ALREADY_ACTIVE:      ErrAlreadyActive,
	registrationv1.Reason_REASON_INVALID_CODE_FORMAT: ErrInvalidCodeFormat,
	registrationv1.Reason_REASON_CODE_EXPIRED:        ErrCodeExpired,
	registrationv1.Reason_REASON_INVALID_CODE:        ErrInvalidCode,
	registrationv1.Reason_REASON_TOO_MANY_ATTEMPTS:   ErrTooManyAttempts,
	registrationv1.Reason_REASON_RATE_LIMITED:        ErrRateLimited,
	registrationv1.Reason_REASON_OVERLOADED:          ErrOverloaded,
	registrationv1.Reason_REASON_UNAVAILABLE:         ErrUnavailable,
	registrationv1.Reason_REASON_MOVED:               errMoved,
}

// errMoved: the shard that got the command does not own its email; the
// registry looks the owner up again. It never leaves the package.
var errMoved = errors.New("shard moved")

// rejection builds the reply of a refused command.
func rejection(err error) *registrationv1.Reply {
	rej := &registrationv1.Rejection{Reason: registrationv1.Reason_REASON_UNAVAILABLE}
	for code, sentinel := range reasons {
		if errors.Is(err, sentinel) {
			rej.Reason = code
			break
		}
	}
	var details *Rejection
	if errors.As(err, &details) {
		if details.RetryAfter > 0 {
			rej.RetryAfter = durationpb.New(details.RetryAfter)
		}
		rej.AttemptsRemaining = int32(details.AttemptsRemaining)
	}
	return &registrationv1.Reply{Result: &registrationv1.Reply_Rejection{Rejection: rej}}
}
