package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// Request bodies are read strictly: the contract matches object keys
// exactly, refuses duplicated keys and invalid UTF-8, and encoding/json
// (which huma decodes with) does none of that: it matches keys
// case-insensitively, lets the last duplicate win and replaces invalid UTF-8
// with U+FFFD, so a password could be stored as something its owner never
// typed.

// strictBody is the huma middleware of an operation whose body is a JSON
// object with the properties of T's Body field: it refuses what
// encoding/json would silently repair (400 malformed_request) and any key
// that is not exactly one of those properties (422 invalid_request), before
// huma decodes the body.
func strictBody[T any](s *Server) func(huma.Context, func(huma.Context)) {
	keys := bodyKeys(reflect.TypeFor[T]())
	return func(ctx huma.Context, next func(huma.Context)) {
		body, err := io.ReadAll(ctx.BodyReader())
		if err != nil {
			s.writeProblem(ctx, statusProblem(400))
			return
		}
		if p := checkBody(body, keys); p != nil {
			s.writeProblem(ctx, p)
			return
		}
		next(ctx)
	}
}

// bodyKeys returns the JSON names of the fields of t's Body struct.
func bodyKeys(t reflect.Type) map[string]bool {
	body, ok := t.FieldByName("Body")
	if !ok || body.Type.Kind() != reflect.Struct {
		panic("gateway: strictBody needs an input type with a Body struct") // a wiring bug, found at start
	}
	return jsonKeys(body.Type)
}

// jsonKeys returns the JSON names of the fields of a struct whose fields all
// carry a json tag.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			panic("gateway: every body field needs a json name: " + t.Field(i).Name) // a wiring bug, found at start
		}
		keys[name] = true
	}
	return keys
}

// checkBody returns the problem of a body, or nil when it may be decoded.
// An empty body is left to the caller (huma answers it as malformed).
func checkBody(body []byte, keys map[string]bool) *Problem {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	switch err := checkJSON(body); {
	case errors.Is(err, errInvalidUTF8):
		return malformed("The request body is not valid UTF-8.")
	case errors.Is(err, errDuplicateKey):
		return malformed("The request body has an object with the same key twice.")
	case err != nil:
		return malformed("The request body is missing or is not valid JSON.")
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return nil // not an object: the schema's check says so
	}
	var errs []FieldError
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if !keys[k] {
			errs = append(errs, FieldError{Location: keyLocation(k), Message: "unexpected property (keys match exactly, case included)"})
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return invalidRequest(errs...)
}

func malformed(detail string) *Problem { return newProblem(400, "malformed_request", detail) }

// plainKey is a key that may be named back to the client. Anything else is
// not repeated: no error echoes what was submitted.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)

func keyLocation(k string) string {
	if plainKey.MatchString(k) {
		return "body." + k
	}
	return "body"
}

var (
	errInvalidUTF8  = errors.New("invalid UTF-8")
	errDuplicateKey = errors.New("duplicate key")
)

// checkJSON reports whether body is exactly one JSON value, valid UTF-8
// throughout (escaped surrogates included) and with no object that has the
// same key twice (after unescaping, so "a" and "\u0061" are one key).
func checkJSON(body []byte) error {
	if !utf8.Valid(body) || !validEscapes(body) {
		return errInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	// One frame per open object (the keys it has so far) or array (nil
	// keys). json.Decoder checks the syntax, commas and colons included.
	type frame struct {
		keys    map[string]bool
		wantKey bool
	}
	var open []*frame
	done := false // one whole value was read
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if !done || len(open) > 0 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
		if done {
			return errors.New("more than one JSON value")
		}
		if n := len(open); n > 0 && open[n-1].keys != nil && open[n-1].wantKey {
			if k, ok := tok.(string); ok {
				if open[n-1].keys[k] {
					return errDuplicateKey
				}
				open[n-1].keys[k] = true
				open[n-1].wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			open = append(open, &frame{keys: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			open = append(open, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			open = open[:len(open)-1]
		}
		// A value ended: in an object, a key comes next.
		if n := len(open); n > 0 && open[n-1].keys != nil {
			open[n-1].wantKey = true
		}
		done = len(open) == 0
	}
}

// validEscapes reports whether every \u escape in the strings of body
// encodes a scalar value: a high surrogate followed by a low one, or no
// surrogate. json.Decoder turns a lone surrogate into U+FFFD.
func validEscapes(body []byte) bool {
	inString := false
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '"':
			inString = !inString
		case c == '\\' && inString && i+1 < len(body):
			i++
			if body[i] != 'u' {
				continue
			}
			r, ok := hex4(body, i+1)
			if !ok {
				return true // not JSON: the decoder says so
			}
			i += 4
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return false
			case r >= 0xD800 && r <= 0xDBFF:
				lo, ok := hex4(body, i+3)
				if i+2 >= len(body) || body[i+1] != '\\' || body[i+2] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
					return false
				}
				i += 6
			}
		}
	}
	return true
}

// hex4 reads the four hex digits at body[i:].
func hex4(body []byte, i int) (rune, bool) {
	if i+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
