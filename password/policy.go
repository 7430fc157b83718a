package password

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/ccojocar/zxcvbn-go"
)

// Length limits of the API contract, in Unicode code points.
const (
	MinLength = 8
	MaxLength = 128
)

// scoredPrefix is how much of a password the strength estimator reads: its
// cost grows fast with length (13.6 ms at 128 code points, 2 ms at 64 on the
// reference machine), and a password whose first 64 code points are hard to
// guess is not weak.
const scoredPrefix = 64

// minScore is the lowest zxcvbn score accepted. Score 0 means guessable in
// minutes by an offline attacker: every common password ("password",
// "12345678", "qwertyuiop", "P@ssw0rd", ...) scores 0.
const minScore = 1

// WeakError says why a password was refused. Its message never contains the
// password.
type WeakError struct{ Reason string }

func (e *WeakError) Error() string { return e.Reason }

// Check applies the contract's password rules: 8 to 128 code points, taken as
// they are (no trimming), and not common or easily guessed. related are words
// the password must not be built from, such as the parts of the email.
func Check(password string, related ...string) error {
	if !utf8.ValidString(password) {
		return &WeakError{Reason: "password must be valid UTF-8"}
	}
	n := utf8.RuneCountInString(password)
	if n < MinLength {
		return &WeakError{Reason: fmt.Sprintf("password must have at least %d characters", MinLength)}
	}
	if n > MaxLength {
		return &WeakError{Reason: fmt.Sprintf("password must have at most %d characters", MaxLength)}
	}
	scored := password
	if n > scoredPrefix {
		scored = string([]rune(password)[:scoredPrefix])
	}
	if zxcvbn.PasswordStrength(scored, related).Score < minScore {
		return &WeakError{Reason: "password is too common or too easy to guess"}
	}
	return nil
}

// EmailWords returns the words of an email address a password should not be
// built from: the local part and the domain labels.
func EmailWords(email string) []string {
	local, domain, _ := strings.Cut(email, "@")
	return append([]string{local}, strings.Split(domain, ".")...)
}
