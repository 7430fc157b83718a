package gateway

import (
	"strconv"

	"github.com/danielgtaylor/huma/v2"
)

// documentHeaders adds to the document the headers every answer of a
// status carries (problem.go sets them): Retry-After on each 429 and 503,
// WWW-Authenticate on each 401. huma documents only the headers of an
// operation's own output type (Location on 201).
func documentHeaders(doc *huma.OpenAPI) {
	headers := map[int]map[string]*huma.Param{
		401: {"WWW-Authenticate": {
			Description: "The Basic challenge: the email and password are the credentials.",
			Schema:      &huma.Schema{Type: "string", Examples: []any{wwwAuthenticate}},
		}},
		429: {"Retry-After": retryAfterHeader},
		503: {"Retry-After": retryAfterHeader},
	}
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch, item.Head, item.Options} {
			if op == nil {
				continue
			}
			for status, add := range headers {
				r, ok := op.Responses[strconv.Itoa(status)]
				if !ok {
					continue
				}
				if r.Headers == nil {
					r.Headers = map[string]*huma.Param{}
				}
				for name, h := range add {
					r.Headers[name] = h
				}
			}
		}
	}
}

var retryAfterHeader = &huma.Param{
	Description: "Seconds to wait before trying again (at least 1).",
	Required:    true,
	Schema:      &huma.Schema{Type: "integer", Minimum: new(1.0)},
}
