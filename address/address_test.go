package address_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acme/registrar/address"
)

func TestNormalizeAccepts(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ann@example.com", "ann@example.com"},
		{"  Ann.Lee@Example.COM \t\n", "ann.lee@example.com"},
		{"a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"x!#$%&'*+-/=?^_`{|}~@example.com", "x!#$%&'*+-/=?^_`{|}~@example.com"},
		{"bob@bücher.example", "bob@xn--bcher-kva.example"},
		{"bob@BÜCHER.example", "bob@xn--bcher-kva.example"},
		{"bob@例え.テスト", "bob@xn--r8jz45g.xn--zckzah"},
		{"bob@example.com.", "bob@example.com"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	}
	for _, tt := range tests {
		got, err := address.Normalize(tt.in)
		require.NoError(t, err, "%q", tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := map[string]string{
		"empty":                      "",
		"blank":                      "   ",
		"no at":                      "ann.example.com",
		"two ats":                    "ann@bob@example.com",
		"display name":               "Ann <ann@example.com>",
		"angle brackets":             "<ann@example.com>",
		"quoted local part":          `"ann lee"@example.com`,
		"colon":                      "ann:x@example.com",
		"space inside":               "ann lee@example.com",
		"no dot in domain":           "ann@localhost",
		"a@b":                        "a@b",
		"empty local part":           "@example.com",
		"empty domain":               "ann@",
		"leading dot":                ".ann@example.com",
		"trailing dot in local part": "ann.@example.com",
		"two dots":                   "ann..lee@example.com",
		"local part over 64":         strings.Repeat("a", 65) + "@example.com",
		"address over 254":           "a@" + long + "." + long + "." + long + "." + long + ".com",
		"domain literal":             "ann@[192.168.0.1]",
		"numeric top-level":          "ann@192.168.0.1",
		"label with underscore":      "ann@ex_ample.com",
		"label starting with hyphen": "ann@-example.com",
		"empty label":                "ann@example..com",
		"label over 63":              "ann@" + strings.Repeat("a", 64) + ".com",
		"non-ASCII local part":       "jürgen@example.com",
		"control character":          "ann\x00@example.com",
		"comment":                    "ann(comment)@example.com",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := address.Normalize(in)
			require.ErrorIs(t, err, address.ErrInvalid)
			if len(in) > 3 {
				assert.NotContains(t, err.Error(), in, "the reason must not repeat the address")
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"ann@example.com", "Ann <a@b.c>", "bob@bücher.example", "@", "a@b.c."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := address.Normalize(in)
		if err != nil {
			return
		}
		// A normalized address is ASCII, lower-case, within the limits, and
		// normalizing it again changes nothing.
		if len(out) > address.MaxLength || strings.ToLower(out) != out {
			t.Fatalf("Normalize(%q) = %q breaks the limits", in, out)
		}
		for i := range len(out) {
			if out[i] >= 0x80 || out[i] <= ' ' {
				t.Fatalf("Normalize(%q) = %q is not printable ASCII", in, out)
			}
		}
		again, err := address.Normalize(out)
		if err != nil || again != out {
			t.Fatalf("Normalize is not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
	})
}

// TestNormalizeAtTheLimits pins each limit at its edge (found by make
// mutate): the longest address and label accepted, one more refused, and
// the characters on either side of each allowed range.
func TestNormalizeAtTheLimits(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	longest := strings.Repeat("l", 64) + "@" + label63 + "." + label63 + "." + strings.Repeat("b", 57) + ".com" // 254
	require.Len(t, longest, 254)
	for _, in := range []string{
		longest,
		"ann@" + label63 + ".com",
		"ann@az09-az09.example", "ann@ex.a0", "ann@ex.9a", "ann@ex.z",
	} {
		_, err := address.Normalize(in)
		assert.NoError(t, err, "%q", in)
	}
	for _, in := range []string{
		"l" + longest,                        // 255
		"ann@ex.123", "ann@ex.0", "ann@ex.9", // an all-digit top-level label, at both ends of the digits
		"ann@ex`.com", "ann@ex{.com", "ann@ex/.com", "ann@ex:.com", // just outside a-z and 0-9
	} {
		_, err := address.Normalize(in)
		assert.Error(t, err, "%q", in)
	}
}
