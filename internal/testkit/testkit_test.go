package testkit_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/acme/registrar/internal/testkit"
)

func TestContainsToken(t *testing.T) {
	for text, want := range map[string]bool{
		`{"code":"0427"}`:                       true,
		`0427 is your verification code`:        true,
		`your code is 0427.`:                    true,
		`{"time":"2026-11-23T12:04:27.0427Z"}`:  false,
		`{"id":"01a20a66-0427-70cb-a7ba-e142"}`: false,
		`{"since_issued":104270000}`:            false,
	} {
		assert.Equal(t, want, testkit.ContainsToken(text, "0427"), text)
	}
}
