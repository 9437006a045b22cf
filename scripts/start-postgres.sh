#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server for the API test suite and prints its SQLAlchemy URL.
# Installs Debian's postgresql package when no server binaries are found (needs root or sudo).
# The cluster lives in $LINKAGE_PG_DIR (default /tmp/linkage-pg), listens on 127.0.0.1 only,
# port $LINKAGE_PG_PORT (default 55432), trusts local connections, and is reused when already
# running. Stop it with: scripts/start-postgres.sh stop
set -euo pipefail

DIR=${LINKAGE_PG_DIR:-/tmp/linkage-pg}
PORT=${LINKAGE_PG_PORT:-55432}
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/postgres"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

find_bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  echo "$found"
}

BIN=$(find_bin)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "start-postgres.sh: installing Debian's postgresql" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  BIN=$(find_bin)
fi
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "start-postgres.sh: no PostgreSQL server binaries after installing" >&2
  exit 1
fi

# the server refuses to run as root: run it as the postgres user the package created
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

if [ "${1:-}" = "stop" ]; then
  if [ -f "$DIR/data/postmaster.pid" ]; then
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null
  fi
  exit 0
fi

mkdir -p "$DIR"
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$DIR"
fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p ${PORT} -k ${DIR} -c fsync=off -c max_connections=200" \
    start >/dev/null
fi
echo "$URL"
