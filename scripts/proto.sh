#!/usr/bin/env bash
# Regenerates the Go code of protos/ (make proto).
#
# protoc comes from Maven Central (com.google.protobuf:protoc publishes native
# binaries), the well-known .proto includes from the protobuf-java jar, and
# protoc-gen-go from the Go module proxy at the version go.mod pins. All are
# cached under .cache/ (git-ignored) and checked against pinned SHA-256 sums.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_VERSION=4.36.2
PROTOC_SHA256_linux_x86_64=f6ee22d65361338459208da8bff801c9ca689741cba9187b34990dd45198f864
JAR_SHA256=0773e72eaf375e1285df330575bfec5bda5da674d544d0e142a17f89c8f754da
MAVEN=${MAVEN_REPO:-https://repo1.maven.org/maven2}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x86_64; want=$PROTOC_SHA256_linux_x86_64 ;;
  *) echo "proto.sh: no pinned protoc for $(uname -s)-$(uname -m); add its checksum here" >&2; exit 1 ;;
esac

cache=.cache/protoc-$PROTOC_VERSION
mkdir -p "$cache/include" bin

fetch() { # url file sha256
  if [ ! -f "$2" ] || ! echo "$3  $2" | sha256sum -c --status; then
    curl -sSfL --retry 3 -o "$2.tmp" "$1"
    echo "$3  $2.tmp" | sha256sum -c --status || { echo "proto.sh: checksum mismatch for $1" >&2; rm -f "$2.tmp"; exit 1; }
    mv "$2.tmp" "$2"
  fi
}

fetch "$MAVEN/com/google/protobuf/protoc/$PROTOC_VERSION/protoc-$PROTOC_VERSION-$platform.exe" "$cache/protoc" "$want"
chmod +x "$cache/protoc"
fetch "$MAVEN/com/google/protobuf/protobuf-java/$PROTOC_VERSION/protobuf-java-$PROTOC_VERSION.jar" "$cache/protobuf-java.jar" "$JAR_SHA256"
[ -f "$cache/include/google/protobuf/timestamp.proto" ] ||
  (cd "$cache/include" && unzip -qo ../protobuf-java.jar 'google/protobuf/*.proto')

# protoc-gen-go at the version of google.golang.org/protobuf in go.mod.
GOBIN="$PWD/bin" go install google.golang.org/protobuf/cmd/protoc-gen-go

"$cache/protoc" \
  --plugin=protoc-gen-go="$PWD/bin/protoc-gen-go" \
  -I protos -I "$cache/include" \
  --go_out=. --go_opt=module=github.com/acme/registrar \
  $(find protos -name '*.proto' | sort)
echo "proto.sh: generated $(find protos -name '*.pb.go' | wc -l) files"
