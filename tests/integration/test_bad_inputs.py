"""Bad inputs: exit 2, one line naming the file and the problem, and the cube unchanged."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_path

PAIR = "hyp3-isce2/tests/data/packaging/slc/S1A_IW_SLC__1SDV_20250406T022008_20250406T022035_058630_07421F_93A7.SAFE"
ZIP = "s1-reader/tests/data/S1A_IW_SLC__1SDV_20221016T015043_20221016T015111_045461_056FC0_6681.zip"


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _ingest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cube.cli", "ingest", "--quiet", *args],
        capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def cube_with_one_date(tmp_path, tiny_stack):
    cube = tmp_path / "cube"
    done = _ingest(str(tiny_stack.safe_paths[0]), "--cube", str(cube))
    assert done.returncode == 0, done.stderr
    return cube


def _bad_sources(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """name -> (source path, text the message must contain)."""
    not_safe = tmp_path / "not_a_product"
    not_safe.mkdir()
    (not_safe / "readme.txt").write_text("hello")
    truncated = tmp_path / "truncated.zip"
    data = shared_path(ZIP).read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    broken = tmp_path / shared_path(PAIR).name
    shutil.copytree(shared_path(PAIR), broken)
    ann = sorted((broken / "annotation").glob("s1a-iw1-slc-vv*.xml"))[0]
    ann.write_text(ann.read_text().replace("<linesPerBurst>", "<linesPerBurstX>", 1)
                   .replace("</linesPerBurst>", "</linesPerBurstX>", 1))
    return {
        "not_a_safe": (str(not_safe), "not a Sentinel-1 SAFE"),
        "truncated_zip": (str(truncated), "truncated.zip"),
        "empty_tiff": (str(shared_path(PAIR)), "empty (0 bytes)"),
        "missing_element": (str(broken), "missing element"),
    }


@pytest.mark.parametrize("case", ["not_a_safe", "truncated_zip", "empty_tiff", "missing_element"])
def test_bad_input_exits_2_with_one_line_and_leaves_the_cube_unchanged(case, tmp_path, cube_with_one_date):
    source, expected = _bad_sources(tmp_path)[case]
    before = _tree(cube_with_one_date)
    args = [source, "--cube", str(cube_with_one_date)]
    if case in ("empty_tiff", "missing_element"):
        args += ["--swaths", "IW1", "--pols", "VV"]
    done = _ingest(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("sarcube: error: ") and expected in lines[0], lines[0]
    if case == "empty_tiff":
        assert "measurement/s1a-iw1-slc-vv" in lines[0]  # names the file
    assert _tree(cube_with_one_date) == before


def test_metadata_commands_work_on_empty_tiffs():
    done = subprocess.run(
        [sys.executable, "-m", "cube.cli", "info", str(shared_path(PAIR)), "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"burst_id"') == 54
