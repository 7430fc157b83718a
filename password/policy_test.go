package password_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/acme/registrar/password"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		password string
		related  []string
		weak     bool
	}{
		{"seven characters", "xK9#mQ2", nil, true},
		{"eight strong characters", "xK9#mQ2$", nil, false},
		{"eight code points of four bytes each", "🦊🐙🦉🐝🦀🐢🦑🐌", nil, false},
		{"seven code points of many bytes", "🦊🐙🦉🐝🦀🐢🦑", nil, true},
		{"128 characters", strings.Repeat("xK9#mQ2$vL", 13)[:128], nil, false},
		{"129 characters", strings.Repeat("xK9#mQ2$vL", 13)[:129], nil, true},
		{"password", "password", nil, true},
		{"12345678", "12345678", nil, true},
		{"qwertyuiop", "qwertyuiop", nil, true},
		{"P@ssw0rd", "P@ssw0rd", nil, true},
		{"iloveyou", "iloveyou", nil, true},
		{"a repeated common password", strings.Repeat("password", 16), nil, true},
		{"a long passphrase", "correct horse battery staple", nil, false},
		{"built from the email", "annexample", password.EmailWords("ann@example.com"), true},
		{"spaces count as characters", "   xK9#mQ2$   ", nil, false},
		{"invalid UTF-8", "xK9#mQ2$\xff", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := password.Check(tt.password, tt.related...)
			if tt.weak {
				var weak *password.WeakError
				assert.ErrorAs(t, err, &weak)
				assert.Contains(t, []string{ // fixed reasons: the password is never echoed
					"password must have at least 8 characters",
					"password must have at most 128 characters",
					"password is too common or too easy to guess",
					"password must be valid UTF-8",
				}, err.Error())
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestEmailWords(t *testing.T) {
	assert.Equal(t, []string{"ann.lee", "mail", "example", "com"}, password.EmailWords("ann.lee@mail.example.com"))
}
