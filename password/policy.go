package password

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Length limits of the API contract, in Unicode code points.
const (
	MinLength = 8
	MaxLength = 128
)

// WeakError says why a password was refused. Its message never contains the
// password.
type WeakError struct{ Reason string }

func (e *WeakError) Error() string { return e.Reason }

// Check applies the contract's password rules: 8 to 128 code points, taken as
// they are (no trimming), and not common or easily guessed (guessable.go).
// related are words the password must not be built from, such as the parts
// of the email.
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
	if guessable(password, related) {
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
