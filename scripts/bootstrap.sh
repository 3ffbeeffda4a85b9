#!/usr/bin/env bash
# Set up everything emgis needs on a Debian/Ubuntu machine, idempotently:
#   system packages (PostgreSQL + PostGIS, Leaflet for offline maps; Chromium with --browser)
#   only where missing,
#   a virtual environment in .venv, and the project installed into it.
# Runs as root, or with sudo for the apt step. Safe to run again: each step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
extras="test"
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --bench) extras="test,bench" ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "emgis bootstrap: need root or sudo to install system packages: $*" >&2; exit 1; fi; }

missing=()
pgbin=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && pgbin="$d"; done
[ -n "$pgbin" ] || missing+=(postgresql)
pgver=$( [ -n "$pgbin" ] && basename "$(dirname "$pgbin")" || echo 15)
ls /usr/share/postgresql/"$pgver"/extension/postgis.control >/dev/null 2>&1 || missing+=("postgresql-$pgver-postgis-3")
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null; then missing+=(chromium); fi
# Chinese labels in browser screenshots (the map pages are bilingual)
if [ "$want_browser" = 1 ] && ! { command -v fc-list >/dev/null && fc-list :lang=zh | grep -q .; }; then
  missing+=(fonts-noto-cjk)
fi
# Offline maps (maps/assets.py): Leaflet and MarkerCluster from Debian, never from a CDN.
[ -f /usr/share/javascript/leaflet/leaflet.js ] || missing+=(libjs-leaflet)
[ -f /usr/share/javascript/leaflet/leaflet.markercluster.js ] || missing+=(libjs-leaflet.markercluster)
# The live map's plugins (maps/vendor.py) come from npm, pinned by sha512: npm only if they are missing.
need_vendor=0
for f in leaflet-realtime/dist/leaflet-realtime.min.js leaflet-groupedlayercontrol/dist/leaflet.groupedlayercontrol.min.js \
         leaflet-search/dist/leaflet-search.min.js swagger-ui-dist/swagger-ui-bundle.js redoc/bundles/redoc.standalone.js; do
  [ -f "${EMGIS_VENDOR_DIR:-maps/static/vendor}/$f" ] || need_vendor=1
done
if [ "$need_vendor" = 1 ] && ! command -v npm >/dev/null; then missing+=(npm); fi
# The feature API's tests with real clients (ogrinfo / ogr2ogr, OAPIF driver)
command -v ogr2ogr >/dev/null || missing+=(gdal-bin)
# ... and QGIS's OAPIF provider, headless (Debian's bindings, for Debian's /usr/bin/python3)
if [ "$want_browser" = 1 ] && ! /usr/bin/python3 -c 'import qgis.core' 2>/dev/null; then
  missing+=(python3-qgis qgis-providers)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "emgis bootstrap: installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package may auto-create and start a 'main' cluster; emgis runs its own,
# so leave the system one alone: we never touch port 5432.

# The project and its dependencies at the exact versions the test suite passed with
# (requirements.lock; refreshed by scripts/lock.sh, which runs the suite first).
stamp=.venv/.emgis-installed
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)-$extras"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "emgis bootstrap: installing the project into .venv ($extras) from requirements.lock"
  .venv/bin/python -m pip install -q -c requirements.lock pip
  .venv/bin/python -m pip install -q -c requirements.lock -e ".[$extras]"
  .venv/bin/python scripts/check_lock.py
  echo "$want" > "$stamp"
fi
if [ "$need_vendor" = 1 ]; then
  .venv/bin/python -m emgis.maps.vendor
fi
