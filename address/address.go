package address

import (
	"errors"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits of RFC 5321 §4.5.3.1, in octets of the normalized (ASCII) form.
const (
	MaxLength      = 254
	MaxLocalLength = 64
	maxLabelLength = 63
)

// Error says why an address was refused. It never repeats the address.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// ErrInvalid matches every *Error with errors.Is.
var ErrInvalid = errors.New("invalid email address")

func (e *Error) Is(target error) bool { return target == ErrInvalid }

func invalid(reason string) error { return &Error{Reason: reason} }

// idnaProfile converts internationalized domains to their ASCII (punycode)
// form with the mappings browsers use for lookups (case folding, width).
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// Normalize validates s as a bare addr-spec and returns its normalized form:
// surrounding white space trimmed, local part and domain lower-cased, an
// internationalized domain in punycode. Refused: display names, quoted or
// non-ASCII local parts, domain literals, a domain without a dot, and
// anything over the length limits.
func Normalize(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", invalid("email must be valid UTF-8")
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", invalid("email is empty")
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") {
		return "", invalid("email must contain exactly one @")
	}
	if err := checkLocal(local); err != nil {
		return "", err
	}
	ascii, err := normalizeDomain(domain)
	if err != nil {
		return "", err
	}
	out := strings.ToLower(local) + "@" + ascii
	if len(out) > MaxLength {
		return "", invalid("email must be at most 254 characters")
	}
	return out, nil
}

// checkLocal accepts a dot-atom of ASCII atext (RFC 5322 §3.2.3).
func checkLocal(local string) error {
	if local == "" {
		return invalid("email local part is empty")
	}
	if len(local) > MaxLocalLength {
		return invalid("email local part must be at most 64 characters")
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return invalid("email local part must not start or end with a dot or contain two dots in a row")
	}
	for i := range len(local) {
		if !isAtext(local[i]) && local[i] != '.' {
			return invalid("email local part may only contain letters, digits, dots and !#$%&'*+-/=?^_`{|}~")
		}
	}
	return nil
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func normalizeDomain(domain string) (string, error) {
	if domain == "" {
		return "", invalid("email domain is empty")
	}
	if strings.HasPrefix(domain, "[") {
		return "", invalid("email domain must be a name, not an address literal")
	}
	ascii, err := idnaProfile.ToASCII(domain)
	if err != nil {
		return "", invalid("email domain is not a valid domain name")
	}
	ascii = strings.ToLower(strings.TrimSuffix(ascii, "."))
	// The ASCII form must convert to itself: a punycode label that does not
	// decode to a valid name would not survive a second normalization.
	if again, err := idnaProfile.ToASCII(ascii); err != nil || again != ascii {
		return "", invalid("email domain is not a valid domain name")
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", invalid("email domain must contain a dot")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return "", err
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", invalid("email domain must end in a name, not a number")
	}
	return ascii, nil
}

func checkLabel(l string) error {
	if l == "" || len(l) > maxLabelLength {
		return invalid("email domain labels must have 1 to 63 characters")
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return invalid("email domain labels must not start or end with a hyphen")
	}
	for i := range len(l) {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return invalid("email domain may only contain letters, digits and hyphens")
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
