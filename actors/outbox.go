package actors

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/internal/tracecontext"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// messages turns the events of one decision into outbox envelopes, in order.
// A CodeIssued becomes two messages: the email (with the code) on the private
// mail topic and the public event (without it) on the events topic. Each
// carries the trace context of ctx's span.
func messages(ctx context.Context, events []Event, now time.Time, rnd io.Reader) ([]*registrationv1.Envelope, error) {
	out := make([]*registrationv1.Envelope, 0, len(events)+1)
	parent, state := tracecontext.Inject(ctx)
	add := func(topic, key string, at time.Time, m proto.Message) error {
		id, err := NewID(now, rnd)
		if err != nil {
			return err
		}
		payload, err := proto.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode %s: %w", proto.MessageName(m), err)
		}
		out = append(out, &registrationv1.Envelope{
			Id:          id,
			Topic:       topic,
			Key:         key,
			Type:        string(proto.MessageName(m)),
			Time:        timestamppb.New(at),
			Payload:     payload,
			Source:      registrationv1.Source,
			Traceparent: parent,
			Tracestate:  state,
		})
		return nil
	}
	for _, e := range events {
		var err error
		switch e := e.(type) {
		case Registered:
			err = add(registrationv1.EventsTopic, e.UserID, e.At, &registrationv1.UserRegistered{
				UserId: e.UserID, Email: e.Email, RegisteredAt: timestamppb.New(e.At), Replaced: e.Replaced,
			})
		case CodeIssued:
			err = add(registrationv1.MailTopic, e.UserID, e.IssuedAt, &registrationv1.VerificationEmail{
				UserId: e.UserID, To: e.Email, Code: e.Code, Generation: e.Generation,
				IssuedAt: timestamppb.New(e.IssuedAt), ExpiresAt: timestamppb.New(e.ExpiresAt),
			})
			if err == nil {
				err = add(registrationv1.EventsTopic, e.UserID, e.IssuedAt, &registrationv1.VerificationCodeIssued{
					UserId: e.UserID, Generation: e.Generation, IssuedAt: timestamppb.New(e.IssuedAt),
					ExpiresAt: timestamppb.New(e.ExpiresAt), Reason: issueReason(e.Reason),
				})
			}
		case Activated:
			err = add(registrationv1.EventsTopic, e.UserID, e.At, &registrationv1.UserActivated{
				UserId: e.UserID, Email: e.Email, ActivatedAt: timestamppb.New(e.At),
			})
		case CodeExpired:
			err = add(registrationv1.EventsTopic, e.UserID, e.At, &registrationv1.VerificationCodeExpired{
				UserId: e.UserID, Generation: e.Generation, ExpiredAt: timestamppb.New(e.At),
			})
		case CodeBurned:
			err = add(registrationv1.EventsTopic, e.UserID, e.At, &registrationv1.VerificationCodeBurned{
				UserId: e.UserID, Generation: e.Generation, BurnedAt: timestamppb.New(e.At),
			})
		case Throttled:
			err = add(registrationv1.EventsTopic, e.UserID, now, &registrationv1.AccountThrottled{
				UserId: e.UserID, Until: timestamppb.New(e.Until), Scope: throttleScope(e.Scope),
			})
		case RegistrationPurged:
			err = add(registrationv1.EventsTopic, e.UserID, e.At, &registrationv1.RegistrationPurged{
				UserId: e.UserID, PurgedAt: timestamppb.New(e.At),
			})
		default:
			err = fmt.Errorf("no message for event %T", e)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func issueReason(r IssueReason) registrationv1.IssueReason {
	switch r {
	case IssueRegistration:
		return registrationv1.IssueReason_ISSUE_REASON_REGISTRATION
	case IssueReregistration:
		return registrationv1.IssueReason_ISSUE_REASON_REREGISTRATION
	case IssueResend:
		return registrationv1.IssueReason_ISSUE_REASON_RESEND
	}
	return registrationv1.IssueReason_ISSUE_REASON_UNSPECIFIED
}

func throttleScope(s ThrottleScope) registrationv1.ThrottleScope {
	switch s {
	case ThrottlePasswords:
		return registrationv1.ThrottleScope_THROTTLE_SCOPE_PASSWORDS
	case ThrottleCodes:
		return registrationv1.ThrottleScope_THROTTLE_SCOPE_CODES
	}
	return registrationv1.ThrottleScope_THROTTLE_SCOPE_UNSPECIFIED
}
