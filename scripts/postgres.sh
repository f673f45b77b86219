#!/usr/bin/env bash
# A real PostgreSQL server (Debian's package) on 127.0.0.1 for the tests and benchmarks.
#
#   scripts/postgres.sh start    create a cluster in a temporary folder, start it, create the
#                                database, print LSST_TEST_POSTGRES_URL=postgres://…
#   scripts/postgres.sh stop     stop it and remove its data
#   scripts/postgres.sh status   say whether it runs
#
# Port $LSST_POSTGRES_PORT (default 15432). As root, the server runs as the "postgres" user
# (PostgreSQL refuses to run as root).
set -euo pipefail

state="${LSST_POSTGRES_STATE:-${TMPDIR:-/tmp}/lsst-extendedness-postgres}"
port="${LSST_POSTGRES_PORT:-15432}"
database=lsst_test
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "PostgreSQL server binaries not found (install the Debian package postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

url() {
  echo "LSST_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/$database"
}

running() {
  [ -f "$state/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$state/data" status >/dev/null 2>&1
}

start() {
  if running; then
    url
    return
  fi
  rm -rf "$state"
  mkdir -p "$state/socket"
  [ "$(id -u)" -ne 0 ] || chown -R postgres "$state"
  as_owner "$bin/initdb" -D "$state/data" -U postgres --auth=trust -E UTF8 --no-instructions \
    >"$state/initdb.log" 2>&1 || { cat "$state/initdb.log" >&2; exit 1; }
  as_owner "$bin/pg_ctl" -D "$state/data" -l "$state/server.log" -w -t 60 \
    -o "-p $port -k $state/socket -c listen_addresses=127.0.0.1 -c max_connections=200" \
    start >/dev/null || { tail -n 30 "$state/server.log" >&2; exit 1; }
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$database"
  url
}

stop() {
  if running; then as_owner "$bin/pg_ctl" -D "$state/data" -m fast -w stop >/dev/null || true; fi
  rm -rf "$state"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if running; then
      echo "running"
      url
    else
      echo "not running"
      exit 3
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
