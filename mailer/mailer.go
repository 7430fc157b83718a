package mailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/acme/registrar/internal/tracecontext"
	"github.com/acme/registrar/messaging"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

// Outcomes of one verification email, as reported to Config.Observe.
const (
	OutcomeAccepted       = "accepted"
	OutcomeFailed         = "failed"
	OutcomeSkippedExpired = "skipped_expired"
	OutcomeDuplicate      = "duplicate"
)

// Config of a Mailer. Sender, From and Logger are required.
type Config struct {
	Sender Sender
	From   string
	Logger *slog.Logger
	// Dedupe remembers sent messages; default an in-process Memory.
	Dedupe Deduper
	// Events, when set, receives a VerificationEmailDelivery event for each
	// outcome, on EventsTopic.
	Events      messaging.Publisher
	EventsTopic string
	// Observe, when set, is told each outcome and the time since the code
	// was issued (for metrics).
	Observe func(outcome string, sinceIssued time.Duration)
	Now     func() time.Time // default time.Now
	// RetryBackoff is the first pause after a temporary failure, doubled up
	// to MaxBackoff; defaults 500ms and 5s. Retries stop when the code would
	// expire before the next attempt.
	RetryBackoff, MaxBackoff time.Duration
}

// Mailer sends verification emails. Its Handle is a messaging.Handler.
type Mailer struct{ cfg Config }

// New validates cfg and applies its defaults.
func New(cfg Config) (*Mailer, error) {
	if cfg.Sender == nil || cfg.From == "" || cfg.Logger == nil {
		return nil, errors.New("mailer: Sender, From and Logger are required")
	}
	if cfg.Events != nil && cfg.EventsTopic == "" {
		return nil, errors.New("mailer: EventsTopic is required with Events")
	}
	if cfg.Dedupe == nil {
		cfg.Dedupe = NewMemory()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	cfg.Logger = cfg.Logger.With("component", "mailer")
	return &Mailer{cfg: cfg}, nil
}

var verificationEmailType = string(proto.MessageName(&registrationv1.VerificationEmail{}))

// Handle sends the email of one VerificationEmail message. Other message
// types are ignored. It returns nil when the message needs no redelivery
// (sent, skipped, duplicate, or given up because the code expired), an error
// wrapping messaging.ErrPermanent when it can never succeed, and any other
// error when it should be delivered again.
func (m *Mailer) Handle(ctx context.Context, env *registrationv1.Envelope) (err error) {
	if env.GetType() != verificationEmailType {
		return nil
	}
	ctx, span := messaging.ConsumeSpan(ctx, "mailer.handle", env)
	defer func() {
		switch {
		case errors.Is(err, messaging.ErrPermanent):
			span.SetStatus(codes.Error, "permanent") // a mail server's answer may quote the address
		case err != nil:
			span.SetStatus(codes.Error, "delivered again")
		}
		span.End()
	}()
	var v registrationv1.VerificationEmail
	if err := proto.Unmarshal(env.GetPayload(), &v); err != nil {
		m.cfg.Logger.Error("undecodable verification email", "message_id", env.GetId(), "error", err)
		return fmt.Errorf("decode message %s: %w", env.GetId(), messaging.ErrPermanent)
	}
	span.SetAttributes(attribute.String("user.id", v.GetUserId()))
	log := m.cfg.Logger.With("message_id", env.GetId(), "user_id", v.GetUserId(), "generation", v.GetGeneration())
	expires, issued := v.GetExpiresAt().AsTime(), v.GetIssuedAt().AsTime()
	if !m.cfg.Now().Before(expires) {
		log.Info("code expired before it could be sent; skipped")
		m.outcome(ctx, env, &v, registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_SKIPPED_EXPIRED, 0)
		return nil
	}
	seen, err := m.seen(ctx, env.GetId())
	if err != nil {
		return fmt.Errorf("dedupe lookup: %w", err)
	}
	if seen {
		log.Info("duplicate delivery; already sent")
		m.observe(OutcomeDuplicate, issued)
		return nil
	}
	email, err := Render(env.GetId(), m.cfg.From, v.GetTo(), v.GetCode(), expires, m.cfg.Now())
	if err != nil {
		return fmt.Errorf("message %s: %w: %w", env.GetId(), err, messaging.ErrPermanent)
	}
	attempts, err := m.send(ctx, log, email, expires)
	switch {
	case errors.Is(err, ErrRejected):
		log.Warn("mail server refused the email", "attempts", attempts, "error", err)
		m.outcome(ctx, env, &v, registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_FAILED, attempts)
		return fmt.Errorf("message %s: %w: %w", env.GetId(), err, messaging.ErrPermanent)
	case errors.Is(err, errGaveUp):
		log.Warn("could not send before the code expired", "attempts", attempts, "error", err)
		m.outcome(ctx, env, &v, registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_FAILED, attempts)
		return nil
	case err != nil:
		return err // cancelled: deliver again
	}
	if err := m.remember(ctx, env.GetId(), expires); err != nil {
		log.Warn("could not record the sent email; a redelivery would send it twice", "error", err)
	}
	log.Info("email sent", "attempts", attempts, "since_issued", m.cfg.Now().Sub(issued))
	m.outcome(ctx, env, &v, registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_ACCEPTED, attempts)
	return nil
}

var errGaveUp = errors.New("gave up: the code expires before the next attempt")

// send tries until the server accepts, refuses for good, or the code would
// expire before the next attempt.
func (m *Mailer) send(ctx context.Context, log *slog.Logger, email Email, expires time.Time) (int, error) {
	backoff := m.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := m.sendOnce(ctx, email, attempt)
		if err == nil || errors.Is(err, ErrRejected) {
			return attempt, err
		}
		if ctx.Err() != nil {
			return attempt, ctx.Err()
		}
		if !m.cfg.Now().Add(backoff).Before(expires) {
			return attempt, fmt.Errorf("%w: %w", errGaveUp, err)
		}
		log.Warn("temporary mail failure; retrying", "attempt", attempt, "retry_in", backoff, "error", err)
		select {
		case <-ctx.Done():
			return attempt, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, m.cfg.MaxBackoff)
	}
}

