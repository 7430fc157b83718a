# The two commands a newcomer needs: `make run` and `make test`.
GO          ?= go
GOLANGCI    := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
SERVICES    := ./scripts/services.sh

K6          := go.k6.io/k6@v1.8.1
MAILPIT     := github.com/axllent/mailpit@v1.27.11

.PHONY: build run test lint proto password-words mutate docs-assets services-up services-down run-stack tools bench load clean

## build: bin/registrar and bin/mailer (pure Go, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o bin/registrar ./cmd/registrar
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o bin/mailer ./cmd/mailer

## run: the service on :8080 with embedded defaults (SQLite, in-process bus, emails printed)
run: build
	./bin/registrar

# Modules of their own beside the service's: the event types, a subscriber,
# the compose check, the Kubernetes manifests' check.
MODULES     := protos examples/events-consumer internal/composecheck internal/k8scheck

## test: vet, start PostgreSQL, Kafka and etcd if absent, then every test with the race detector.
## Without the services (outside CI) their tests are skipped; under CI=true they fail.
test:
	$(GO) vet ./...
	for m in $(MODULES); do (cd $$m && $(GO) vet ./... && $(GO) test -count=1 ./...) || exit 1; done
	$(SERVICES) up || [ "$$CI" != true ] || { echo "make test: services are required under CI=true" >&2; exit 1; }
	eval "$$($(SERVICES) env)" && CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...
	# Several cluster members in one process race in protoactor's remote
	# (actors/cluster_test.go): those tests run without the race detector.
	$(GO) test -count=1 -timeout 5m -run Cluster ./actors/

## lint: go vet, then golangci-lint (errcheck, staticcheck, sloglint, errorlint, ...; .golangci.yml), gofmt
lint:
	$(GO) vet ./...
	$(GO) run $(GOLANGCI) run --max-issues-per-linter 0 --max-same-issues 0 ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

## proto: regenerate the Go code of protos/ (protoc from Maven Central, pinned)
proto:
	./scripts/proto.sh

## mutate: mutation testing (gremlins) of the core: address, password, actors, gateway; a report per package in .cache/mutate/
mutate:
	./scripts/mutate.sh

## password-words: password/words.txt, the guessability check's words, from zxcvbn-go's lists
password-words:
	go test ./password -run TestWordListIsZxcvbnsLists -update-words

## docs-assets: the renderer of /docs (Redoc, from the npm registry, pinned and checked) into gateway/docs/
docs-assets:
	./scripts/docs-assets.sh

## services-up, services-down: local PostgreSQL and Kafka without Docker (scripts/services.sh)
services-up:
	$(SERVICES) up
	@echo 'export them with: eval "$$($(SERVICES) env)"'

services-down:
	$(SERVICES) down

## run-stack: registrar and mailer on the local PostgreSQL and Kafka
run-stack: build services-up
	./scripts/run-stack.sh

## tools: k6 and Mailpit, pinned, into bin/ (k6 takes a few minutes to build)
tools: bin/k6 bin/mailpit

bin/k6:
	GOBIN=$(CURDIR)/bin CGO_ENABLED=0 $(GO) install $(K6)

bin/mailpit:
	GOBIN=$(CURDIR)/bin CGO_ENABLED=0 $(GO) install $(MAILPIT)

## bench (test binaries do not re-execute themselves: GODEBUG as the registrar runs): Go benchmarks: the hash alone on one and on all cores (the ceiling), the rules, an actor
## round trip, the stores (SQLite; PostgreSQL when it answers), SMTP; kept in loadtest/results/bench.txt
bench:
	$(SERVICES) up >/dev/null || echo "make bench: no PostgreSQL, its benchmarks are skipped" >&2
	eval "$$($(SERVICES) env)" && GODEBUG=madvdontneed=0 $(GO) test -run '^$$' -bench . -benchtime 2s \
		./password/ ./actors/ ./persistence/ ./mailer/ | tee loadtest/results/bench.txt

## load: the k6 scenarios against the embedded service and the full stack, each compared with the
## hash ceiling measured in the same run; writes loadtest/results/ and docs/BENCHMARKS.md (~20 min)
load: tools build bench
	$(SERVICES) up
	$(GO) run ./loadtest/cmd/loadrun

clean:
	rm -rf bin .cache
