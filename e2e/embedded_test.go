package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/internal/testkit"
	"github.com/acme/registrar/mailer/smtptest"
)

type reply struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, method, url, email, password, body string) reply {
	t.Helper()
	r, err := tryCall(method, url, email, password, body)
	require.NoError(t, err)
	return r
}

// tryCall is call for a server that may be gone.
func tryCall(method, url, email, password, body string) (reply, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if email != "" {
		req.SetBasicAuth(email, password)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: res.StatusCode, header: res.Header}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

func register(t *testing.T, p *process, email, password string) reply {
	t.Helper()
	return call(t, http.MethodPost, p.base+"/v1/users", "", "",
		fmt.Sprintf(`{"email":%q,"password":%q}`, email, password))
}

func activate(t *testing.T, p *process, email, password, code string) reply {
	t.Helper()
	return call(t, http.MethodPost, p.base+"/v1/users/activate", email, password, `{"code":"`+code+`"}`)
}

func me(t *testing.T, p *process, email, password string) reply {
	t.Helper()
	return call(t, http.MethodGet, p.base+"/v1/users/me", email, password, "")
}

var subjectCode = regexp.MustCompile(`^([0-9]{4}) is your verification code$`)

// codesTo returns the codes emailed to addr, oldest first.
func codesTo(t *testing.T, srv *smtptest.Server, addr string) []string {
	t.Helper()
	var codes []string
	for _, m := range srv.Messages() {
		if len(m.To) != 1 || m.To[0] != addr {
			continue
		}
		p, err := m.Parse()
		require.NoError(t, err)
		match := subjectCode.FindStringSubmatch(p.Subject())
		require.NotNil(t, match, "subject %q", p.Subject())
		require.Contains(t, p.Text, match[1], "the text part carries the code")
		codes = append(codes, match[1])
	}
	return codes
}

// waitCode waits for the n-th email to addr and returns its code.
func waitCode(t *testing.T, srv *smtptest.Server, addr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if codes := codesTo(t, srv, addr); len(codes) >= n {
			return codes[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email #%d to %s", n, addr)
		}
		srv.Wait(t, len(srv.Messages())+1, time.Until(deadline))
	}
}

func embeddedEnv(t *testing.T, smtp *smtptest.Server, extra ...string) []string {
	return append([]string{
		"DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "registrar.db"),
		"SMTP_URL=" + smtp.URL(),
	}, extra...)
}

const pw = "correct horse battery staple"

func TestEmbeddedRegisterEmailActivate(t *testing.T) {
	smtp := smtptest.Start(t)
	p := start(t, "registrar", embeddedEnv(t, smtp)...)

	r := register(t, p, "Ann@Example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	code := waitCode(t, smtp, "ann@example.com", 1)

	r = activate(t, p, "ann@example.com", pw, code)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "active", r.body["status"])
	assert.Equal(t, "active", me(t, p, "ann@example.com", pw).body["status"])
	require.NoError(t, p.stop(), "SIGTERM is a clean stop (exit 0)")
	assert.False(t, testkit.ContainsToken(p.stderr.String(), code), "the code never reaches the log")
	assert.NotContains(t, p.stderr.String(), pw, "the password never reaches the log")
}

func TestEmbeddedExpiryAcrossARestart(t *testing.T) {
	smtp := smtptest.Start(t)
	env := embeddedEnv(t, smtp, "CODE_TTL=2s", "CODE_RESEND_COOLDOWN=1s")
	p := start(t, "registrar", env...)

	r := register(t, p, "bob@example.com", pw)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	expires, err := time.Parse(time.RFC3339Nano, r.body["code_expires_at"].(string))
	require.NoError(t, err)
	code := waitCode(t, smtp, "bob@example.com", 1)

	// A restart in the middle of the code's life changes nothing about it.
	require.NoError(t, p.stop())
	p = start(t, "registrar", env...)
	assert.Equal(t, "pending", me(t, p, "bob@example.com", pw).body["status"])

	time.Sleep(time.Until(expires) + 10*time.Millisecond) // the TTL itself is under test
	r = activate(t, p, "bob@example.com", pw, code)
	assert.Equal(t, http.StatusGone, r.status, r.body)
	assert.Equal(t, "code_expired", r.body["code"])

	r = call(t, http.MethodPost, p.base+"/v1/users/activation-code", "bob@example.com", pw, "")
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	fresh := waitCode(t, smtp, "bob@example.com", 2)
	r = activate(t, p, "bob@example.com", pw, fresh)
	assert.Equal(t, http.StatusOK, r.status, r.body)
}

func TestEmbeddedSIGKILLLosesNothingAnswered(t *testing.T) {
	smtp := smtptest.Start(t)
	env := embeddedEnv(t, smtp)
	p := start(t, "registrar", env...)

	// Answered before the crash: an activation...
	require.Equal(t, http.StatusCreated, register(t, p, "cat@example.com", pw).status)
	require.Equal(t, http.StatusOK, activate(t, p, "cat@example.com", pw, waitCode(t, smtp, "cat@example.com", 1)).status)
	// ...and a registration whose email cannot leave yet: the mail server
	// refuses for now, so the message stays in the outbox.
	for range 1000 {
		smtp.Refuse(smtptest.Temporary)
	}
	require.Equal(t, http.StatusCreated, register(t, p, "dan@example.com", pw).status)
	// Kill only once the relay has provably claimed the message and the
	// mailer is retrying it: the crash leaves a claimed, undelivered message.
	require.Eventually(t, func() bool { return smtp.Refused() > 0 }, 10*time.Second, 5*time.Millisecond)
	p.Kill()

	smtp.Accept()
	p = start(t, "registrar", env...)
	assert.Equal(t, "active", me(t, p, "cat@example.com", pw).body["status"], "an answered activation survives SIGKILL")
	assert.Equal(t, "pending", me(t, p, "dan@example.com", pw).body["status"], "an answered registration survives SIGKILL")
	code := waitCode(t, smtp, "dan@example.com", 1)
	assert.Equal(t, http.StatusOK, activate(t, p, "dan@example.com", pw, code).status,
		"the email pending in the outbox is sent after the restart")
}

func TestEmbeddedSIGTERMFinishesTheRequestsInFlight(t *testing.T) {
	smtp := smtptest.Start(t)
	p := start(t, "registrar", embeddedEnv(t, smtp)...)

	const n = 12 // a hash each (16-20 ms, docs/BENCHMARKS.md) on 2 cores: they overlap the signal
	var wg sync.WaitGroup
	statuses := make([]int, n)
	first := make(chan struct{}, n)
	for i := range n {
		wg.Go(func() {
			r := register(t, p, fmt.Sprintf("u%d@example.com", i), pw)
			statuses[i] = r.status
			first <- struct{}{}
		})
	}
	<-first // requests are in flight
	require.NoError(t, p.stop())
	wg.Wait()
	for i, s := range statuses {
		assert.Equal(t, http.StatusCreated, s, "request %d was in flight at SIGTERM", i)
	}
	// The outbox was flushed before the process exited.
	assert.Len(t, smtp.Messages(), n, "every answered registration got its email before the exit")
}

// The container images' health check is the binary itself (they have no
// curl): it must pass while the service is ready and fail once it is gone.
func TestHealthcheckSubcommand(t *testing.T) {
	p := start(t, "registrar", embeddedEnv(t, smtptest.Start(t))...)
	probe := func() error {
		cmd := exec.Command(filepath.Join(binDir, "registrar"), "healthcheck")
		cmd.Env = append(os.Environ(), "HTTP_ADDR="+strings.TrimPrefix(p.base, "http://"))
		return cmd.Run()
	}
	require.NoError(t, probe(), "ready: exit 0")
	require.NoError(t, p.stop())
	var exit *exec.ExitError
	require.ErrorAs(t, probe(), &exit, "gone: a failed probe")
	assert.Equal(t, 1, exit.ExitCode())
}
