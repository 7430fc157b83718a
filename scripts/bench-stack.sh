#!/usr/bin/env bash
# The figures of docs/BENCHMARKS.md's "binaries as users start them" table
# (issue 12): bin/registrar (embedded) and bin/registrar + bin/mailer on
# PostgreSQL and Kafka (full stack), started with no variable but the
# service's own, driven by loadtest/cmd/saturate (a Go client that is also
# the SMTP server), each figure against the argon2id ceiling measured in
# the same run.
#
#   scripts/bench-stack.sh [runs] [duration]    needs make build and scripts/services.sh up
#
# Per stack and run: saturation (registrations, then activations with the
# emailed codes), half the ceiling (open loop), and the rest of the path
# with the cheapest hash (PASSWORD_HASH_PARAMS=m=8,t=1,p=1, a benchmark-only
# setting) at half and at 0.85 of the ceiling: the CPU every server process
# spends on a registration besides its hash. Results go to
# loadtest/results/stack/; the table is printed at the end
# (go run ./loadtest/cmd/saturate -summarize loadtest/results/stack).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
duration=${2:-20s}
eval "$(scripts/services.sh env)"
for b in bin/registrar bin/mailer; do [ -x "$b" ] || { echo "bench-stack: run make build first" >&2; exit 1; }; done
go build -o bin/saturate ./loadtest/cmd/saturate
out=loadtest/results/stack
rm -rf "$out" && mkdir -p "$out"
root=$(pwd)
smtp=127.0.0.1:2525
pg="postgres://postgres@127.0.0.1:5432"
pids=() dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for db in "${dbs[@]}"; do
    psql -q "$pg/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db" >/dev/null || true
    bin/saturate -delete-topics "$db." -brokers "$KAFKA_BROKERS" || true
  done
}
trap cleanup EXIT

ready() { for _ in $(seq 300); do curl -fs "$1" >/dev/null && return; sleep 0.1; done; echo "bench-stack: $1 never ready" >&2; exit 1; }

start() { # stack [variables...]
  local stack=$1; shift
  local env=(HTTP_ADDR=127.0.0.1:18080 RATE_LIMIT_PER_IP=0 SMTP_URL="smtp://$smtp" "$@")
  pids=()
  if [ "$stack" = full ]; then
    local db=bench_stack_$$_${#dbs[@]}
    dbs+=("$db")
    psql -q "$pg/postgres?sslmode=disable" -c "CREATE DATABASE $db" >/dev/null
    env+=(DATABASE_URL="$pg/$db?sslmode=disable" KAFKA_BROKERS="$KAFKA_BROKERS" KAFKA_TOPIC_PREFIX="$db." CODE_HMAC_KEY="$(openssl rand -hex 32)")
    env -i PATH="$PATH" "${env[@]}" MAILER_HTTP_ADDR=127.0.0.1:18081 "$root/bin/mailer" >/dev/null 2>&1 &
    pids+=($!)
    ready http://127.0.0.1:18081/readyz
  fi
  env -i PATH="$PATH" "${env[@]}" "$root/bin/registrar" >/dev/null 2>&1 &
  pids+=($!)
  ready http://127.0.0.1:18080/readyz
}

stop() { for p in "${pids[@]}"; do kill "$p"; done; wait "${pids[@]}" 2>/dev/null || true; pids=(); }

measure() { # stack scenario run [saturate flags...]
  local stack=$1 scenario=$2 run=$3; shift 3
  local procs="registrar=$root/bin/registrar"
  [ "$stack" = full ] && procs+=",mailer=$root/bin/mailer,postgres=postgres,kafka=kafka.Kafka"
  echo "bench-stack: run $run, $stack, $scenario" >&2
  bin/saturate -targets http://127.0.0.1:18080 -smtp "$smtp" -procs "$procs" -duration "$duration" "$@" >"$out/$stack-$scenario-$run.json"
}

cheapest=(PASSWORD_HASH_PARAMS=m=8,t=1,p=1 PASSWORD_HASH_BENCHMARK=true)
for run in $(seq "$runs"); do
  for stack in embedded full; do
    start $stack && measure $stack saturation "$run" -activate && stop
    start $stack && measure $stack half "$run" -rate-of-ceiling 0.5 && stop
    start $stack "${cheapest[@]}" && measure $stack path-half "$run" -rate-of-ceiling 0.5 -ceiling 3s && stop
    start $stack "${cheapest[@]}" && measure $stack path-saturation "$run" -rate-of-ceiling 0.85 -ceiling 3s && stop
  done
done
bin/saturate -summarize "$out"
