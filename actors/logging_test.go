package actors

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
	registrationv1 "github.com/acme/registrar/protos/registration/v1"
)

const secret = "hunter2-correct-horse"

func TestDeadLettersNeverLogPasswords(t *testing.T) {
	var out testkit.Buffer
	system := newActorSystem(slog.New(slog.NewJSONHandler(&out, nil)))
	defer system.Shutdown()

	nowhere := system.NewLocalPID("no-such-actor")
	system.Root.Send(nowhere, &registrationv1.Activate{Email: "ann@example.com", Password: secret, Code: "0427"})

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "DeadLetter") },
		5*time.Second, 10*time.Millisecond, "the dead letter must be logged (else this test proves nothing)")
	assert.NotContains(t, out.String(), secret)
	assert.NotContains(t, out.String(), "0427")
	assert.Contains(t, out.String(), "registrationv1.Activate", "the type name stays, for diagnosis")
}

func TestRedactingHandlerKeepsPIDsErrorsAndScalars(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(newRedactingHandler(slog.NewJSONHandler(&out, nil)))
	pid := actor.NewPID("local", "shard/7")
	log.With("m", &registrationv1.ResendCode{Password: secret}).Info("x",
		"pid", pid, "error", errors.New("boom"), "n", 3,
		slog.Group("g", "inner", &actor.MessageEnvelope{Message: &registrationv1.GetAccount{Password: secret}}))
	got := out.String()
	assert.NotContains(t, got, secret)
	// protobuf's text format varies its spacing on purpose: match loosely.
	assert.Regexp(t, `"pid":"Address:\\"local\\"\s+Id:\\"shard/7\\""`, got)
	assert.Contains(t, got, `"error":"boom"`)
	assert.Contains(t, got, `"n":3`)
	assert.Contains(t, got, `"inner":"*actor.MessageEnvelope"`)
}

func TestRoutineLibraryErrorsAreWarningsAtMostEvery30s(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(newRedactingHandler(slog.NewJSONHandler(&out, nil)))
	for range 100 {
		log.Error("Bad connection to the node health status", "url", "http://peer:6330/_health")
	}
	log.Error("something else broke")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2, "one line of the routine message, and the real error")
	assert.Contains(t, lines[0], `"level":"WARN"`)
	assert.Contains(t, lines[1], `"level":"ERROR"`)
}
