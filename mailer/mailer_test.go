package mailer_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/mailer"
	"github.com/acme/registrar/mailer/smtptest"
	"github.com/acme/registrar/messaging"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

var quiet = slog.New(slog.DiscardHandler)

// events captures published delivery events.
type events struct {
	mu  sync.Mutex
	got []*registrationv1.Envelope
}

func (e *events) Publish(_ context.Context, msgs []*registrationv1.Envelope) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, msgs...)
	return nil
}

func (e *events) outcomes(t *testing.T) []registrationv1.DeliveryOutcome {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []registrationv1.DeliveryOutcome
	for _, env := range e.got {
		var d registrationv1.VerificationEmailDelivery
		require.NoError(t, proto.Unmarshal(env.GetPayload(), &d))
		out = append(out, d.GetOutcome())
	}
	return out
}

type fixture struct {
	srv      *smtptest.Server
	m        *mailer.Mailer
	events   *events
	mu       sync.Mutex
	observed []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: smtptest.Start(t), events: &events{}}
	sender, err := mailer.NewSMTP(mailer.SMTPConfig{URL: f.srv.URL()})
	require.NoError(t, err)
	f.m, err = mailer.New(mailer.Config{
		Sender: sender, From: "no-reply@registrar.test", Logger: quiet,
		Events: f.events, EventsTopic: "registration.events.v1",
		RetryBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Observe: func(outcome string, _ time.Duration) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.observed = append(f.observed, outcome)
		},
	})
	require.NoError(t, err)
	return f
}

func (f *fixture) outcomes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.observed...)
}

func mailMessage(t *testing.T, id string, ttl time.Duration) *registrationv1.Envelope {
	t.Helper()
	now := time.Now()
	payload, err := proto.Marshal(&registrationv1.VerificationEmail{
		UserId: "user-1", To: "ann@example.com", Code: "0042", Generation: 2,
		IssuedAt: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(ttl)),
	})
	require.NoError(t, err)
	return &registrationv1.Envelope{
		Id: id, Topic: "registration.mail.v1", Key: "user-1", Type: "registration.v1.VerificationEmail",
		Time: timestamppb.New(now), Payload: payload,
	}
}

func TestMailerSendsTheCode(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.m.Handle(context.Background(), mailMessage(t, "m-1", time.Minute)))
	msgs := f.srv.Wait(t, 1, 5*time.Second)
	p, err := msgs[0].Parse()
	require.NoError(t, err)
	assert.Equal(t, "0042 is your verification code", p.Subject(), "leading zeros are kept")
	assert.Equal(t, []string{"ann@example.com"}, msgs[0].To)
	assert.Equal(t, []string{mailer.OutcomeAccepted}, f.outcomes())
	assert.Equal(t, []registrationv1.DeliveryOutcome{registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_ACCEPTED}, f.events.outcomes(t))
	assert.Equal(t, "m-1-delivery", f.events.got[0].GetId())
	assert.NotContains(t, string(f.events.got[0].GetPayload()), "0042", "the public event must not carry the code")
}

func TestMailerSendsARedeliveredMessageOnce(t *testing.T) {
	f := newFixture(t)
	env := mailMessage(t, "m-dup", time.Minute)
	require.NoError(t, f.m.Handle(context.Background(), env))
	require.NoError(t, f.m.Handle(context.Background(), env))
	assert.Len(t, f.srv.Messages(), 1)
	assert.Equal(t, []string{mailer.OutcomeAccepted, mailer.OutcomeDuplicate}, f.outcomes())
}

func TestMailerSkipsExpiredCodes(t *testing.T) {
	f := newFixture(t)
	require.NoError(t, f.m.Handle(context.Background(), mailMessage(t, "m-old", -time.Second)))
	assert.Empty(t, f.srv.Messages())
	assert.Equal(t, []string{mailer.OutcomeSkippedExpired}, f.outcomes())
}

func TestMailerRetriesATemporaryFailure(t *testing.T) {
	f := newFixture(t)
	f.srv.Refuse(smtptest.Temporary, smtptest.Temporary)
	require.NoError(t, f.m.Handle(context.Background(), mailMessage(t, "m-retry", time.Minute)))
	assert.Len(t, f.srv.Messages(), 1)
	var d registrationv1.VerificationEmailDelivery
	require.NoError(t, proto.Unmarshal(f.events.got[0].GetPayload(), &d))
	assert.Equal(t, int32(3), d.GetAttempts())
}

func TestMailerGivesUpWhenTheCodeWouldExpire(t *testing.T) {
	f := newFixture(t)
	for range 100 {
		f.srv.Refuse(smtptest.Temporary)
	}
	require.NoError(t, f.m.Handle(context.Background(), mailMessage(t, "m-late", 150*time.Millisecond)),
		"nothing is left to do once the code is dead")
	assert.Empty(t, f.srv.Messages())
	assert.Equal(t, []string{mailer.OutcomeFailed}, f.outcomes())
}

func TestMailerReportsPermanentFailures(t *testing.T) {
	f := newFixture(t)
	f.srv.Refuse(smtptest.Permanent)
	err := f.m.Handle(context.Background(), mailMessage(t, "m-perm", time.Minute))
	require.ErrorIs(t, err, messaging.ErrPermanent)
	assert.Equal(t, []registrationv1.DeliveryOutcome{registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_FAILED}, f.events.outcomes(t))
}

func TestMailerRefusesUndecodableMessagesForGood(t *testing.T) {
	f := newFixture(t)
	env := mailMessage(t, "m-bad", time.Minute)
	env.Payload = []byte{0xff, 0xff, 0xff}
	require.ErrorIs(t, f.m.Handle(context.Background(), env), messaging.ErrPermanent)
}

func TestMailerIgnoresOtherMessageTypes(t *testing.T) {
	f := newFixture(t)
	env := mailMessage(t, "m-other", time.Minute)
	env.Type = "registration.v1.UserRegistered"
	require.NoError(t, f.m.Handle(context.Background(), env))
	assert.Empty(t, f.srv.Messages())
}

func TestMailerStopsRetryingWhenCancelled(t *testing.T) {
	f := newFixture(t)
	for range 100 {
		f.srv.Refuse(smtptest.Temporary)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := f.m.Handle(ctx, mailMessage(t, "m-cancel", time.Minute))
	require.ErrorIs(t, err, context.DeadlineExceeded, "a cancelled delivery must be redelivered")
	assert.NotErrorIs(t, err, messaging.ErrPermanent)
}

func TestRender(t *testing.T) {
	e, err := mailer.Render("id", "from@x.test", "to@x.test", "0007", expires, issued)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9]{4} is your verification code$`, e.Subject)
	assert.Contains(t, e.Text, "Your verification code is 0007.")
	assert.Contains(t, e.Text, "Enter it within 60 seconds: it expires at 15:05:05 UTC on 23 November 2026.")
	assert.Contains(t, e.HTML, ">0007<")
}
