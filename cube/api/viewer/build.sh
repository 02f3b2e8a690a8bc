#!/usr/bin/env bash
# Build the viewer's vendor files: install the locked npm packages and copy MapLibre GL's
# dist files into static/vendor/. Idempotent: does nothing when the vendor files are newer
# than package-lock.json. Needs node and npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
vendor="$here/static/vendor"
lock="$here/package-lock.json"
files=(maplibre-gl.js maplibre-gl.css)

up_to_date=1
for f in "${files[@]}"; do
    if [[ ! -s "$vendor/$f" || ! "$vendor/$f" -nt "$lock" ]]; then
        up_to_date=0
    fi
done
if [[ $up_to_date == 1 ]]; then
    echo "viewer: vendor files are up to date ($vendor)"
    exit 0
fi

command -v npm >/dev/null || { echo "viewer: npm is not installed (needs Node.js 18+)" >&2; exit 1; }
cd "$here"
npm ci --no-audit --no-fund
mkdir -p "$vendor"
for f in "${files[@]}"; do
    src="$here/node_modules/maplibre-gl/dist/$f"
    [[ -s "$src" ]] || { echo "viewer: $src is missing after npm ci" >&2; exit 1; }
    # copy to a temporary name, then rename: an interrupted build leaves no half file
    cp "$src" "$vendor/$f.tmp"
    mv -f "$vendor/$f.tmp" "$vendor/$f"
done
touch "${files[@]/#/$vendor/}"
echo "viewer: copied maplibre-gl $(node -p "require('$here/node_modules/maplibre-gl/package.json').version") into $vendor"
