# The two commands a newcomer needs: `make run` and `make test`.
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test lint proto clean

## build: bin/registrar and bin/mailer (pure Go, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/registrar ./cmd/registrar
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mailer ./cmd/mailer

## run: the service on :8080 with embedded defaults (SQLite, in-process bus, emails printed)
run: build
	./bin/registrar

## test: vet, then every test with the race detector
test:
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 15m ./...

## lint: go vet and staticcheck
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

## proto: regenerate the Go code of protos/ (protoc from Maven Central, pinned)
proto:
	./scripts/proto.sh

clean:
	rm -rf bin .cache
