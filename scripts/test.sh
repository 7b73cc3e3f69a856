#!/usr/bin/env bash
# The whole test suite against a throwaway PostGIS cluster, started here and removed after.
# With TEST_DATABASE_URL set, that server is used instead (it must allow CREATE DATABASE).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  dir=$(mktemp -d /tmp/gridwalk-test-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cleanup() { scripts/postgis.sh stop "$dir/data"; rm -rf "$dir"; }
  trap cleanup EXIT
  chmod 755 "$dir"
  scripts/postgis.sh start "$dir/data" "$port" postgres throwaway
  export TEST_DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:$port/postgres"
fi
.venv/bin/python -m pytest "$@"
