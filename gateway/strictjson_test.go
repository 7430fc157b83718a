package gateway

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestCheckJSON(t *testing.T) {
	tests := map[string]struct {
		body string
		want error
	}{
		"an object":                        {`{"a":1,"b":[1,{"a":2}],"c":{"a":{"a":3}}}`, nil},
		"scalars and empties":              {`[true,null,"x",1.5e3,{},[]]`, nil},
		"a pair of surrogates":             {`{"a":"\ud83d\ude00"}`, nil},
		"an escaped backslash before u":    {`{"a":"\\ud800"}`, nil},
		"a duplicate":                      {`{"a":1,"a":2}`, errDuplicateKey},
		"a duplicate after a nested value": {`{"a":{"b":1},"a":2}`, errDuplicateKey},
		"a duplicate in a nested object":   {`[{"x":[{"y":1,"y":1}]}]`, errDuplicateKey},
		"a duplicate once unescaped":       {`{"ab":1,"\u0061b":2}`, errDuplicateKey},
		"keys differing in case":           {`{"a":1,"A":2}`, nil},
		"a value equal to a key":           {`{"a":"a","b":"a"}`, nil},
		"a lone high surrogate":            {`{"a":"\ud800"}`, errInvalidUTF8},
		"a high surrogate and a letter":    {`{"a":"\ud800\u0041"}`, errInvalidUTF8},
		"a lone low surrogate":             {`{"\udfff":1}`, errInvalidUTF8},
		"raw invalid bytes":                {"{\"a\":\"\xed\xa0\x80\"}", errInvalidUTF8},
		// Each end of the surrogate ranges (found by make mutate).
		"the lowest pair":                {`{"a":"\ud800\udc00"}`, nil},
		"the highest pair":               {`{"a":"\udbff\udfff"}`, nil},
		"a high surrogate below the low": {`{"a":"\ud800\udbff"}`, errInvalidUTF8},
		"a high surrogate above the low": {`{"a":"\ud800\ue000"}`, errInvalidUTF8},
		"the lowest lone low":            {`{"a":"\udc00"}`, errInvalidUTF8},
		"just below the surrogates":      {`{"a":"\ud7ff"}`, nil},
		"just above the surrogates":      {`{"a":"\ue000"}`, nil},
		"a high surrogate at the end":    {`{"a":"\udbff`, errInvalidUTF8},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if err := checkJSON([]byte(tt.body)); !errors.Is(err, tt.want) {
				t.Errorf("checkJSON(%s) = %v, want %v", tt.body, err, tt.want)
			}
		})
	}
	for _, bad := range []string{`{"a":1`, `{"a" 1}`, `{1:2}`, `[1,]`, `{"a":1}{"b":2}`, `1 2`, `[`, `"a`} {
		if checkJSON([]byte(bad)) == nil {
			t.Errorf("checkJSON(%s) accepted invalid JSON", bad)
		}
	}
}

// FuzzCheckJSON: what checkJSON accepts is one valid JSON value in valid
// UTF-8.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":{"a":2}}`, `{"a":1,"a":2}`, `["\ud800"]`, `{"\u0061":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if checkJSON(b) != nil {
			return
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			t.Fatalf("accepted %q", b)
		}
	})
}
