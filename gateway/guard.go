package gateway

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Request bodies are never decoded: no content coding is accepted, on any
// header line, and nothing downstream gets the chance to inflate one.

// guardEncoding refuses, on every route, a request whose Content-Encoding
// names any coding but identity, on any of its header lines, and then
// removes the header: fiber's Ctx.Body(), which huma reads the body with,
// follows the last line and inflates the body fully in memory, before any
// size limit applies.
func (s *Server) guardEncoding(c *fiber.Ctx) error {
	identity := true
	for key, value := range c.Request().Header.All() {
		if strings.EqualFold(string(key), fiber.HeaderContentEncoding) && !identityOnly(string(value)) {
			identity = false
			break
		}
	}
	if !identity {
		return s.sendProblem(c, unsupportedMediaType("Content-Encoding is not supported; send the body uncompressed."))
	}
	c.Request().Header.Del(fiber.HeaderContentEncoding) // every line of it
	return c.Next()
}

// identityOnly reports whether a Content-Encoding value lists no coding
// but identity (an empty value lists none).
func identityOnly(value string) bool {
	for coding := range strings.SplitSeq(value, ",") {
		if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
			return false
		}
	}
	return true
}

// guardMediaType refuses a /v1 body that is not declared as JSON. The media
// type matches case-insensitively (RFC 9110); huma compares it exactly, so
// it gets the canonical spelling.
func (s *Server) guardMediaType(c *fiber.Ctx) error {
	if len(c.Request().Body()) == 0 {
		return c.Next()
	}
	ct := c.Get(fiber.HeaderContentType)
	if !isJSON(ct) {
		return s.sendProblem(c, unsupportedMediaType("Send the body as application/json."))
	}
	canonical := fiber.MIMEApplicationJSON
	if _, params, ok := strings.Cut(ct, ";"); ok {
		canonical += ";" + params
	}
	c.Request().Header.SetContentType(canonical)
	return c.Next()
}

// guardFraming refuses a request that declares both a Content-Length and a
// Transfer-Encoding (RFC 9112 §6.1: a proxy and this server could disagree
// on where the request ends, and smuggle a second one in its body), and
// closes the connection after answering.
func (s *Server) guardFraming(c *fiber.Ctx) error {
	length, encoding := false, false
	for key := range c.Request().Header.AllInOrder() {
		switch {
		case strings.EqualFold(string(key), fiber.HeaderContentLength):
			length = true
		case strings.EqualFold(string(key), fiber.HeaderTransferEncoding):
			encoding = true
		}
	}
	if length && encoding {
		c.Set(fiber.HeaderConnection, "close")
		c.Context().SetConnectionClose()
		return s.sendProblem(c, malformed("A request may not have both Content-Length and Transfer-Encoding."))
	}
	return c.Next()
}

func isJSON(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "application/json")
}

// headAsGet answers HEAD on every GET route as GET without the body (RFC
// 9110 §9.3.2): huma registers GET alone. The method is HEAD again for the
// access log and the metrics.
func headAsGet(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodHead {
		return c.Next()
	}
	c.Method(fiber.MethodGet)
	defer c.Method(fiber.MethodHead)
	err := c.Next()
	c.Response().SkipBody = true
	return err
}
