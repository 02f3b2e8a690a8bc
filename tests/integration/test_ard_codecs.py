"""Codec chains of the ARD store: new CSLC arrays at zstd level -1, older level-3 ones read as they are.

References: the CSLC computed directly from the cube (``BurstStack.compute``, the kernels), the
"old" array written by zarr-python with its own zstd + crc32c codecs, and zarr-python and
xarray (over ``/zarr`` on a live server) reading the stores.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import xarray as xr
import zarr
from _live import serve
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec

from cube.api import create_app
from cube.config import Settings
from cube.materialize import ArdEngine, Tally
from cube.products import ArdArray, BurstStack, Variant
from cube.storage import list_burst_groups, open_store
from cube.verify import verify_cube

RTOL = 1e-4  # chunked vs whole-window sinc interpolation: float32 rounding only


def _chain(codecs: list[dict]) -> list[tuple[str, int | None]]:
    return [(c["name"], (c.get("configuration") or {}).get("level")) for c in codecs]


def _recorded(array_dir: Path) -> list[tuple[str, int | None]]:
    return _chain(json.loads((array_dir / "zarr.json").read_text())["codecs"])


def _assert_close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=RTOL, atol=1e-5)


def test_level_3_cslc_arrays_still_serve_beside_new_level_minus_1_ones(tiny_cube, tmp_path):
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    stack = BurstStack(tiny_cube, burst_id, pol)
    dates = sorted(stack.dates)
    v = Variant.of("cslc")
    cy, cx = v.chunks
    ard_dir = tmp_path / "ard.zarr"
    ard = open_store(str(ard_dir))
    engine = ArdEngine(tiny_cube, ard)
    rows, cols = engine.product_grid(burst_id, pol, v).shape
    truth = [stack.compute("cslc", [d]) for d in dates[:2]]

    # an array stored at zstd level 3 before: written by zarr-python, its first chunk only
    old = ArdArray(burst_id, pol, v, (dates[0],))
    z = zarr.create_array(store=str(ard_dir / old.path), shape=(rows, cols), chunks=v.chunks,
                          dtype="complex64", fill_value=complex(np.nan, np.nan), serializer=BytesCodec(),
                          compressors=[ZstdCodec(level=3), Crc32cCodec()], dimension_names=["y", "x"],
                          zarr_format=3)
    z[:cy, :cx] = truth[0][:cy, :cx]
    stored = sorted(p for p in (ard_dir / old.path / "c").rglob("*") if p.is_file())
    assert len(stored) == 1 and (rows > cy or cols > cx)  # one chunk stored, others left to compute

    tally = Tally()
    engine.fill(old, tally=tally)
    assert tally.hits == len(stored) and tally.computed["cslc"] > 0
    assert _recorded(ard_dir / old.path) == [("bytes", None), ("zstd", 3), ("crc32c", None)]  # kept
    _assert_close(zarr.open_array(str(ard_dir / old.path), mode="r")[:], truth[0])

    # a new CSLC array: zstd level -1 (a chunk never much larger than its raw bytes)
    new = ArdArray(burst_id, pol, v, (dates[1],))
    engine.fill(new)
    assert _recorded(ard_dir / new.path) == [("bytes", None), ("zstd", -1), ("crc32c", None)]
    chunks = [p for p in (ard_dir / new.path / "c").rglob("*") if p.is_file()]
    assert chunks and all(p.stat().st_size <= cy * cx * 8 + 64 for p in chunks)
    _assert_close(zarr.open_array(str(ard_dir / new.path), mode="r")[:], truth[1])

    # a fresh process reads both through the engine, and verify accepts both chains
    fresh = ArdEngine(tiny_cube, ard)
    tally = Tally()
    _assert_close(fresh.read(old, tally=tally), truth[0])
    _assert_close(fresh.read(new, tally=tally), truth[1])
    assert tally.chunks_computed == 0
    report = verify_cube(tiny_cube, ard)
    assert report.as_dict()["ard_chunks"] > 0 and not [p for p in report.as_dict()["problems"]
                                                      if p["store"] == "ard"]

    # xarray over /zarr: one (time, y, x) array declaring level -1, both dates (zstd decodes any level)
    app = create_app(Settings(cube_url=tiny_cube.url, ard_url=str(ard_dir),
                              jobs_url=str(tmp_path / "jobs.sqlite"), allow_anonymous=True), routers=("zarr",))
    with serve(app) as url:
        ds = xr.open_zarr(f"{url}/zarr/{burst_id}/cslc")
        meta = httpx.get(f"{url}/zarr/{burst_id}/cslc/cslc/zarr.json").json()
        assert _chain(meta["codecs"]) == [("bytes", None), ("zstd", -1), ("crc32c", None)]
        got = [ds.cslc.isel(time=t).values for t in (0, 1)]
        assert app.state.engine.totals.chunks_computed == 0
    _assert_close(got[0], truth[0])
    _assert_close(got[1], truth[1])
