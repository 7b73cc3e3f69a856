#!/usr/bin/env bash
# Runs a project-local PostgreSQL + PostGIS cluster: a data directory and a port of our own,
# so a demo or a test run never touches the machine's main cluster.
#   scripts/postgis.sh start DIR PORT DBNAME [throwaway]
#       initialise if new, start, create DBNAME with PostGIS; "throwaway" (tests) trades
#       crash safety for speed (fsync off)
#   scripts/postgis.sh replica PRIMARY_PORT DIR PORT [throwaway]
#       a hot standby of the cluster on 127.0.0.1:PRIMARY_PORT, by streaming replication:
#       copied with pg_basebackup if DIR is new, then started on PORT (read-only)
#   scripts/postgis.sh stop DIR                 stop it (fast shutdown)
# PostgreSQL refuses to run as root: when we are root, the cluster belongs to `postgres`.
set -euo pipefail

bindir=/usr/lib/postgresql/15/bin
[ -x "$bindir/pg_ctl" ] || bindir=$(dirname "$(command -v pg_ctl)")

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# DIR made (if new) and given to the cluster's owner, reachable by it through every parent.
own_dir() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" = 0 ]; then
    local p=$dir
    while [ "$p" != / ]; do chmod o+x "$p" 2>/dev/null || true; p=$(dirname "$p"); done
    chown postgres:postgres "$dir"
  fi
  chmod 700 "$dir"
}

run() {
  local dir=$1 port=$2 mode=${3:-}
  if ! as_owner "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    # TCP on 127.0.0.1 only, no Unix socket (its path could exceed the 107-byte limit).
    local options="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=200"
    [ "$mode" = throwaway ] && options+=" -c fsync=off -c full_page_writes=off"
    as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$options" start >/dev/null
  fi
}

start() {
  local dir=$1 port=$2 db=$3 mode=${4:-}
  own_dir "$dir"
  dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/PG_VERSION" ]; then
    # trust on 127.0.0.1 only: a development cluster, reachable from this machine alone.
    as_owner "$bindir/initdb" -D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=trust >/dev/null
  fi
  run "$dir" "$port" "$mode"
  local psql=("$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qAt)
  if [ "$("${psql[@]}" -d postgres -c "select 1 from pg_database where datname = '$db'")" != 1 ]; then
    "${psql[@]}" -d postgres -c "create database \"$db\""
  fi
  "${psql[@]}" -d "$db" -c "set client_min_messages = warning" -c "create extension if not exists postgis"
}

replica() {
  local primary_port=$1 dir=$2 port=$3 mode=${4:-}
  own_dir "$dir"
  dir=$(cd "$dir" && pwd)
  if [ ! -f "$dir/PG_VERSION" ]; then
    # -R writes standby.signal and primary_conninfo: the copy starts as a standby that
    # streams the primary's WAL (the primary's pg_hba trusts replication from 127.0.0.1).
    as_owner "$bindir/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir" \
      -R -X stream -c fast
  fi
  run "$dir" "$port" "$mode"
}

stop() {
  local dir=$1
  [ -f "$dir/PG_VERSION" ] || return 0
  as_owner "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

cmd=${1:-}; shift || true
case "$cmd" in
  start) start "$@" ;;
  replica) replica "$@" ;;
  stop) stop "$@" ;;
  *) echo "usage: $0 start DIR PORT DBNAME | replica PRIMARY_PORT DIR PORT | stop DIR" >&2; exit 2 ;;
esac
