package password_test

import (
	"crypto/rand"
	"flag"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ccojocar/zxcvbn-go"
	"github.com/ccojocar/zxcvbn-go/frequency"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/password"
)

func weak(pw string, related ...string) bool { return password.Check(pw, related...) != nil }

func TestGuessable(t *testing.T) {
	email := password.EmailWords("ann.lee@example.com")
	for _, pw := range []string{
		// The contract's examples.
		"password", "12345678", "qwertyuiop",
		// Breached classics and their usual dressing.
		"P@ssw0rd", "Password1!", "passw0rd1", "iloveyou", "sunshine1", "letmein!", "trustno1", "1q2w3e4r",
		"Summer2024!", "michael1985", "Jennifer23", "dragon99!", "monkey12", "football", "baseball1",
		// Patterns.
		"aaaaaaaa", "abababab", "12121212", "abcdefgh", "98765432", "zyxwvuts", "asdfghjkl", "qwerty123",
		"abcabcabc", "passwordpassword", strings.Repeat("password", 16),
		// Two words, or one with a number.
		"correcthorse", "sunshine flower",
		// Built from the email.
		"ann.lee2024", "example!", "annexample",
	} {
		assert.True(t, weak(pw, email...), "%q is guessable", pw)
	}
	for _, pw := range []string{
		"correct horse battery staple", "Tr0ub4dor&3", "xK9#mQ2$", "93847261", "7hK!q2Lz", "my cat is called Brudnik",
		"ann-has-a-very-long-passphrase", "Pferdestall-Bügeleisen", "🦊🐙🦉🐝🦀🐢🦑🐌", strings.Repeat("xK9#mQ2$vL", 12),
	} {
		assert.False(t, weak(pw, email...), "%q is not guessable", pw)
	}
}

// TestGuessableAgreesWithZxcvbnOnTheBreachedList compares the check with
// zxcvbn (which it replaced in the request path): every breached password
// of zxcvbn's list that the contract's length admits is refused by both,
// and both accept random and diceware passwords.
func TestGuessableAgreesWithZxcvbnOnTheBreachedList(t *testing.T) {
	var listed, refused int
	for _, pw := range frequency.Lists["Passwords"].List {
		if len([]rune(pw)) < password.MinLength {
			continue
		}
		listed++
		if weak(pw) {
			refused++
		}
		assert.Zero(t, zxcvbn.PasswordStrength(pw, nil).Score, "zxcvbn refuses %q too", pw)
	}
	assert.Equal(t, listed, refused, "every breached password of 8+ characters is refused")
	t.Logf("breached passwords of 8+ characters refused: %d of %d", refused, listed)

	english := frequency.Lists["English"].List
	for range 200 {
		random := rand.Text()[:12]
		assert.False(t, weak(random), "random %q", random)
		var words []string
		for range 4 {
			b := make([]byte, 2)
			_, _ = rand.Read(b)
			words = append(words, english[(int(b[0])<<8|int(b[1]))%10000])
		}
		diceware := strings.Join(words, " ")
		if len([]rune(diceware)) >= password.MinLength {
			assert.False(t, weak(diceware), "diceware %q", diceware)
			assert.Positive(t, zxcvbn.PasswordStrength(diceware, nil).Score, "zxcvbn accepts %q too", diceware)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	for name, pw := range map[string]string{
		"passphrase-28": "correct horse battery staple",
		"random-16":     "xK9#mQ2$vLp4&Tz8",
		"weak":          "Password1!",
		"max-128":       strings.Repeat("xK9#mQ2$vLp4&Tz8 correct", 6)[:128],
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = password.Check(pw)
			}
		})
	}
}

// BenchmarkZxcvbn is what the check replaced, for comparison.
func BenchmarkZxcvbn(b *testing.B) {
	for name, pw := range map[string]string{
		"passphrase-28": "correct horse battery staple",
		"random-16":     "xK9#mQ2$vLp4&Tz8",
		"max-64":        strings.Repeat("xK9#mQ2$vLp4&Tz8 correct", 6)[:64],
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				_ = zxcvbn.PasswordStrength(pw, nil)
			}
		})
	}
}

var updateWords = flag.Bool("update-words", false, "write password/words.txt from zxcvbn-go's lists")

// TestWordListIsZxcvbnsLists keeps words.txt what `make password-words`
// generates: zxcvbn-go's lists stay out of the binary, whose garbage
// collector would otherwise mark their strings in every cycle.
func TestWordListIsZxcvbnsLists(t *testing.T) {
	set := map[string]struct{}{}
	for _, list := range []string{"Passwords", "English", "MaleNames", "FemaleNames", "Surname"} {
		for _, w := range frequency.Lists[list].List {
			if w = strings.ToLower(w); len(w) >= 2 && len(w) <= 24 && !strings.Contains(w, "\n") {
				set[w] = struct{}{}
			}
		}
	}
	want := strings.Join(slices.Sorted(maps.Keys(set)), "\n") + "\n"
	if *updateWords {
		require.NoError(t, os.WriteFile("words.txt", []byte(want), 0o644))
	}
	got, err := os.ReadFile("words.txt")
	require.NoError(t, err)
	assert.True(t, want == string(got), "words.txt differs from zxcvbn-go's lists: run make password-words")
}

// TestGuessableBoundaries pins each limit of the check at its edge, with
// pieces that nothing else covers (found by make mutate).
func TestGuessableBoundaries(t *testing.T) {
	for pw, want := range map[string]bool{
		"q7#zq7#z":            true,  // a unit of 4 repeated
		"q7#z9q7#z9":          false, // a unit of 5 repeated reads as the unit
		"sunshine1985!":       true,  // a run of 4 digits is a piece
		"sunshine19851!":      false, // one of 5 is not
		"sunshine1985!@#":     true,  // a run of 3 symbols is a piece
		"sunshine1985!@#$":    false, // one of 4 is not
		"sunshineuiop1985":    true,  // a keyboard run to the row's end
		"sunshineasd1985":     true,  // a keyboard run of 3
		"correcthorsestaple":  false, // three words
		"abcsunshineflower":   true,  // "abc" read as a sequence, not a third word
		"9sunshine9flower9x7": false, // more than three pieces
	} {
		assert.Equal(t, want, weak(pw), "%q", pw)
	}
	assert.True(t, weak("qzx2024!!", "qzx"), "a related word of 3 letters is a word")
	assert.False(t, weak("qz2024!!vb", "qz"), "one of 2 is not")
}
