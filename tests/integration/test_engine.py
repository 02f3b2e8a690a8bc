"""The lazy engine in process: chunk states, all-fill chunks, versions, S3 (SeaweedFS) stores."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import zarr

from cube.materialize import ArdEngine, Tally
from cube.materialize._ard import decode_chunk
from cube.products import PRODUCTS, ArdArray, BurstStack, Variant
from cube.storage import list_burst_groups, open_store


@pytest.fixture(scope="module")
def cube(tiny_cube):
    return tiny_cube


@pytest.fixture
def engine(cube, tmp_path):
    return ArdEngine(cube, open_store(str(tmp_path / "ard.zarr")))


def _burst(cube):
    burst_id, pol = list_burst_groups(cube)[0]
    return burst_id, sorted(BurstStack(cube, burst_id, pol).dates)


def test_states_absent_computing_present(engine, cube):
    burst_id, dates = _burst(cube)
    v = Variant.of("cslc")
    assert engine.state(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0) == "absent"
    lease = engine.leases.try_acquire(ArdArray(burst_id, "VV", v, (dates[0],)).chunk_path(0, 0), 30)
    assert engine.state(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0) == "computing"
    engine.leases.release(lease)
    assert engine.state(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0) == "absent"
    engine.chunk_bytes(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0)
    assert engine.state(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0) == "present"


def test_an_all_fill_chunk_is_stored_and_told_apart_from_absent(engine, cube):
    burst_id, dates = _burst(cube)
    v = Variant.of("coherence")
    # the grid is wider than the burst: the last column of chunks lies outside the valid window
    ny, nx = engine.chunk_counts(burst_id, "VV", v)
    i, j = 0, nx - 1
    ref = ArdArray(burst_id, "VV", v, tuple(dates[:2]))
    window = engine.chunk_window(ref, i, j)
    expected = BurstStack(cube, burst_id).compute("coherence", dates[:2], window)
    assert np.isnan(expected).all()
    assert engine.state(ref, i, j) == "absent"
    tally = Tally()
    block = engine.chunk(ref, i, j, tally)
    assert np.isnan(block).all() and tally.computed["coherence"] == 1
    assert engine.state(ref, i, j) == "present"
    again = Tally()
    engine.chunk(ref, i, j, again)
    assert again.chunks_computed == 0 and again.hits == 1
    # zarr-python reads the stored array: NaN there, and the absent chunk (0, 0) reads as fill too
    arr = zarr.open_array(engine.ard.path(f"{burst_id}/vv/{v.key}/{dates[0]}_{dates[1]}"), mode="r")
    assert arr.shape == engine.product_grid(burst_id, "VV", v).shape and np.isnan(arr[:, -1]).all()


def test_a_new_algorithm_version_never_serves_old_chunks(engine, cube, monkeypatch):
    burst_id, dates = _burst(cube)
    old = Variant.of("amplitude")
    engine.chunk_bytes(ArdArray(burst_id, "VV", old, (dates[0],)), 0, 0)
    old_key = old.key
    monkeypatch.setitem(PRODUCTS, "amplitude", dataclasses.replace(PRODUCTS["amplitude"], version="2"))
    new = Variant.of("amplitude")
    assert new.key != old_key and new.key.startswith("amplitude/v2-")
    assert engine.state(ArdArray(burst_id, "VV", new, (dates[0],)), 0, 0) == "absent"
    tally = Tally()
    engine.chunk_bytes(ArdArray(burst_id, "VV", new, (dates[0],)), 0, 0, tally)
    assert tally.computed["amplitude"] == 1


def test_a_failed_computation_leaves_nothing_and_is_retried(engine, cube):
    burst_id, dates = _burst(cube)
    v = Variant.of("backscatter")
    doc = engine.cube.read_json("cube.json")
    dem = doc.pop("dem")
    engine.cube.write_json("cube.json", doc)  # the DEM record is gone: computing must fail
    try:
        fresh = ArdEngine(engine.cube, engine.ard)
        with pytest.raises(Exception, match="no DEM"):
            fresh.chunk_bytes(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0)
    finally:
        engine.cube.write_json("cube.json", {**doc, "dem": dem})
    rel = ArdArray(burst_id, "VV", v, (dates[0],)).chunk_path(0, 0)
    assert not engine.ard.exists(rel) and engine.leases.peek(rel) is None  # no chunk, lease released
    tally = Tally()
    ArdEngine(engine.cube, engine.ard).chunk_bytes(ArdArray(burst_id, "VV", v, (dates[0],)), 0, 0, tally)
    assert tally.computed["backscatter"] == 1 and engine.ard.exists(rel)


def test_on_s3_with_s3_leases_one_computation_and_same_bytes_as_local(cube, s3_server, tmp_path):
    burst_id, dates = _burst(cube)
    options = s3_server["storage_options"]
    s3 = ArdEngine(cube, open_store("s3://cubes/engine-test/ard.zarr", options))
    assert type(s3.leases).__name__ == "S3LeaseBackend"
    v = Variant.of("coherence")
    tallies = [Tally() for _ in range(8)]
    barrier = threading.Barrier(8)

    def get(k: int) -> bytes:
        barrier.wait()
        return s3.chunk_bytes(ArdArray(burst_id, "VV", v, tuple(dates[1:3])), 0, 0, tallies[k])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(get, range(8)))
    assert len(set(results)) == 1
    assert sum(t.computed["coherence"] for t in tallies) == 1
    local = ArdEngine(cube, open_store(str(tmp_path / "ard.zarr")))
    a = decode_chunk(results[0], v)
    b = decode_chunk(local.chunk_bytes(ArdArray(burst_id, "VV", v, tuple(dates[1:3])), 0, 0), v)
    np.testing.assert_array_equal(a, b)


def test_fill_computes_an_array_at_once_as_chunk_by_chunk(engine, cube, tmp_path):
    """A worker's ``fill``: every chunk of a pair product and of its CSLC inputs in one pass each,
    the pixels ``chunk`` computes one by one; a corrupt chunk is computed again, the others kept."""
    burst_id, dates = _burst(cube)
    ref = ArdArray(burst_id, "VV", Variant.of("coherence"), tuple(dates[:2]))
    ny, nx = engine.chunk_counts(burst_id, "VV", ref.variant)
    gy, gx = engine.chunk_counts(burst_id, "VV", Variant.of("cslc"))
    tally = Tally()
    assert engine.fill(ref, None, tally) == ny * nx == tally.computed["coherence"]
    assert tally.computed["cslc"] == 2 * gy * gx
    np.testing.assert_allclose(engine.read(ref), BurstStack(cube, burst_id).compute("coherence", dates[:2]),
                               rtol=1e-6, atol=1e-6, equal_nan=True)
    # chunk by chunk: the same pixels, to float32 rounding (the same NaN)
    one_by_one = ArdEngine(cube, open_store(str(tmp_path / "other.zarr")))
    cslc = ArdArray(burst_id, "VV", Variant.of("cslc"), (dates[1],))
    for r, n, m in ((ref, ny, nx), (cslc, gy, gx)):
        for i, j in {(0, 0), (n // 2, m // 2), (n - 1, m - 1)}:
            want = one_by_one.chunk(r, i, j)
            scale = np.nanmax(np.abs(want), initial=1.0)
            np.testing.assert_allclose(engine.chunk(r, i, j), want, rtol=0, atol=1e-6 * scale, equal_nan=True)
    engine.ard.write_bytes(ref.chunk_path(0, 0), b"not a chunk at all")
    again = Tally()
    assert engine.fill(ref, None, again) == 1
    assert again.corrupt == 1 and again.hits >= ny * nx - 1 and again.computed == {"coherence": 1}


def test_a_jobs_pair_products_take_their_cslc_from_memory_with_the_pixels_of_the_stored_chunks(cube, tmp_path):
    """``fill`` keeps the CSLC it computed: the pairs read no CSLC chunk, and their pixels are
    those computed from the stored chunks (an engine without the cache) exactly."""
    burst_id, dates = _burst(cube)
    cached = ArdEngine(cube, open_store(str(tmp_path / "cached.zarr")))
    stored = ArdEngine(cube, open_store(str(tmp_path / "stored.zarr")), cslc_cache_bytes=0)
    pairs = [(dates[0], dates[1]), (dates[1], dates[2]), (dates[0], dates[2])]
    gy, gx = cached.chunk_counts(burst_id, "VV", Variant.of("cslc"))
    for engine in (cached, stored):
        for d in dates[:3]:
            engine.fill(ArdArray(burst_id, "VV", Variant.of("cslc"), (d,)))
    assert cached.cslc_cache.nbytes > 0 and stored.cslc_cache.nbytes == 0
    for product in ("coherence", "interferogram"):
        for pair in pairs:
            ref = ArdArray(burst_id, "VV", Variant.of(product), pair)
            from_memory, from_chunks = Tally(), Tally()
            cached.fill(ref, None, from_memory)
            stored.fill(ref, None, from_chunks)
            assert from_memory.hits == 0 and from_memory.computed["cslc"] == 0
            assert from_chunks.hits == 2 * gy * gx  # each CSLC chunk read (and checked) once
            np.testing.assert_array_equal(cached.read(ref), stored.read(ref))
    assert cached.cslc_cache.hits == 2 * 2 * len(pairs) and cached.cslc_cache.misses == 0


def test_the_cslc_cache_keeps_at_most_its_bytes_least_recently_used_out():
    from cube.materialize._engine import CslcCache

    cache = CslcCache(max_bytes=3 * 8 * 100)
    refs = [ArdArray("t001_000001_iw1", "VV", Variant.of("cslc"), (f"2024010{d}T000000.000000",)) for d in range(4)]
    blocks = [np.full((10, 10), d, np.complex64) for d in range(4)]
    for r, b in zip(refs[:3], blocks[:3], strict=True):
        cache.put(r, (0, 10, 0, 10), b)
    assert cache.get(refs[0], (2, 5, 3, 10)).shape == (3, 7)  # a window inside a kept one: a view
    cache.put(refs[3], (0, 10, 0, 10), blocks[3])  # evicts refs[1], the least recently used
    assert cache.get(refs[1], (0, 10, 0, 10)) is None and cache.nbytes == 3 * 800
    assert cache.get(refs[2], (0, 11, 0, 10)) is None  # not inside the kept window
    got = cache.get(refs[3], (0, 10, 0, 10))
    assert not got.flags.writeable and (got == 3).all()
    cache.put(refs[0], (0, 10, 0, 20), np.zeros((10, 20), np.complex64))  # replaces the window it holds
    assert cache.nbytes <= 3 * 800 and cache.get(refs[0], (0, 10, 10, 20)) is not None
    CslcCache(max_bytes=0).put(refs[0], (0, 10, 0, 10), blocks[0])


@pytest.mark.parametrize("product, options", [
    ("interferogram", {}), ("coherence", {}), ("coherence", {"estimator": "debiased"}), ("amplitude", {})])
def test_a_jobs_product_of_cslcs_goes_one_row_of_chunks_at_a_time_with_the_whole_windows_pixels(
        cube, tmp_path, monkeypatch, product, options):
    """With chunks of 128 grid pixels the tiny grid has three rows of chunks: ``fill`` computes a
    product made of CSLCs row by row (its output one row of chunks at a time), each chunk once,
    and its pixels are those of the whole grid computed at once without the engine
    (`BurstStack.compute`); after a partial loss only the lost rows. The debiased coherence,
    whose effective looks come from the whole window, is computed at once."""
    from cube.products import _address

    monkeypatch.setattr(_address, "CSLC_CHUNK", 128)
    burst_id, dates = _burst(cube)
    engine = ArdEngine(cube, open_store(str(tmp_path / "ard.zarr")))
    variant = Variant.of(product, PRODUCTS[product].options(**options))
    ny, nx = engine.chunk_counts(burst_id, "VV", variant)
    assert ny >= 3
    pair = tuple(dates[:2]) if PRODUCTS[product].pair else (dates[0],)
    ref = ArdArray(burst_id, "VV", variant, pair)
    windows = []
    real = engine.stack(burst_id).input

    def spy(name, date, window, **kwargs):
        if date == pair[0] and name == "cslc":
            windows.append(window[0])
        return real(name, date, window, **kwargs)

    monkeypatch.setattr(engine.stack(burst_id), "input", spy)
    for d in pair:
        engine.fill(ArdArray(burst_id, "VV", Variant.of("cslc"), (d,)))
    tally = Tally()
    engine.fill(ref, None, tally)
    assert tally.computed[product] == ny * nx and tally.computed["cslc"] == 0  # each chunk once
    grid_rows = engine.stack(burst_id).grid.height
    if variant.options.per_pixel:  # one call per row of chunks, each of a row of chunks' grid rows
        assert len(windows) == ny and all(w.stop - w.start <= 128 for w in windows)
    else:
        assert windows == [slice(0, grid_rows // variant.options.looks[0] * variant.options.looks[0])]
    want = BurstStack(cube, burst_id).compute(product, pair, options=variant.options)
    scale = np.nanmax(np.abs(want))
    np.testing.assert_allclose(engine.read(ref), want, rtol=0, atol=1e-6 * scale, equal_nan=True)

    # rows 0 and 2 lost (a partial run): only those rows are computed again, their chunks once each
    for i in (0, 2):
        for j in range(nx):
            engine.ard.delete(ref.chunk_path(i, j))
    windows.clear()
    again = Tally()
    assert engine.fill(ref, None, again) == 2 * nx == again.computed[product]
    if variant.options.per_pixel:
        rows = [w.start // (128 // variant.options.looks[0] * variant.options.looks[0]) for w in windows]
        assert rows == [0, 2]
    np.testing.assert_allclose(engine.read(ref), want, rtol=0, atol=1e-6 * scale, equal_nan=True)
