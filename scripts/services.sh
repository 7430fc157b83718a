#!/usr/bin/env bash
# Local PostgreSQL and Apache Kafka for development and tests, without Docker.
#
#   scripts/services.sh up              start both (reusing servers that already answer)
#   scripts/services.sh down            stop what this script started
#   scripts/services.sh start NAME      NAME is postgres, kafka or etcd
#   scripts/services.sh stop NAME
#   scripts/services.sh env             print export lines for DATABASE_URL, KAFKA_BROKERS,
#                                       ETCD_ENDPOINTS (and their TEST_ forms for the tests)
#   scripts/services.sh status
#   scripts/services.sh tools           install the test tools: promtool (Debian's
#                                       prometheus package) and chromium (headless)
#
# PostgreSQL comes from Debian's packages (installed when missing, as root)
# and runs in .cache/postgres; Kafka 4.x is fetched from Maven Central into
# .cache/kafka-VERSION (scripts/kafka/pom.xml) and runs as one KRaft node in
# .cache/kafka; etcd (for the cluster's etcd provider) comes from Debian's
# etcd-server package and runs in .cache/etcd. All listen on 127.0.0.1
# only, without passwords: for
# development and tests, never for production (see docker-compose.yml and
# docs/OPERATIONS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache

PG_PORT=${REGISTRAR_PG_PORT:-5432}
KAFKA_PORT=${REGISTRAR_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${REGISTRAR_KAFKA_CONTROLLER_PORT:-9093}
ETCD_PORT=${REGISTRAR_ETCD_PORT:-2379}
ETCD_PEER_PORT=${REGISTRAR_ETCD_PEER_PORT:-2380}
ETCD_DIR=$CACHE/etcd
KAFKA_VERSION=$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' scripts/kafka/pom.xml)
PG_DIR=$CACHE/postgres
KAFKA_DIR=$CACHE/kafka
KAFKA_LIB=$CACHE/kafka-$KAFKA_VERSION/lib

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

apt_install() {
  command -v apt-get >/dev/null || die "cannot install $*: no apt-get on this machine"
  say "installing $* from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # description seconds command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 10))); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  die "$what did not answer within ${secs}s"
}

# ---------------------------------------------------------------- PostgreSQL

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

# pg_run runs a PostgreSQL program as the owner of the data directory: the
# server refuses to run as root.
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_answers() { psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; }

pg_ensure_database() {
  local db
  for db in registrar registrar_test; do
    if [ "$(psql -w -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
      psql -w -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
    fi
  done
}

start_postgres() {
  if pg_answers; then
    say "postgres: reusing the server on 127.0.0.1:$PG_PORT"
    pg_ensure_database
    return
  fi
  if tcp_open "$PG_PORT"; then
    die "postgres: something on 127.0.0.1:$PG_PORT refuses a passwordless login as postgres; set REGISTRAR_PG_PORT to a free port"
  fi
  local bin
  bin=$(pg_bin)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(pg_bin)
    # The package may have started its own cluster; ours is the one we use.
    for c in /etc/postgresql/*/main; do
      [ -d "$c" ] && as_root pg_ctlcluster "$(basename "$(dirname "$c")")" main stop 2>/dev/null || true
    done
    [ -n "$bin" ] || die "postgres: no PostgreSQL binaries after installing"
  fi
  command -v psql >/dev/null || apt_install postgresql-client
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    as_root useradd --system --home-dir "$PG_DIR" --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    say "postgres: creating a cluster in $PG_DIR/data"
    pg_run "$bin/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 ||
      die "postgres: initdb failed, see $PG_DIR/initdb.log"
  fi
  say "postgres: starting on 127.0.0.1:$PG_PORT"
  pg_run "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DIR/data -c max_connections=200" start >/dev/null ||
    die "postgres: start failed, see $PG_DIR/postgres.log"
  wait_for postgres 60 pg_answers
  pg_ensure_database
  touch "$PG_DIR/started-by-us"
}

stop_postgres() {
  if [ ! -f "$PG_DIR/started-by-us" ]; then
    say "postgres: not started by this script; left alone"
    return
  fi
  pg_run "$(pg_bin)/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -f "$PG_DIR/started-by-us"
  say "postgres: stopped"
}

# --------------------------------------------------------------------- Kafka

kafka_answers() { tcp_open "$KAFKA_PORT" && grep -q "Kafka Server started" "$KAFKA_DIR/kafka.log" 2>/dev/null; }

fetch_kafka() {
  [ -f "$KAFKA_LIB/kafka_2.13-$KAFKA_VERSION.jar" ] && return
  command -v mvn >/dev/null || apt_install maven
  say "kafka: fetching Apache Kafka $KAFKA_VERSION from Maven Central"
  mvn -q -B -f scripts/kafka/pom.xml dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIB.tmp" -DincludeScope=runtime >&2 || die "kafka: fetching the jars failed"
  rm -rf "$KAFKA_LIB" && mv "$KAFKA_LIB.tmp" "$KAFKA_LIB"
}

start_kafka() {
  # The jars also serve the fault tests' own brokers, reused broker or not.
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  fetch_kafka
  if tcp_open "$KAFKA_PORT"; then
    say "kafka: reusing the broker on 127.0.0.1:$KAFKA_PORT"
    return
  fi
  mkdir -p "$KAFKA_DIR"
  sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" -e "s|@DIR@|$KAFKA_DIR|g" \
    "$ROOT/scripts/kafka/server.properties" >"$KAFKA_DIR/server.properties"
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    local id
    id=$(java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    java -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" >"$KAFKA_DIR/format.log" 2>&1 ||
      die "kafka: formatting the storage failed, see $KAFKA_DIR/format.log"
  fi
  say "kafka: starting on 127.0.0.1:$KAFKA_PORT"
  : >"$KAFKA_DIR/kafka.log"
  nohup java -Xms256m -Xmx512m -XX:+UseG1GC -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    >>"$KAFKA_DIR/kafka.log" 2>&1 &
  echo $! >"$KAFKA_DIR/kafka.pid"
  wait_for kafka 90 kafka_answers
}

stop_kafka() {
  if [ ! -f "$KAFKA_DIR/kafka.pid" ]; then
    say "kafka: not started by this script; left alone"
    return
  fi
  local pid
  pid=$(cat "$KAFKA_DIR/kafka.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$KAFKA_DIR/kafka.pid"
  say "kafka: stopped"
}

# ---------------------------------------------------------------------- etcd

etcd_answers() { curl -fsS "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }

start_etcd() {
  if etcd_answers; then
    say "etcd: reusing the server on 127.0.0.1:$ETCD_PORT"
    return
  fi
  tcp_open "$ETCD_PORT" && die "etcd: something else listens on 127.0.0.1:$ETCD_PORT; set REGISTRAR_ETCD_PORT"
  command -v etcd >/dev/null || apt_install etcd-server
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$ETCD_DIR"
  say "etcd: starting on 127.0.0.1:$ETCD_PORT"
  nohup etcd --name registrar-dev --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "registrar-dev=http://127.0.0.1:$ETCD_PEER_PORT" >"$ETCD_DIR/etcd.log" 2>&1 &
  echo $! >"$ETCD_DIR/etcd.pid"
  wait_for etcd 30 etcd_answers
}

stop_etcd() {
  if [ ! -f "$ETCD_DIR/etcd.pid" ]; then
    say "etcd: not started by this script; left alone"
    return
  fi
  kill "$(cat "$ETCD_DIR/etcd.pid")" 2>/dev/null || true
  rm -f "$ETCD_DIR/etcd.pid"
  say "etcd: stopped"
}

# --------------------------------------------------------------------- tools

# promtool checks the alert rules and the metrics' exposition; chromium
# renders /docs with the network cut off. Both from Debian's packages.
install_tools() {
  local want=()
  command -v promtool >/dev/null || want+=(prometheus)
  command -v chromium >/dev/null || want+=(chromium)
  [ ${#want[@]} -eq 0 ] || apt_install "${want[@]}"
}

# ---------------------------------------------------------------------------

env_lines() {
  echo "export DATABASE_URL='postgres://postgres@127.0.0.1:$PG_PORT/registrar?sslmode=disable'"
  echo "export KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'"
  echo "export ETCD_ENDPOINTS='http://127.0.0.1:$ETCD_PORT'"
  # The tests get only the services that answer: outside CI, the others'
  # tests are skipped (under CI=true they fail).
  pg_answers && echo "export TEST_DATABASE_URL='postgres://postgres@127.0.0.1:$PG_PORT/registrar_test?sslmode=disable'"
  tcp_open "$KAFKA_PORT" && echo "export TEST_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'"
  etcd_answers && echo "export TEST_ETCD_ENDPOINTS='http://127.0.0.1:$ETCD_PORT'"
  # The fault tests run servers of their own (to stop and kill them) from
  # these binaries and jars.
  [ -n "$(pg_bin)" ] && echo "export TEST_POSTGRES_BIN='$(pg_bin)'"
  [ -d "$KAFKA_LIB" ] && echo "export TEST_KAFKA_LIB='$KAFKA_LIB'"
  command -v promtool >/dev/null && echo "export TEST_PROMTOOL='$(command -v promtool)'"
  command -v chromium >/dev/null && echo "export TEST_CHROMIUM='$(command -v chromium)'"
  return 0
}

case "${1:-}" in
  up) start_postgres; start_kafka; start_etcd; install_tools ;;
  tools) install_tools ;;
  down) stop_etcd; stop_kafka; stop_postgres ;;
  start | stop)
    case "${2:-}" in
      postgres | kafka | etcd) "${1}_${2}" ;;
      *) die "usage: $0 $1 postgres|kafka|etcd" ;;
    esac ;;
  env) env_lines ;;
  status)
    pg_answers && say "postgres: answering on 127.0.0.1:$PG_PORT" || say "postgres: not answering"
    tcp_open "$KAFKA_PORT" && say "kafka: answering on 127.0.0.1:$KAFKA_PORT" || say "kafka: not answering"
    etcd_answers && say "etcd: answering on 127.0.0.1:$ETCD_PORT" || say "etcd: not answering" ;;
  *) die "usage: $0 up|down|start NAME|stop NAME|env|status|tools" ;;
esac
