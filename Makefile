# The two commands a newcomer needs: `make run` and `make test`.
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
SERVICES    := ./scripts/services.sh

.PHONY: build run test lint proto services-up services-down run-stack clean

## build: bin/registrar and bin/mailer (pure Go, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/registrar ./cmd/registrar
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/mailer ./cmd/mailer

## run: the service on :8080 with embedded defaults (SQLite, in-process bus, emails printed)
run: build
	./bin/registrar

## test: vet, start PostgreSQL and Kafka if absent, then every test with the race detector.
## Without the services (outside CI) their tests are skipped; under CI=true they fail.
test:
	$(GO) vet ./...
	$(SERVICES) up || [ "$$CI" != true ] || { echo "make test: services are required under CI=true" >&2; exit 1; }
	eval "$$($(SERVICES) env)" && CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

## lint: go vet, staticcheck, gofmt
lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

## proto: regenerate the Go code of protos/ (protoc from Maven Central, pinned)
proto:
	./scripts/proto.sh

## services-up, services-down: local PostgreSQL and Kafka without Docker (scripts/services.sh)
services-up:
	$(SERVICES) up
	@echo 'export them with: eval "$$($(SERVICES) env)"'

services-down:
	$(SERVICES) down

## run-stack: registrar and mailer on the local PostgreSQL and Kafka
run-stack: build services-up
	./scripts/run-stack.sh

clean:
	rm -rf bin .cache
