#!/usr/bin/env bash
# make mutate: mutation testing of the core with gremlins (pinned). Each
# package's covered mutants are run against its own tests; the service
# tests skip (no services needed), so what is measured is the unit tests.
#
#   scripts/mutate.sh [package...]     default: address password actors gateway
#
# Prints each package's efficacy (killed ÷ killed and lived) and keeps the
# machine-readable reports in .cache/mutate/. The surviving mutants of
# the last run and why they are left are in docs/TESTING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
version=v0.6.0
pkgs=("${@:-address password actors gateway}")
# shellcheck disable=SC2206
pkgs=(${pkgs[*]})
mkdir -p .cache/mutate
# The pure core of actors/ (the rules, budgets, codes); its actor shell
# and cluster are what the registry, cluster and e2e tests cover.
shell=(actor cluster membership placement registry shard sweep tracing logging reply outbox id ports errors doc budget_time)
for p in "${pkgs[@]}"; do
  echo "mutate: $p" >&2
  exclude=()
  if [ "$p" = actors ]; then
    # One regexp a flag: gremlins (through viper) mangles alternations.
    for f in "${shell[@]}"; do exclude+=(-E "^(.*/)?$f\\.go\$"); done
    exclude+=(-E "actorstest/" -E "storetest/")
  fi
  GOFLAGS="${GOFLAGS:-} -short -count=1" env -u TEST_DATABASE_URL -u TEST_KAFKA_BROKERS -u TEST_ETCD_ENDPOINTS -u DATABASE_URL -u KAFKA_BROKERS -u CI \
    go run "github.com/go-gremlins/gremlins/cmd/gremlins@$version" unleash --workers 2 --timeout-coefficient "${TIMEOUT_COEFFICIENT:-50}" \
    "${exclude[@]}" --output ".cache/mutate/$p.json" "./$p" 2>&1 | tee ".cache/mutate/$p.log" | grep -E "^(Killed|Lived|Timed out|Not covered|Test efficacy|Mutator coverage)|LIVED|efficacy" || true
done
