"""Every CLI error says what to do, and the simulate → ingest path says how to record a DEM:
``cube.cli.main(argv)`` with the tiny simulated cube, output read with capsys."""

from __future__ import annotations

import shlex
import shutil

import pytest

from cube.cli import main
from cube.products import BurstStack
from cube.storage import list_burst_groups, open_store


@pytest.fixture(scope="module")
def burst(tiny_cube) -> str:
    return list_burst_groups(tiny_cube)[0][0]


def _first_date(cube, burst: str) -> str:
    return BurstStack(cube, burst).dates[0]


def _error(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sarcube: error: "), err
    return err[0]


def test_each_error_names_its_fix(tiny_cube, tiny_stack, burst, tmp_path, capsys):
    cube = str(tiny_cube.url)
    safe = str(tiny_stack.safe_paths[0])
    product = ["product", cube, "backscatter", "--burst", burst, "--out", str(tmp_path / "o.nc")]
    cases = [
        (["info", str(tmp_path / "missing.SAFE")], "check the path (a .SAFE folder"),
        (["info", safe, "--orbit", str(tmp_path / "x.EOF")], "leave --orbit out"),
        (["product", cube, "backscatter", "--burst", "t001_000001_iw1", "--dates", "2024",
          "--out", "o.nc"], f"it holds {burst} VV"),
        (["product", str(tmp_path), "backscatter", "--burst", burst, "--dates", "2024", "--out", "o.nc"],
         "ingest SAFEs into it first with `sarcube ingest"),
        ([*product, "--dates", "2031"], "give one of its dates or a unique prefix"),
        ([*product, "--dates", "2024"], "give more digits"),
        ([*product, "--dates", "2024", "--option", "multilook=0x4"], "its options (default):"),
        ([*product, "--dates", "2024", "--option", "looks"], "write KEY=VALUE"),
        (["product", cube, "backscatter", "--burst", burst, "--dates", "20240106", "--out", "o.txt"],
         "name a .nc (NetCDF) or .zarr output"),
        (["product", cube, "backscatter", "--burst", burst, "--dates", "20240106", "--out",
          str(tmp_path / "none" / "o.nc")], "does not exist; create it first"),
        (["ingest", safe, "--cube", "/proc/sarcube-cube", "--quiet"], "check the path (its folder must exist)"),
        (["product", cube, "cohernce", "--burst", burst, "--dates", "2024", "--out", "o.nc"],
         "products: cslc, backscatter"),
        (["dem", cube, str(tmp_path / "missing.tif")], "check the path or URL of the GeoTIFF/COG"),
        (["dem", str(tmp_path), "cop30"], "ingest into it first"),
        (["subscriptions", str(tmp_path)], "check the path"),
        (["unsubscribe", cube, "nope"], "`sarcube subscriptions CUBE` lists them"),
    ]
    for argv, fix in cases:
        line = _error(capsys, argv)
        assert fix in line, (argv, line)
        assert "errors.pydantic.dev" not in line and "Traceback" not in line
    window = _error(capsys, [*product, "--dates", _first_date(tiny_cube, burst), "--window", "5:1,0:3"])
    assert "give R0 < R1 <=" in window


def test_simulate_prints_the_next_commands_and_ingest_says_when_the_dem_is_missing(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", str(out), "--dates", "1", "--bursts", "1", "--seed", "3"]) == 0
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.startswith("next: ")]
    ingest_cmd, dem_cmd = (shlex.split(part) for part in line[len("next: "):].split("   (")[0].split(" && "))
    assert ingest_cmd[:2] == ["sarcube", "ingest"] and dem_cmd[:2] == ["sarcube", "dem"]
    safes = sorted(str(p) for p in out.glob("*.SAFE"))
    assert ingest_cmd[2] == str(out / "*.SAFE") and len(safes) == 1
    # ingest as the shell would expand it: the cube has no DEM yet, and ingest says so
    assert main(["ingest", *safes, *ingest_cmd[3:], "--quiet"]) == 0
    hint = capsys.readouterr().err
    cube = ingest_cmd[ingest_cmd.index("--cube") + 1]
    assert f"record one with `sarcube dem {cube} DEM.tif`" in hint
    # the printed dem command records the simulator's DEM; then a product computes
    assert main(dem_cmd[1:]) == 0
    capsys.readouterr()
    burst = list_burst_groups(open_store(cube))[0][0]
    assert main(["product", cube, "amplitude", "--burst", burst, "--dates", "2", "--window", "0:8,0:8",
                 "--out", str(tmp_path / "a.nc")]) == 0
    # ingest again into the cube that has a DEM: no hint
    assert main(["ingest", *safes, "--cube", cube, "--quiet"]) == 0
    assert "sarcube dem" not in capsys.readouterr().err
    shutil.rmtree(out)
