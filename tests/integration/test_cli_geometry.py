"""``sarcube geolocate`` and ``sarcube baseline`` on metadata-only SAFEs, against ESA and ISCE2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from conftest import shared_path
from lxml import etree

PAIR = "hyp3-isce2/tests/data/packaging/slc/"
REF = PAIR + "S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE"
SEC = PAIR + "S1A_IW_SLC__1SDV_20250418T022008_20250418T022035_058805_074946_C7D4.SAFE"


def _run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cube.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_geolocate_times_mode_lands_on_esa_grid_points():
    ann = sorted((shared_path(REF) / "annotation").glob("s1a-iw2-slc-vv*.xml"))[0]
    points = etree.parse(str(ann)).findall(".//geolocationGridPoint")[::17]
    rows = "\n".join(f"{p.findtext('azimuthTime')} {p.findtext('slantRangeTime')} {p.findtext('height')}"
                     for p in points)
    done = _run("geolocate", str(shared_path(REF)), "--swath", "IW2", "--times", stdin=rows)
    assert done.returncode == 0, done.stderr
    got = np.loadtxt(done.stdout.splitlines())
    want = np.array([[float(p.findtext("latitude")), float(p.findtext("longitude"))] for p in points])
    # 1e-6 degree is about 10 cm
    np.testing.assert_allclose(got[:, :2], want, atol=1e-6)


def test_geolocate_inverse_round_trip():
    rows = "100 2000 0\n1600 10000 100\n"
    fwd = _run("geolocate", str(shared_path(REF)), "--swath", "IW1", stdin=rows)
    back = _run("geolocate", str(shared_path(REF)), "--swath", "IW1", "--inverse", stdin=fwd.stdout)
    assert back.returncode == 0, back.stderr
    np.testing.assert_allclose(np.loadtxt(back.stdout.splitlines()), [[100, 2000], [1600, 10000]], atol=1e-3)


def test_baseline_agrees_with_isce2_topsproc():
    done = _run("baseline", str(shared_path(REF)), str(shared_path(SEC)), "--swath", "IW1")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    # ISCE2's topsProc.xml beside the pair: IW1 first common burst Bpar 84.415 m, Bperp -129.026 m
    assert abs(got["bpar_m"] - 84.415) < 0.05 and abs(got["bperp_m"] - (-129.026)) < 0.05


def test_geolocate_bad_stdin_is_one_line_error():
    done = _run("geolocate", str(shared_path(REF)), "--swath", "IW1", stdin="1 2\n")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "stdin line 1" in done.stderr
