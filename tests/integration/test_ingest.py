"""Simulated stack → cube, locally and on S3 (SeaweedFS): bit-identical, idempotent, atomic."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr
from lxml import etree

from cube.ingest import ingest
from cube.storage import open_slc, open_store


def _simulated_bursts(safe: Path) -> dict[tuple[str, int], tuple[str, np.ndarray]]:
    """(swath, burst index) -> (azimuthTime, complex pixels) read straight from the files."""
    out = {}
    for ann in sorted((safe / "annotation").glob("s1*.xml")):
        root = etree.parse(str(ann)).getroot()
        lines = int(root.findtext("swathTiming/linesPerBurst"))
        image = tifffile.imread(safe / "measurement" / (ann.stem + ".tiff"))
        for i, b in enumerate(root.findall("swathTiming/burstList/burst")):
            out[(root.findtext("adsHeader/swath"), i)] = (
                b.findtext("azimuthTime"), image[i * lines : (i + 1) * lines]
            )
    return out


def _check_cube_matches(cube_url: str, safes: list[Path], storage_options=None) -> int:
    """Every visible date of every group equals the simulator's pixels; return dates seen."""
    store = open_store(cube_url, storage_options)
    from cube.storage import list_burst_groups

    truth = {}
    for safe in safes:
        for t, px in _simulated_bursts(safe).values():
            truth[np.datetime64(t, "ns")] = px
    seen = 0
    for burst_id, pol in list_burst_groups(store):
        try:
            ds = open_slc(store, burst_id, pol)
        except FileNotFoundError:
            continue  # a group whose first date was never committed
        for i, t in enumerate(ds.time.values):
            px = ds.slc.isel(time=i).values
            ref = truth[t]
            np.testing.assert_array_equal(px[..., 0], ref.real)
            np.testing.assert_array_equal(px[..., 1], ref.imag)
            seen += 1
        assert len(set(ds.time.values.tolist())) == ds.sizes["time"]  # no date twice
    return seen


def test_ingest_is_lossless_idempotent_and_order_free(tmp_path, tiny_stack):
    safes = tiny_stack.safe_paths
    cube = str(tmp_path / "cube")
    store = open_store(cube)
    first = ingest([str(safes[2]), str(safes[0])], store, progress=False)  # out of order
    second = ingest([str(s) for s in safes], store, progress=False)
    again = ingest([str(safes[1])], store, progress=False)
    n_bursts = len(_simulated_bursts(safes[0]))
    assert len(first.added) == 2 * n_bursts and len(second.added) == n_bursts
    assert len(second.skipped) == 2 * n_bursts and not again.added
    assert _check_cube_matches(cube, safes) == 3 * n_bursts

    # a notebook's view: xr.open_zarr on a burst group gives named dims and coordinates
    group = next((tmp_path / "cube" / "slc.zarr").glob("t*/vv"))
    ds = xr.open_zarr(group)
    assert ds.slc.dims == ("time", "line", "sample", "part")
    assert ds.time.dtype == "datetime64[ns]" and ds.sizes["time"] == 3
    assert ds.slant_range.attrs["units"] == "m" and "slant_range" in ds.coords
    assert np.all(np.diff(ds.slant_range.values) > 2.0)
    items = sorted((tmp_path / "cube" / "catalog").rglob("*.json"))
    assert len(items) == 3 * n_bursts


def test_ingest_to_s3_on_seaweedfs(tiny_stack, s3_env):
    safes = tiny_stack.safe_paths
    url = "s3://cubes/tiny"
    done = subprocess.run(
        [sys.executable, "-m", "cube.cli", "ingest", *map(str, safes), "--cube", url, "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    options = s3_env["storage_options"]
    n = _check_cube_matches(url, safes, options)
    assert n == 3 * len(_simulated_bursts(safes[0]))
    store = open_store(url, options)
    assert store.exists("cube.json") and store.list("catalog")
    burst_id = store.list("slc.zarr")[0]
    ds = xr.open_zarr(f"{url}/slc.zarr/{burst_id}/vv", storage_options=options)
    assert ds.sizes["time"] == 3


def test_kill_during_ingest_never_shows_a_partial_date(tmp_path, tiny_stack):
    safes = [str(s) for s in tiny_stack.safe_paths]
    # a killed ingest may hold a group's writer lease: the rerun takes it over after 2 s
    cmd = [sys.executable, "-m", "cube.cli", "ingest", *safes, "--quiet", "--lease-ttl-s", "2"]
    t0 = time.monotonic()
    subprocess.run([*cmd, "--cube", str(tmp_path / "timing")], check=True, timeout=300)
    full = time.monotonic() - t0
    rng = random.Random(1234)
    total = 3 * len(_simulated_bursts(tiny_stack.safe_paths[0]))
    for trial in range(5):
        cube = str(tmp_path / f"cube{trial}")
        proc = subprocess.Popen([*cmd, "--cube", cube])
        time.sleep(rng.uniform(0.3, full))
        proc.kill()
        proc.wait()
        _check_cube_matches(cube, tiny_stack.safe_paths)  # whatever is visible is complete
        subprocess.run([*cmd, "--cube", cube], check=True, timeout=300)
        assert _check_cube_matches(cube, tiny_stack.safe_paths) == total


@pytest.mark.parametrize("sources", [1, 3])
def test_cli_prints_a_summary(tmp_path, tiny_stack, sources):
    done = subprocess.run(
        [sys.executable, "-m", "cube.cli", "ingest", *map(str, tiny_stack.safe_paths[:sources]),
         "--cube", str(tmp_path / "c"), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0 and "added" in done.stdout
