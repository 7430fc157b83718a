package actors_test

import (
	"bytes"
	"crypto/rand"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/actors"
)

func TestNewCodeKeepsLeadingZerosAndRejectsTheBiasedTail(t *testing.T) {
	// 0xEA60 = 60000 and 0xFFFF lie in the biased tail and must be drawn again;
	// 0x002A = 42 must come out as "0042".
	rnd := bytes.NewReader([]byte{0xEA, 0x60, 0xFF, 0xFF, 0x00, 0x2A})
	code, err := actors.NewCode(rnd)
	require.NoError(t, err)
	assert.Equal(t, "0042", code)
}

func TestNewCodeFailsWhenTheSourceFails(t *testing.T) {
	_, err := actors.NewCode(bytes.NewReader([]byte{0x01}))
	require.Error(t, err)
}

func TestNewCodeIsUniform(t *testing.T) {
	// A seeded ChaCha8 stream keeps this test deterministic: it checks the
	// mapping from bytes to codes, not the quality of the platform's CSPRNG.
	rnd := mrand.NewChaCha8([32]byte{1, 2, 3})
	const draws = 200_000
	var perDigit [4][10]int
	seen := make(map[string]bool, 10_000)
	for range draws {
		code, err := actors.NewCode(rnd)
		require.NoError(t, err)
		require.Len(t, code, 4)
		seen[code] = true
		for i := range 4 {
			perDigit[i][code[i]-'0']++
		}
	}
	assert.Greater(t, len(seen), 9_900, "nearly every code must appear in 200k draws")
	// Chi-square per position, 9 degrees of freedom: 27.88 is the 0.999 quantile.
	for pos, counts := range perDigit {
		var chi2 float64
		expected := float64(draws) / 10
		for _, c := range counts {
			d := float64(c) - expected
			chi2 += d * d / expected
		}
		assert.Less(t, chi2, 27.88, "digit position %d is not uniform: %v", pos, counts)
	}
}

func TestNewCodeWithTheSystemCSPRNG(t *testing.T) {
	code, err := actors.NewCode(rand.Reader)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9]{4}$`, code)
}

func TestNewIDIsAVersion7UUIDOrderedByTime(t *testing.T) {
	rnd := mrand.NewChaCha8([32]byte{9})
	a, err := actors.NewID(t0, rnd)
	require.NoError(t, err)
	b, err := actors.NewID(t0.Add(time.Millisecond), rnd)
	require.NoError(t, err)
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, a)
	assert.Less(t, a, b, "ids must sort by creation time")
	assert.Equal(t, "01a20846-fe00", a[:13], "the first 48 bits are the Unix milliseconds of %s", t0)
}