// tracer: the mailer's spans (mailer.handle, its dedupe lookups and each
// SMTP attempt) join the request's trace through the message's trace
// context. No attribute holds the address or the code.
var tracer = otel.Tracer("github.com/acme/registrar/mailer")

func (m *Mailer) seen(ctx context.Context, id string) (bool, error) {
	ctx, span := tracer.Start(ctx, "mailer.dedupe.seen")
	defer span.End()
	return m.cfg.Dedupe.Seen(ctx, id)
}

func (m *Mailer) remember(ctx context.Context, id string, until time.Time) error {
	ctx, span := tracer.Start(ctx, "mailer.dedupe.remember")
	defer span.End()
	return m.cfg.Dedupe.Remember(ctx, id, until)
}

// sendOnce is one attempt at the mail server (smtp.send: ends when the
// server accepted or refused the email).
func (m *Mailer) sendOnce(ctx context.Context, email Email, attempt int) error {
	ctx, span := tracer.Start(ctx, "smtp.send", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.Int("registrar.attempt", attempt)))
	defer span.End()
	err := m.cfg.Sender.Send(ctx, email)
	if err != nil {
		span.SetStatus(codes.Error, "not accepted")
	}
	return err
}

func (m *Mailer) outcome(ctx context.Context, env *registrationv1.Envelope, v *registrationv1.VerificationEmail,
	outcome registrationv1.DeliveryOutcome, attempts int) {
	m.observe(outcomeNames[outcome], v.GetIssuedAt().AsTime())
	if m.cfg.Events == nil {
		return
	}
	now := m.cfg.Now()
	event := &registrationv1.VerificationEmailDelivery{
		UserId: v.GetUserId(), Generation: v.GetGeneration(), MessageId: env.GetId(),
		Outcome: outcome, At: timestamppb.New(now), Attempts: int32(attempts),
	}
	payload, err := proto.Marshal(event)
	if err != nil {
		m.cfg.Logger.Error("encode delivery event", "error", err)
		return
	}
	out := &registrationv1.Envelope{
		// Derived from the mail message: a redelivered outcome keeps its id,
		// so subscribers can deduplicate it.
		Id:      env.GetId() + "-delivery",
		Topic:   m.cfg.EventsTopic,
		Key:     v.GetUserId(),
		Type:    string(proto.MessageName(event)),
		Time:    timestamppb.New(now),
		Payload: payload,
		Source:  "/mailer",
	}
	out.Traceparent, out.Tracestate = tracecontext.Inject(ctx)
	if err := m.cfg.Events.Publish(ctx, []*registrationv1.Envelope{out}); err != nil {
		m.cfg.Logger.Warn("publish delivery event", "message_id", env.GetId(), "error", err)
	}
}

var outcomeNames = map[registrationv1.DeliveryOutcome]string{
	registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_ACCEPTED:        OutcomeAccepted,
	registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_FAILED:          OutcomeFailed,
	registrationv1.DeliveryOutcome_DELIVERY_OUTCOME_SKIPPED_EXPIRED: OutcomeSkippedExpired,
}

func (m *Mailer) observe(outcome string, issued time.Time) {
	if m.cfg.Observe != nil {
		m.cfg.Observe(outcome, m.cfg.Now().Sub(issued))
	}
}

// SenderFor returns the sender of an SMTP_URL: SMTP, or for an empty one a
// sender that prints the emails to stdout (codes included: one laptop only).
func SenderFor(smtpURL string, stdout io.Writer) (Sender, error) {
	if smtpURL == "" {
		return NewLog(stdout), nil
	}
	return NewSMTP(SMTPConfig{URL: smtpURL})
}
