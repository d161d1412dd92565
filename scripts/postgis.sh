#!/usr/bin/env bash
# A throwaway PostgreSQL 15 + PostGIS cluster for tests and experiments.
#
#   url=$(scripts/postgis.sh start DIR)   # new cluster in DIR; prints its SQLAlchemy URL
#   scripts/postgis.sh stop DIR           # stops it at once and deletes DIR
#
# The cluster listens on 127.0.0.1 only, on a free port, with trust authentication and
# durability switched off (fsync, full_page_writes, synchronous_commit): fast, and nothing in it
# is meant to survive. Layout: DIR/data (PGDATA), DIR/postgres.log, DIR/port, and the unix
# socket in DIR.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
# Marks a directory made by postgis_start, so that "stop" never deletes anything else.
PG_MARKER=.petadesa-throwaway-cluster

_pg_say() { echo "postgis: $*" >&2; }
_pg_die() { _pg_say "ERROR: $*"; exit 1; }

# initdb and pg_ctl refuse to run as root, so as root the cluster belongs to the postgres user.
_pg_as_owner() {
    if ((EUID == 0)); then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port on which nothing accepts connections right now: a connect that fails. The range
# stays below Linux's ephemeral ports (32768+), which outgoing connections use. Another process
# may take the port before the server binds it, so postgis_start retries on a bind failure.
_pg_free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        if ! (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

postgis_start() {
    local dir=${1:?usage: postgis.sh start DIR}
    [[ -x "$PG_BIN/initdb" ]] \
        || _pg_die "no PostgreSQL 15 in $PG_BIN: run scripts/bootstrap.sh (apt postgresql-15-postgis-3)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ -z "$(ls -A "$dir")" ]] || _pg_die "$dir is not empty"
    # unix_socket_directories is a quoted string in postgresql.conf; the socket path has a
    # hard limit of 107 bytes.
    [[ "$dir" != *"'"* ]] || _pg_die "the directory name must not contain a quote: $dir"
    ((${#dir} <= 90)) || _pg_die "path too long for a unix socket (use a shorter one): $dir"
    touch "$dir/$PG_MARKER"
    if ((EUID == 0)); then
        chown postgres: "$dir"
        # mktemp under a private TMPDIR, or a parent without +x, would lock postgres out.
        runuser -u postgres -- test -w "$dir" \
            || _pg_die "user postgres cannot write $dir: a parent directory is closed to it"
    fi

    # cd: runuser keeps the cwd, and postgres may not be allowed to read root's.
    cd "$dir"
    _pg_as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust \
        -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; _pg_die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<EOF
# petadesa throwaway cluster (scripts/postgis.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
full_page_writes = off
synchronous_commit = off
EOF

    local port attempt
    for attempt in 1 2 3 4 5; do
        port=$(_pg_free_port)
        # Only this attempt's lines count below. Truncated, not created: as root, the file
        # must stay the postgres user's.
        [[ ! -f "$dir/postgres.log" ]] || : >"$dir/postgres.log"
        if _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
            -o "-p $port" start >/dev/null; then
            break
        fi
        if ! grep -q 'could not bind' "$dir/postgres.log" || ((attempt == 5)); then
            tail -n 20 "$dir/postgres.log" >&2
            _pg_die "PostgreSQL did not start"
        fi
        _pg_say "port $port was taken meanwhile, trying another"
    done
    echo "$port" >"$dir/port"

    local psql=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)
    "${psql[@]}" -c 'CREATE EXTENSION IF NOT EXISTS postgis'
    if [[ -n "$("${psql[@]}" -tAc "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis_raster'")" ]]; then
        "${psql[@]}" -c 'CREATE EXTENSION IF NOT EXISTS postgis_raster'
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}

postgis_stop() {
    local dir=${1:?usage: postgis.sh stop DIR}
    [[ -d "$dir" ]] || return 0
    [[ -f "$dir/$PG_MARKER" ]] || _pg_die "$dir was not made by postgis.sh start: not touching it"
    if [[ -f "$dir/data/postmaster.pid" ]]; then
        (cd "$dir" && _pg_as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null) \
            || _pg_say "pg_ctl stop failed (already stopped?)"
    fi
    rm -rf "$dir"
}

case "${1:-}" in
    start) postgis_start "${2:-}" ;;
    stop) postgis_stop "${2:-}" ;;
    *) echo "usage: $0 start DIR | stop DIR" >&2; exit 2 ;;
esac
