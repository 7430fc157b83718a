#!/usr/bin/env bash
# make run-stack: bin/registrar and bin/mailer on the local PostgreSQL and
# Kafka of scripts/services.sh. Without SMTP_URL the mailer prints the emails
# (codes included) to this terminal. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/services.sh env)"

# Every instance must share the code key: keep one for the local stack.
key_file=.cache/stack/code_hmac.key
if [ ! -f "$key_file" ]; then
  mkdir -p "$(dirname "$key_file")"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$key_file")
fi
export CODE_HMAC_KEY=${CODE_HMAC_KEY:-$(cat "$key_file")}


./bin/mailer &
mailer=$!
trap 'kill -TERM "$mailer" 2>/dev/null || true; wait "$mailer" 2>/dev/null || true' EXIT INT TERM
./bin/registrar
