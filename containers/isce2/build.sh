#!/usr/bin/env bash
# Build ISCE2 from the pinned source tarball against one Python (default: the project's .venv),
# for machines that reach only PyPI and Debian (development machines, CI). Container images
# install conda-forge's isce2 instead (containers/worker).
#
#   containers/isce2/build.sh [PYTHON]      (make isce2)
#
# Installs into .tools/isce2/<version>-<interpreter key>/ (conda-forge's layout):
#   packages/isce2 (+ the isce -> isce2 link)   ISCE2's Python package and extensions
#   share/isce2/topsStack                       the stack processors (stackSentinel.py, ...)
#   gdal/                                       GDAL's Python bindings (osgeo), built against Debian's libgdal
# and writes <site-packages>/sarcube-isce2.pth so that `import isce` works in that Python.
# A finished build is kept (stamp file .built): a second run only rewrites the .pth.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=${1:-${PYTHON:-.venv/bin/python}}
ISCE2_VERSION=${ISCE2_VERSION:-2.6.5}
TARBALL=${ISCE2_TARBALL:-../shared/vendor/isce2/isce2-$ISCE2_VERSION.tar.gz}
ISCE2_SHA256=f9325b2d5815ab8238a1210aad6f15cd4f0c18922f6161aef20b1e3c8a1d066c
JOBS=${ISCE2_JOBS:-2}
DEBIAN_PACKAGES="cmake make g++ gfortran libfftw3-dev libgdal-dev gdal-bin libhdf5-dev python3-dev"

die() { echo "make isce2: $*" >&2; exit 1; }

[ -x "$PYTHON" ] || die "no Python at $PYTHON (run make setup first, or pass the interpreter to build for)"
PYTHON=$(cd "$(dirname "$PYTHON")" && pwd)/$(basename "$PYTHON")
# The key: ISCE2's version and the interpreter (its real path and version); numpy's major version too
KEY=$("$PYTHON" - <<'PY'
import hashlib, os, sys
import numpy
ident = f"{os.path.realpath(sys.executable)}|{sys.version}|numpy{numpy.__version__.split('.')[0]}"
print(f"{sys.implementation.cache_tag}-{hashlib.sha256(ident.encode()).hexdigest()[:10]}")
PY
) || die "$PYTHON cannot import numpy (run make setup first)"
PREFIX=$ROOT/.tools/isce2/$ISCE2_VERSION-$KEY
SITE=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

write_pth() {
    printf '%s\n' "$PREFIX/packages" "$PREFIX/gdal" > "$SITE/sarcube-isce2.pth"
    "$PYTHON" -c 'import isce, osgeo.gdal' >/dev/null 2>&1 \
        || die "ISCE2 is installed in $PREFIX but '$PYTHON -c \"import isce, osgeo.gdal\"' fails; delete $PREFIX and rerun"
    echo "isce2 $ISCE2_VERSION: $PREFIX (import isce works in $PYTHON)"
}

if [ -f "$PREFIX/.built" ]; then
    write_pth
    exit 0
fi

# Prerequisites, each named with the Debian package that provides it
missing=()
for tool in cmake:cmake make:make g++:g++ gfortran:gfortran gdal-config:libgdal-dev gdalinfo:gdal-bin; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool##*:} (no ${tool%%:*})")
done
for header in fftw3.h:libfftw3-dev hdf5/serial/hdf5.h:libhdf5-dev; do
    [ -f "/usr/include/${header%%:*}" ] || missing+=("${header##*:} (no /usr/include/${header%%:*})")
done
pyinc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$pyinc/Python.h" ] || missing+=("python3-dev or the interpreter's headers (no $pyinc/Python.h)")
if [ ${#missing[@]} -gt 0 ]; then
    printf 'make isce2: missing build prerequisites:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    die "install them (as root: apt-get install -y $DEBIAN_PACKAGES) and rerun"
fi
[ -f "$TARBALL" ] || die "no ISCE2 source at $TARBALL (the shared vendor folder ../shared/vendor/isce2/ beside the project)"
echo "$ISCE2_SHA256  $TARBALL" | sha256sum -c --quiet - || die "$TARBALL: sha256 is not $ISCE2_SHA256"

WORK=$ROOT/.tools/isce2/build-$ISCE2_VERSION-$KEY
rm -rf "$WORK" "$PREFIX"
mkdir -p "$WORK" "$PREFIX"

# Build-only Python tools (cython, setuptools, pip for the GDAL wheel) in a venv of the same
# interpreter, with the numpy the target has, so the extensions match it
UV=$ROOT/.tools/bin/uv
[ -x "$UV" ] || die "no $UV (run make setup first)"
NUMPY=$("$PYTHON" -c 'import numpy; print(numpy.__version__)')
BASE=$("$PYTHON" -c 'import sys; print(sys._base_executable)')
"$UV" venv --quiet --python "$BASE" "$WORK/venv"
"$UV" pip install --quiet --python "$WORK/venv/bin/python" "numpy==$NUMPY" "cython>=3,<4" "setuptools>=70" pip wheel

echo "make isce2: building ISCE2 $ISCE2_VERSION for $PYTHON in $PREFIX (several minutes)"
tar -xzf "$TARBALL" -C "$WORK"
# CPU only (-DCMAKE_CUDA_COMPILER=): the GPU modules are not needed for TOPS processing
cmake -S "$WORK/isce2-$ISCE2_VERSION" -B "$WORK/build" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DPython_EXECUTABLE="$PYTHON" \
    -DPYTHON_MODULE_DIR=packages \
    -DCYTHON_EXECUTABLE="$WORK/venv/bin/cython" \
    -DCMAKE_CUDA_COMPILER= \
    > "$WORK/cmake.log" 2>&1 || { tail -30 "$WORK/cmake.log" >&2; die "cmake failed (log: $WORK/cmake.log)"; }
make -C "$WORK/build" -j"$JOBS" install > "$WORK/make.log" 2>&1 \
    || { tail -30 "$WORK/make.log" >&2; die "make failed (log: $WORK/make.log)"; }
# make install leaves topsStack out; conda-forge puts it here
mkdir -p "$PREFIX/share/isce2"
cp -r "$WORK/isce2-$ISCE2_VERSION/contrib/stack/topsStack" "$PREFIX/share/isce2/topsStack"

# GDAL's Python bindings (no wheels on PyPI): built against Debian's libgdal
GDAL_VERSION=$(gdal-config --version)
echo "make isce2: building GDAL $GDAL_VERSION Python bindings"
(cd "$WORK" && "$WORK/venv/bin/pip" wheel --quiet --disable-pip-version-check --no-build-isolation \
    --no-deps -w "$WORK/wheels" "gdal==$GDAL_VERSION") > "$WORK/gdal.log" 2>&1 \
    || { tail -30 "$WORK/gdal.log" >&2; die "building the GDAL $GDAL_VERSION bindings failed (log: $WORK/gdal.log)"; }
"$UV" pip install --quiet --python "$WORK/venv/bin/python" --no-deps --target "$PREFIX/gdal" "$WORK"/wheels/*.whl

touch "$PREFIX/.built"
rm -rf "$WORK"
write_pth
