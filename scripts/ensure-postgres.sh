#!/usr/bin/env bash
# Ensure a PostgreSQL server for the store tests: Debian's postgresql package, and a private
# cluster of govreg's own on a loopback port (so no system service, and nothing else's data).
#
# Idempotent: when the cluster already answers it prints nothing and exits 0. Otherwise installs
# the package (apt-get update once) if no initdb is found, creates the cluster as the postgres
# user in $GOVREG_PG_DIR (trust authentication on 127.0.0.1 only), and starts it on
# $GOVREG_PG_PORT. The tests read the server from GOVREG_TEST_PG (the Makefile sets it to
# postgresql+psycopg://postgres@127.0.0.1:$GOVREG_PG_PORT/postgres) and make one database per test.
set -euo pipefail

PORT=${GOVREG_PG_PORT:-55432}
DIR=${GOVREG_PG_DIR:-/tmp/govreg-pg}

fail() {
    echo "ensure-postgres: $*" >&2
    exit 1
}

find_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

BIN=$(find_bin)
if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
    [[ $(id -u) -eq 0 ]] || fail "PostgreSQL is not installed; run as root to install it (apt-get install postgresql)"
    echo "ensure-postgres: installing Debian's postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || fail "apt-get update failed"
    apt-get install -y -q --no-install-recommends postgresql >/dev/null || fail "apt-get install postgresql failed"
    BIN=$(find_bin)
    [[ -n "$BIN" && -x "$BIN/initdb" ]] || fail "postgresql installed but no initdb under /usr/lib/postgresql"
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    exit 0
fi

# initdb and postgres refuse to run as root: the cluster belongs to the postgres user.
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [[ ! -f "$DIR/PG_VERSION" ]]; then
    mkdir -p "$DIR"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$DIR"
    as_postgres "$BIN/initdb" -D "$DIR" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null \
        || fail "initdb failed in $DIR"
fi

as_postgres "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -k $DIR -c fsync=off -c full_page_writes=off" start >/dev/null \
    || fail "the server did not start; see $DIR/server.log"
"$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" || fail "the server does not answer on 127.0.0.1:$PORT"
