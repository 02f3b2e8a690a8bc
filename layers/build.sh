#!/usr/bin/env bash
# Build the ApiLayer of template.yaml: <out>/python/ holds the packages of layers/requirements.txt
# (manylinux2014 wheels for the Lambda architecture, CPython 3.11, versions pinned by uv.lock
# except the few in layers/al2-overrides.txt), the cube package itself and the Lambda glue
# (functions/lambda_glue.py). Lambda puts a layer's python/ on sys.path.
#
#   layers/build.sh [--arch x86_64|arm64] [--out DIR] [--dry-run]
#
# --arch     Lambda architecture (default $ARCH or x86_64; must match Architectures in template.yaml)
# --out      output directory (default layers/build); sam build passes $ARTIFACTS_DIR here
# --dry-run  print the commands without running them (no network, no files written)
#
# Needs uv (PATH, $UV, or the repository's .tools/bin/uv that `make setup` installs) and network
# access to the package index. Fails if the layer exceeds MAX_MB (default 240 of Lambda's 250 MB
# unzipped limit for function + layers; the API function's own code is a few kB).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${REPO_ROOT:-$(cd "$HERE/.." && pwd)}"
ARCH="${ARCH:-x86_64}"
OUT="$HERE/build"
DRY_RUN=0
PYTHON_VERSION=3.11
MAX_MB="${MAX_MB:-240}"

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCH="${2:?--arch needs a value}"; shift 2 ;;
        --arch=*) ARCH="${1#--arch=}"; shift ;;
        --out) OUT="${2:?--out needs a value}"; shift 2 ;;
        --out=*) OUT="${1#--out=}"; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

case "$ARCH" in
    x86_64|amd64) PLATFORM=x86_64-manylinux2014 ;;
    arm64|aarch64) PLATFORM=aarch64-manylinux2014 ;;
    *) echo "build.sh: --arch must be x86_64 or arm64, not '$ARCH'" >&2; exit 2 ;;
esac

if [ ! -f "$REPO/pyproject.toml" ] || [ ! -d "$REPO/cube" ]; then
    echo "build.sh: $REPO is not the sarcube repository; set REPO_ROOT" >&2
    exit 2
fi

UV="${UV:-$(command -v uv || echo "$REPO/.tools/bin/uv")}"
TARGET="$OUT/python"
CONSTRAINTS="${TMPDIR:-/tmp}/sarcube-layer-constraints.$$.txt"

run() {
    echo "+ $*"
    if [ "$DRY_RUN" = 0 ]; then "$@"; fi
}

if [ "$DRY_RUN" = 0 ]; then
    [ -x "$UV" ] || { echo "build.sh: uv not found (install it or run 'make setup')" >&2; exit 2; }
    trap 'rm -f "$CONSTRAINTS" "$CONSTRAINTS.lock"' EXIT
fi

run rm -rf "$TARGET"
run mkdir -p "$TARGET"
# Every locked version (runtime dependencies only) becomes a constraint, except the packages of
# al2-overrides.txt, whose lock pins are replaced by that file's bounds.
run "$UV" export --quiet --directory "$REPO" --frozen --no-dev --no-emit-project --no-hashes \
    --format requirements-txt --output-file "$CONSTRAINTS.lock"
OVERRIDDEN="$(sed -n 's/^\([A-Za-z0-9_.-]*\)[<>=!~].*/\1/p' "$HERE/al2-overrides.txt" | paste -sd'|' -)"
run sh -c "grep -v -i -E '^($OVERRIDDEN)==' '$CONSTRAINTS.lock' > '$CONSTRAINTS'; grep -v '^#' '$HERE/al2-overrides.txt' >> '$CONSTRAINTS'"
# --link-mode copy: the files are edited below (strip), and uv would otherwise hard-link them to
# its cache, which every environment on the machine shares.
run "$UV" pip install --target "$TARGET" --python-platform "$PLATFORM" --python-version "$PYTHON_VERSION" \
    --only-binary=:all: --compile-bytecode --link-mode copy \
    -r "$HERE/requirements.txt" --constraint "$CONSTRAINTS"
# The package itself: only its modules (its heavy dependencies are the image functions' business).
run cp -R "$REPO/cube" "$TARGET/cube"
run find "$TARGET/cube" -name __pycache__ -type d -prune -exec rm -rf {} +
run rm -rf "$TARGET/cube/api/viewer/node_modules"  # npm's build inputs; static/vendor/ is what is served
# The Lambda glue the API handler imports (functions.lambda_glue: Mangum, powertools), which the
# cube package does not hold; the image functions get it from their copy of functions/.
run mkdir -p "$TARGET/functions"
run cp "$REPO/functions/__init__.py" "$REPO/functions/lambda_glue.py" "$TARGET/functions/"
# Test suites and type stubs of the dependencies are dead weight (about 30 MB), and so is the
# debug information in their compiled extensions (about 50 MB; symbols stay). Libraries vendored
# by auditwheel (*.libs/) are left alone: patchelf edited them, and strip breaks such files
# ("ELF load command address/offset not page-aligned"). The bytecode stays:
# it halves the import time of a cold start (measured 4.8 s -> 2.2 s for the layer's imports).
run find "$TARGET" -mindepth 2 -type d \( -name tests -o -name test \) -prune -exec rm -rf {} +
run find "$TARGET" -name '*.pyi' -type f -delete
if command -v strip >/dev/null; then
    run find "$TARGET" -name '*.so*' -type f -not -path '*.libs/*' -exec sh -c 'strip --strip-debug "$1" 2>/dev/null || true' _ {} \;
else
    echo "build.sh: no strip (binutils); the layer keeps the extensions' debug information" >&2
fi

if [ "$DRY_RUN" = 0 ]; then
    size_mb="$(du -sm "$TARGET" | cut -f1)"
    echo "build.sh: $TARGET is ${size_mb} MB unzipped (limit ${MAX_MB} MB)"
    if [ "$size_mb" -gt "$MAX_MB" ]; then
        echo "build.sh: the layer is too large for a zip function" >&2
        exit 1
    fi
fi
