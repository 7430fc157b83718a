#!/usr/bin/env bash
# The stack's saturation ratio with the cluster off and on (issue 9): three
# bin/registrar on one PostgreSQL, registrations through all three, against
# the argon2id ceiling measured in the same run (loadtest/cmd/saturate).
#
#   scripts/bench-cluster.sh [duration]     needs make build and scripts/services.sh up
#
# Prints one JSON result per shape: one registrar, three without a cluster,
# three as one cluster (automanaged). Emails go to the registrars' stdout,
# which is discarded.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20s}
eval "$(scripts/services.sh env)"
[ -x bin/registrar ] || { echo "bench-cluster: run make build first" >&2; exit 1; }
go build -o bin/saturate ./loadtest/cmd/saturate
key=$(openssl rand -hex 32)
db=bench_cluster_$$
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE $db" >/dev/null
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
}
trap cleanup EXIT

start() { # n cluster
  local n=$1 cluster=$2 peers="" i
  pids=()
  for i in $(seq "$n"); do peers+="${peers:+,}127.0.0.1:$((16330 + i))"; done
  for i in $(seq "$n"); do
    local extra=()
    [ "$cluster" = on ] && extra=(CLUSTER_PROVIDER=automanaged CLUSTER_ADDR=127.0.0.1:$((14000 + i))
      CLUSTER_DISCOVERY_PORT=$((16330 + i)) CLUSTER_PEERS="$peers")
    env HTTP_ADDR=127.0.0.1:$((18180 + i)) DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" \
      CODE_HMAC_KEY="$key" RATE_LIMIT_PER_IP=0 "${extra[@]}" bin/registrar >/dev/null 2>&1 &
    pids+=($!)
  done
  for i in $(seq "$n"); do
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$((18180 + i))/readyz" >/dev/null && break; sleep 0.1; done
  done
  sleep 3 # the cluster settles
}

targets() { local t="" i; for i in $(seq "$1"); do t+="${t:+,}http://127.0.0.1:$((18180 + i))"; done; echo "$t"; }

stop() { for p in "${pids[@]}"; do kill "$p"; done; wait "${pids[@]}" 2>/dev/null || true; }

for shape in "1 off" "3 off" "3 on"; do
  set -- $shape
  start "$1" "$2"
  echo "# $1 registrar(s), cluster $2"
  bin/saturate -targets "$(targets "$1")" -duration "$duration"
  stop
done
