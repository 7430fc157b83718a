package gateway

import (
	"crypto/sha256"
	_ "embed" // the renderer of /docs
	"encoding/hex"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// The renderer of /docs is Redoc's standalone bundle, served from the
// binary: behind a firewall or offline the page still renders (huma's own
// page loads its renderer from a CDN). scripts/docs-assets.sh (make
// docs-assets) fetches it from the npm registry at a pinned version and
// checks it against the registry's integrity.
//
//go:embed docs/redoc.standalone.js
var redocJS []byte

//go:embed docs/VERSION
var redocVersion string

// redocETag names the bundle's content, for conditional requests.
var redocETag = func() string {
	sum := sha256.Sum256(redocJS)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

const redocPath = "/docs/redoc.standalone.js"

// docsPage is /docs: the OpenAPI document rendered by the bundle.
var docsPage = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Registration API</title>
</head>
<body>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="` + redocPath + `?v=` + strings.TrimSpace(redocVersion) + `"></script>
</body>
</html>
`

// docsPolicy lets the page load nothing but this server's own resources,
// so no third party learns who reads the documentation, and a page that
// would reach out fails visibly in tests (e2e/docs_test.go). Redoc injects
// its styles and runs its search in a worker made from a blob.
const docsPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (s *Server) registerDocsRoutes() {
	s.app.Get("/docs", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentSecurityPolicy, docsPolicy)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderCacheControl, "no-cache")
		c.Type("html", "utf-8")
		return c.SendString(docsPage)
	})
	s.app.Get(redocPath, func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderETag, redocETag)
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		c.Set(fiber.HeaderCacheControl, "public, max-age=86400")
		if c.Get(fiber.HeaderIfNoneMatch) == redocETag {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Type("js", "utf-8")
		return c.Send(redocJS)
	})
}
