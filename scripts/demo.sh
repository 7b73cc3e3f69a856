#!/usr/bin/env bash
# Starts the demo: a project-local PostGIS under var/ (unless DATABASE_URL is set), the
# migrations, the demo county (loaded once, kept after), then the web app.
set -euo pipefail
cd "$(dirname "$0")/.."

PGPORT=${PGPORT:-55432}
PORT=${PORT:-5000}
mkdir -p var
if [ -z "${DATABASE_URL:-}" ]; then
  scripts/postgis.sh start var/pg "$PGPORT" gridwalk
  export DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/gridwalk"
fi
# One secret for every run, so logins survive a restart.
[ -s var/secret_key ] || python3 -c 'import secrets; print(secrets.token_hex(32))' > var/secret_key
export SECRET_KEY=${SECRET_KEY:-$(cat var/secret_key)}
export GRIDWALK_PASSWORD=${GRIDWALK_PASSWORD:-gridwalk-demo}

gw=.venv/bin/gridwalk
$gw db upgrade
$gw demo --if-empty
cat <<MSG

  Gridwalk is serving the demo county at http://127.0.0.1:$PORT
  Log in as  admin  with password  $GRIDWALK_PASSWORD
  One login per role, all with the same password, each seeing its own area:
MSG
$gw users list
cat <<MSG

  Stop the server with Ctrl-C; \`make stop\` stops the database.

MSG
exec $gw run --host 127.0.0.1 --port "$PORT"
