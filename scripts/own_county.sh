#!/usr/bin/env bash
# The README's "your own county" path on one of the three real Kunming counties of
# ../shared/data/roads_cn: outline, roads, township seats (BD-09), the county census total,
# demand, a starter set of fire stations and shelters, coverage and gaps.
#
#   bash scripts/own_county.sh [jinning_530115|anning_530181|fumin_530124] [WORKDIR]
#
# It uses its own emgis home (WORKDIR/home, a fresh database of emgis's own cluster), so the
# database you use every day is not touched. Run `bash scripts/bootstrap.sh` first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
stem=${1:-jinning_530115}
code=${stem##*_}
work=${2:-$(mktemp -d -t emgis-county-XXXX)}
data=${EMGIS_SHARED_DATA:-$here/../shared/data}
emgis=("$here/.venv/bin/emgis")
export EMGIS_HOME="$work/home"
unset EMGIS_DATABASE_URL
mkdir -p "$work"
total=$("$here/.venv/bin/python" - "$data" "$code" <<'PY'
import csv, sys
with open(f"{sys.argv[1]}/population/county_census2020_population_tudigong.csv",
          encoding="utf-8-sig") as f:
    print(next(r for r in csv.DictReader(f) if r["CODE"] == sys.argv[2])["POPU"])
PY
)
printf '统计用区划代码,名称,常住人口\n%s000000,%s,%s\n' "$code" "$stem" "$total" > "$work/total.csv"
trap '"${emgis[@]}" db stop >/dev/null 2>&1 || true' EXIT
"${emgis[@]}" db start
"${emgis[@]}" init --boundary "$data/roads_cn/${stem}_boundary.geojson" --county "$code"
"${emgis[@]}" load roads "$data/roads_cn/${stem}_roads.gpkg"
"${emgis[@]}" load admin_units "$data/roads_cn/${stem}_townships_bd09.csv" --crs bd09 \
    --accept-warnings
"${emgis[@]}" load census "$work/total.csv" --year 2020
"${emgis[@]}" population demand "$work/demand.csv"
"${emgis[@]}" site --layer fire --model lscp --candidates grid:1500 --save
"${emgis[@]}" site --layer shelters --model mclp --add 10 --candidates grid:1500 --save
"${emgis[@]}" coverage --layer fire --out "$work/coverage_fire.xlsx"
"${emgis[@]}" coverage --layer shelters --out "$work/coverage_shelters.xlsx"
"${emgis[@]}" gaps --layer shelters --out "$work/gaps.xlsx" --map "$work/gaps.html"
echo "outputs in $work; serve the live map with: EMGIS_HOME=$work/home emgis serve"
