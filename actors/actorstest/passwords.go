package actorstest

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/acme/registrar/actors"
)

// Passwords is a fake actors.PasswordVerifier: the "hash" of a password p is
// Hash(p). It counts verifications and can be made to report overload.
type Passwords struct {
	Calls      atomic.Int64
	Overloaded atomic.Bool
}

// Hash returns the fake hash of password.
func Hash(password string) string { return "fake$" + password }

func (p *Passwords) Verify(ctx context.Context, encodedHash, password string) (bool, error) {
	p.Calls.Add(1)
	if p.Overloaded.Load() {
		return false, actors.ErrOverloaded
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	want, ok := strings.CutPrefix(encodedHash, "fake$")
	return ok && want == password, nil
}
