#!/usr/bin/env bash
# PostgreSQL transactions per registration on the full stack with two
# registrars and one mailer (pg_stat_database's xact_commit over a 20 s
# run at 30 registrations a second, the cheapest hash: the figure counts
# round trips, not CPU). docs/BENCHMARKS.md quotes it.
#
#   scripts/pg-per-registration.sh [bin dir]    needs make build and scripts/services.sh up
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-bin}")
eval "$(scripts/services.sh env)"
go build -o bin/saturate ./loadtest/cmd/saturate
pg="postgres://postgres@127.0.0.1:5432"
db=pg_per_registration_$$
out=$(mktemp -d)
psql -q "$pg/postgres?sslmode=disable" -c "CREATE DATABASE $db" >/dev/null
env=(RATE_LIMIT_PER_IP=0 SMTP_URL=smtp://127.0.0.1:2526 DATABASE_URL="$pg/$db?sslmode=disable"
  KAFKA_BROKERS="$KAFKA_BROKERS" KAFKA_TOPIC_PREFIX="$db." CODE_HMAC_KEY="$(openssl rand -hex 32)"
  PASSWORD_HASH_PARAMS=m=8,t=1,p=1 PASSWORD_HASH_BENCHMARK=true)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q "$pg/postgres?sslmode=disable" -c "DROP DATABASE IF EXISTS $db" >/dev/null || true
  bin/saturate -delete-topics "$db." -brokers "$KAFKA_BROKERS" || true
  rm -rf "$out"
}
trap cleanup EXIT
env -i PATH="$PATH" "${env[@]}" MAILER_HTTP_ADDR=127.0.0.1:18181 "$bin/mailer" >/dev/null 2>&1 &
pids+=($!)
for port in 18182 18183; do
  env -i PATH="$PATH" "${env[@]}" HTTP_ADDR=127.0.0.1:$port "$bin/registrar" >/dev/null 2>&1 &
  pids+=($!)
done
for port in 18181 18182 18183; do
  for _ in $(seq 300); do curl -fs http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.1; done
done
commits() { psql -tA "$pg/$db?sslmode=disable" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'"; }
before=$(commits)
bin/saturate -targets http://127.0.0.1:18182,http://127.0.0.1:18183 -smtp 127.0.0.1:2526 -rate 30 -duration 20s -ceiling 1s >"$out/run.json"
sleep 2 # the last emails' ledger writes
after=$(commits)
python3 - "$out/run.json" "$before" "$after" <<'PY'
import json, sys
regs = json.load(open(sys.argv[1]))["register"]["succeeded"]
n = int(sys.argv[3]) - int(sys.argv[2])
print(f"registrations {regs}, PostgreSQL transactions {n}: {n / regs:.2f} per registration")
PY
