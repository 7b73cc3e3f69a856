#!/usr/bin/env bash
# Installs the Debian packages Gridwalk needs, only those that are missing.
#   scripts/deps.sh          what `make demo` needs: PostgreSQL 15 + PostGIS 3 (unless
#                            DATABASE_URL names a server already), python3-venv, and Pango
#                            with CJK fonts for the notice boards' PDF
#   scripts/deps.sh test     and what the tests need: PostGIS, Chromium, GDAL's ogrinfo (the
#                            OGC API test reads the server as QGIS does) and poppler-utils
#                            (the notice boards are read back as a printer gets them)
#   scripts/deps.sh bench    what the import benchmark needs: PostGIS and gdal-bin
set -euo pipefail

want=()
[ -z "${DATABASE_URL:-}" ] || [ "${1:-}" = test ] && want+=(postgresql-15 postgresql-15-postgis-3)
python3 -c 'import ensurepip, venv' 2>/dev/null || want+=(python3-venv)
# Notice boards are PDF made through Pango (WeasyPrint), set in Noto Sans CJK.
want+=(libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk)
[ "${1:-}" = test ] && want+=(chromium fonts-noto-cjk gdal-bin poppler-utils)
# The import benchmark measures Gridwalk beside GDAL's ogr2ogr on a local PostGIS.
[ "${1:-}" = bench ] && want+=(postgresql-15 postgresql-15-postgis-3 gdal-bin)

missing=()
for p in "${want[@]+"${want[@]}"}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} = 0 ] && exit 0
if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
  echo "missing Debian packages: ${missing[*]} — install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "installing: ${missing[*]}" >&2
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
