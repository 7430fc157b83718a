#!/usr/bin/env bash
# Fetches the renderer of /docs (Redoc's standalone bundle, MIT) from the npm
# registry at a pinned version, checks it against the registry's published
# SHA-512 integrity, and writes it into gateway/docs/, which the binary
# embeds: /docs then renders without the internet (make docs-assets). The
# result is committed; run this only to change the version.
set -euo pipefail
cd "$(dirname "$0")/.."

REDOC_VERSION=2.5.4
# dist.integrity of https://registry.npmjs.org/redoc/2.5.4
REDOC_INTEGRITY=sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==
NPM=${NPM_REGISTRY:-https://registry.npmjs.org}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -sSfL --retry 3 -o "$tmp/redoc.tgz" "$NPM/redoc/-/redoc-$REDOC_VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/redoc.tgz" | base64 -w0)"
[ "$got" = "$REDOC_INTEGRITY" ] || { echo "docs-assets.sh: integrity mismatch for redoc $REDOC_VERSION: $got" >&2; exit 1; }
tar -xzf "$tmp/redoc.tgz" -C "$tmp" package/bundles/redoc.standalone.js package/bundles/redoc.standalone.js.LICENSE.txt package/LICENSE
mkdir -p gateway/docs
cp "$tmp/package/bundles/redoc.standalone.js" gateway/docs/redoc.standalone.js
cat "$tmp/package/LICENSE" "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" > gateway/docs/LICENSE.redoc.txt
echo "$REDOC_VERSION" > gateway/docs/VERSION
(cd gateway/docs && sha256sum redoc.standalone.js > SHA256SUMS) # checked by gateway/docs_test.go
echo "docs-assets.sh: gateway/docs/redoc.standalone.js is Redoc $REDOC_VERSION ($got)"
