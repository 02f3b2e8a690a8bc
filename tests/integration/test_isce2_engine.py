"""The isce2 engine end to end: ISCE2's topsStack on the simulated SAFEs, as they are, through a job.

Independent reference: the native engine's CSLC of the same cube (our own numba geocoding of
each date, which shares with the ISCE2 path only the final geocoding of the reference burst's
geometry). ISCE2 comes from ``make isce2``; where it is missing these tests skip, saying so,
except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cube.config import make_engine
from cube.isce2 import isce2_available, read_topsstack_bursts
from cube.jobs import JobSpec, job_settings, make_job_record, make_job_store, run_burst
from cube.jobs._isce2 import isce2_variant, read_isce2_cslc
from cube.products import (
    ArdArray,
    BurstStack,
    CoherenceOptions,
    InterferogramOptions,
    Variant,
    coherence,
    interferogram,
)
from cube.storage import list_burst_groups, open_store

NO_ISCE2 = "ISCE2 is not installed: run `make isce2` (builds ../shared/vendor/isce2 into .tools/)"


@pytest.fixture(scope="module")
def need_isce2():
    if not isce2_available():
        if os.environ.get("CI"):
            pytest.fail(f"{NO_ISCE2}; CI must build it (.ci/run)")
        pytest.skip(NO_ISCE2)


@pytest.fixture(scope="module")
def isce2_run(need_isce2, tiny_cube, tiny_stack, tmp_path_factory):
    """One ISCE2 job over every date of the first burst, its ARD store apart, its work kept."""
    work = tmp_path_factory.mktemp("isce2-work")
    ard = tmp_path_factory.mktemp("isce2-ard") / "ard.zarr"
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    spec = JobSpec(cube_url=tiny_cube.url, ard_url=str(ard), engine="isce2",
                   sources=[str(tiny_stack.safe_paths[0].parent)],
                   bursts=[{"burst_id": burst_id, "polarization": pol, "products": [{"product": "cslc"}]}])
    mp = pytest.MonkeyPatch()
    mp.setenv("SARCUBE_ISCE2_WORKDIR", str(work))
    mp.setenv("SARCUBE_ISCE2_KEEP", "1")
    try:
        engine = make_engine(job_settings(spec))
        metrics = run_burst(spec, 0, engine=engine)
    finally:
        mp.undo()
    [stack_dir] = list(work.glob("isce2-*/stack"))
    return {"engine": engine, "stack": BurstStack(tiny_cube, burst_id, pol), "metrics": metrics,
            "work": stack_dir, "spec": spec, "variant": isce2_variant(None)}


def _isce2_cslc(run, date, window=None):
    s = run["stack"]
    return read_isce2_cslc(run["engine"], s.burst_id, s.polarization, date, window)


def test_a_missing_isce2_chunk_over_http_starts_the_burst_stack_job(need_isce2, tiny_cube, tiny_stack, tmp_path):
    """GET of an absent engine=isce2 chunk: 202 and a job (ISCE2 works per burst stack); once it
    has run, the same GET serves the chunk ISCE2 made, as the job's own reading of the store."""
    import time

    from tests.integration._users import bearer, live

    burst_id, pol = list_burst_groups(tiny_cube)[0]
    ard = tmp_path / "ard.zarr"
    key = f"/zarr/{burst_id}/cslc/engine=isce2/cslc/c/1/0/0"
    with live(tmp_path, tiny_cube.url, isce2_sources=[str(tiny_stack.safe_paths[0].parent)]) as s:
        c = s.http
        c.headers.update(bearer("alice"))
        r = c.get(key)
        assert r.status_code == 202, r.text
        assert "burst stack" in r.json()["detail"]
        deadline = time.monotonic() + 600
        while (job := c.get(r.headers["Location"]).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(1)
        assert job["state"] == "succeeded", job
        served = c.get(key)
        assert served.status_code == 200
    engine = make_engine(job_settings(JobSpec(cube_url=tiny_cube.url, ard_url=str(ard), bursts=[
        {"burst_id": burst_id, "products": [{"product": "cslc"}]}])))
    date = BurstStack(tiny_cube, burst_id, pol).dates[1]
    ref = ArdArray(burst_id, pol, isce2_variant(None), (date,))
    assert served.content == engine.ard.read_bytes(ref.chunk_path(0, 0))


def test_isce2_cslc_agrees_with_the_native_cslc(isce2_run):
    """Per secondary date: coherence ≥ 0.999, |phase bias| ≤ 2 mrad, amplitude RMS ≤ 2 %; the
    reference date equal (to float32 rounding) 8 samples inside ISCE2's valid rectangle."""
    stack = isce2_run["stack"]
    ny, nx = isce2_run["engine"].chunk_counts(stack.burst_id, stack.polarization, isce2_run["variant"])
    assert isce2_run["metrics"].chunks_computed == len(stack.dates) * ny * nx
    ref = stack.burst(stack.dates[0])
    [box] = [b for b in read_topsstack_bursts(isce2_run["work"] / "reference" / "IW2.xml")
             if b.sensing_start == ref.sensing_start]
    line, sample = stack.positions(ref.date_key)
    m = 8
    interior = ((line >= box.first_valid_line + m) & (line <= box.last_valid_line - m)
                & (sample >= box.first_valid_sample + m) & (sample <= box.last_valid_sample - m))
    for date in stack.dates:
        a, n = _isce2_cslc(isce2_run, date), stack.cslc(date).data
        # ISCE2 keeps its own valid rectangle: never more than ours, at least 90 % of it
        assert not (np.isfinite(a) & ~np.isfinite(n)).any()
        assert np.isfinite(a).sum() >= 0.9 * np.isfinite(n).sum(), date
        if date == ref.date_key:
            ok = interior & np.isfinite(n)
            assert ok.mean() > 0.2
            np.testing.assert_allclose(a[ok], n[ok], rtol=0, atol=1e-5 * np.abs(n[ok]).max())
            continue
        ok = np.isfinite(a) & np.isfinite(n)
        x, y = a[ok].astype(np.complex128), n[ok].astype(np.complex128)
        cross = np.sum(x * np.conj(y))
        coherence = abs(cross) / np.sqrt(np.sum(abs(x) ** 2) * np.sum(abs(y) ** 2))
        bias = np.angle(cross)
        rms = np.sqrt(np.mean((abs(x) - abs(y)) ** 2) / np.mean(abs(y) ** 2))
        assert coherence >= 0.999, f"{date}: coherence with the native CSLC {coherence:.5f}"
        assert abs(bias) <= 2e-3, f"{date}: phase bias {bias * 1e3:.2f} mrad"
        assert rms <= 0.02, f"{date}: amplitude RMS difference {rms:.2%}"


def test_coherence_from_either_engine_agrees(isce2_run):
    """The coherence product of the ISCE2 CSLCs against the native one, over the pixels both
    CSLCs have: 99 % within 0.01, no bias (mean difference within 0.002)."""
    stack = isce2_run["stack"]
    isce2_cslc = {d: _isce2_cslc(isce2_run, d) for d in stack.dates}
    native_cslc = {d: stack.cslc(d).data for d in stack.dates}
    for d in stack.dates:  # the pixels both CSLCs have
        both = np.isfinite(isce2_cslc[d]) & np.isfinite(native_cslc[d])
        isce2_cslc[d][~both] = native_cslc[d][~both] = np.nan
    options = CoherenceOptions()
    for a, b in zip(stack.dates[:-1], stack.dates[1:], strict=True):
        pair = (a, b)
        native = coherence(native_cslc[a], native_cslc[b], options)
        isce2 = coherence(isce2_cslc[a], isce2_cslc[b], options)
        ok = np.isfinite(native) & np.isfinite(isce2)
        assert ok.mean() > 0.2
        diff = isce2[ok] - native[ok]
        assert np.percentile(abs(diff), 99) <= 0.01, pair
        assert abs(diff.mean()) <= 0.002, pair


def test_products_over_the_isce2_cslc(isce2_run):
    """``engine=isce2`` on a product computed from CSLC: the engine reads the ISCE2 CSLC's stored
    chunks (equal to the product function applied to them); a job of such a product finds the
    ISCE2 CSLC stored (no topsStack run) and computes the product's chunks."""
    engine, stack = isce2_run["engine"], isce2_run["stack"]
    d0, d1 = stack.dates[:2]
    a, b = _isce2_cslc(isce2_run, d0), _isce2_cslc(isce2_run, d1)
    coh = Variant.of("coherence", {"engine": "isce2"})
    got = engine.read(ArdArray(stack.burst_id, stack.polarization, coh, (d0, d1)))
    np.testing.assert_allclose(got, coherence(a, b, CoherenceOptions()), rtol=1e-6, equal_nan=True)
    assert coh.key != Variant.of("coherence").key and Variant.of("coherence").options.segment() == ""

    spec = JobSpec(cube_url=stack.store.url, ard_url=isce2_run["spec"].ard_url,
                   sources=isce2_run["spec"].sources,
                   bursts=[{"burst_id": stack.burst_id, "polarization": stack.polarization, "products": [
                       {"product": "interferogram", "options": {"engine": "isce2"}, "pairs": [[d0, d1]]}]}])
    metrics = run_burst(spec, 0, engine=engine)
    ny, nx = engine.chunk_counts(stack.burst_id, stack.polarization, Variant.of("interferogram"))
    assert metrics.chunks_computed == ny * nx and metrics.cpu_s < 30  # no topsStack run
    ifg = Variant.of("interferogram", {"engine": "isce2"})
    stored = engine.read(ArdArray(stack.burst_id, stack.polarization, ifg, (d0, d1)))
    np.testing.assert_allclose(stored, interferogram(a, b, InterferogramOptions()), rtol=1e-5, equal_nan=True)


def test_rerun_finds_every_chunk_and_does_not_run_isce2(isce2_run):
    metrics = run_burst(isce2_run["spec"], 0, engine=isce2_run["engine"])
    assert metrics.chunks_computed == 0 and metrics.cpu_s < 5


def test_a_failing_isce2_step_fails_the_job_with_its_message(need_isce2, tiny_cube, tiny_stack, tmp_path):
    """A SAFE without its preview KML: stackSentinel fails; the worker exits 2 and the job
    record holds ISCE2's own traceback."""
    sources = tmp_path / "safes"
    for safe in tiny_stack.safe_paths[:2]:
        shutil.copytree(safe, sources / safe.name)
    (sources / tiny_stack.safe_paths[1].name / "preview" / "map-overlay.kml").unlink()
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    stack = BurstStack(tiny_cube, burst_id, pol)
    spec = JobSpec(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard"), engine="isce2", sources=[str(sources)],
                   bursts=[{"burst_id": burst_id, "polarization": pol,
                            "products": [{"product": "cslc", "dates": stack.dates[:2]}]}])
    job = tmp_path / "job.json"
    job.write_text(spec.model_dump_json())
    db = tmp_path / "jobs.sqlite"
    make_job_store(db).create(make_job_record({}, total=1, job_id="broken"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SARCUBE_")}
    done = subprocess.run([str(Path(sys.executable).parent / "sarcube-worker"), "--job", str(job),
                           "--job-id", "broken", "--jobs-url", str(db)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2, done.stderr[-2000:]
    message = make_job_store(db).get("broken").message
    assert "topsStack step stackSentinel failed" in message and "map-overlay.kml" in message, message
    assert "Traceback" in message  # ISCE2's own words, from the tail of its log
    assert not [p for p in (tmp_path / "ard").rglob("*") if p.is_file() and "/c/" in str(p)]  # no chunk


def test_cli_product_cslc_with_engine_isce2(need_isce2, tiny_cube, tiny_stack, tmp_path):
    """``sarcube product CUBE cslc --dates D1,D2 --option engine=isce2``: the job, then the file."""
    import xarray as xr

    cube_dir = tmp_path / "cube"
    shutil.copytree(tiny_cube.url, cube_dir)
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    stack = BurstStack(open_store(str(cube_dir)), burst_id, pol)
    out = tmp_path / "cslc.zarr"
    dates = [d[:8] for d in stack.dates[:2]]
    done = subprocess.run([str(Path(sys.executable).parent / "sarcube"), "product", str(cube_dir), "cslc",
                           "--burst", burst_id, "--dates", ",".join(dates), "--option", "engine=isce2",
                           "--source", str(tiny_stack.safe_paths[0].parent),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    ds = xr.open_zarr(out)
    assert ds.cslc.dims == ("time", "y", "x") and ds.cslc.dtype == np.complex64
    assert ds.cslc.shape == (2, stack.grid.height, stack.grid.width)
    sensed = np.array([stack.burst(d).sensing_start for d in stack.dates[:2]], "datetime64[us]")
    np.testing.assert_array_equal(ds.time.values.astype("datetime64[us]"), sensed)
    assert '"engine": "isce2"' in ds.attrs["options"]
    # the reference date is the native CSLC (the one ISCE2 leaves as it is)
    got = ds.cslc.values[0]
    want = stack.cslc(stack.dates[0]).data
    ok = np.isfinite(got) & np.isfinite(want)
    assert ok.mean() > 0.2
    cross = np.sum(got[ok] * np.conj(want[ok]))
    assert abs(cross) / np.sqrt(np.sum(abs(got[ok]) ** 2) * np.sum(abs(want[ok]) ** 2)) > 0.9999
