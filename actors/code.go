package actors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// CodeLength is the number of digits of a verification code.
const CodeLength = 4

// NewCode draws a code uniformly from 0000-9999 using rnd, which must be a
// CSPRNG in production (crypto/rand.Reader). Leading zeros are kept.
func NewCode(rnd io.Reader) (string, error) {
	var b [2]byte
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return "", fmt.Errorf("draw code: %w", err)
		}
		// 60000 is the largest multiple of 10000 below 65536: rejecting the
		// rest keeps every code equally likely.
		if v := binary.BigEndian.Uint16(b[:]); v < 60000 {
			return fmt.Sprintf("%04d", v%10000), nil
		}
	}
}

// validCodeFormat reports whether s is exactly CodeLength ASCII digits.
func validCodeFormat(s string) bool {
	if len(s) != CodeLength {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// codeMAC binds a code to the user and the generation it was issued in, so a
// MAC copied to another row or another generation never matches.
func codeMAC(key []byte, userID string, generation int64, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(userID))
	m.Write([]byte{0})
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], uint64(generation))
	m.Write(g[:])
	m.Write([]byte(code))
	return m.Sum(nil)
}
