"""``make isce2`` (containers/isce2/build.sh): cached, importable, conda-forge's layout, clear about
what is missing. The build itself runs in ``.ci/run`` before the tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cube.isce2 import isce2_available, isce2_prefix

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "containers" / "isce2" / "build.sh"


@pytest.fixture(scope="module")
def built():
    if not isce2_available():
        reason = "ISCE2 is not installed: run `make isce2`"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must build it (.ci/run)")
        pytest.skip(reason)


def test_a_second_build_is_the_cached_one(built):
    t0 = time.perf_counter()
    done = subprocess.run(["bash", str(BUILD), sys.executable], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.perf_counter() - t0 < 30
    prefix = isce2_prefix()
    assert f"isce2 2.6.5: {prefix}" in done.stdout
    assert prefix.is_relative_to(ROOT / ".tools" / "isce2")
    assert (prefix / "share" / "isce2" / "topsStack" / "stackSentinel.py").is_file()
    code = "import isce, isceobj, osgeo.gdal; from isceobj.Sensor.TOPS.Sentinel1 import Sentinel1; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=prefix, capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("ok")


def test_a_missing_prerequisite_is_named(tmp_path):
    """A PATH without gfortran and cmake: the build stops before any work, naming the packages."""
    fake = tmp_path / "bin"
    fake.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for tool in Path(folder).glob("*") if Path(folder).is_dir() else []:
            if not tool.name.startswith(("gfortran", "cmake")) and not (fake / tool.name).exists():
                (fake / tool.name).symlink_to(tool)
    env = {**os.environ, "PATH": str(fake), "ISCE2_VERSION": "0.0.0-test"}
    done = subprocess.run(["bash", str(BUILD), sys.executable], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 1
    assert "missing build prerequisites" in done.stderr
    assert "gfortran (no gfortran)" in done.stderr and "cmake (no cmake)" in done.stderr
    assert "apt-get install -y cmake make g++ gfortran" in done.stderr
    assert not list((ROOT / ".tools" / "isce2").glob("0.0.0-test*"))
