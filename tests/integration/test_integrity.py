"""Integrity: crc32c on every stored chunk, checked on read; durable local writes; ``sarcube verify``.

References are independent of the code under test: a table-driven CRC-32C written here,
products computed directly from the cube with the kernels (``BurstStack.compute``), zarr-python
reading the stores, the real ``.venv/bin/sarcube`` console script.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
import xarray as xr
import zarr
from _live import serve

from cube.api import create_app
from cube.cli import main
from cube.config import Settings
from cube.errors import CorruptChunkError
from cube.ingest._writer import append_date
from cube.materialize import ArdEngine, Tally
from cube.products import ArdArray, BurstStack, Variant
from cube.storage import FileLeaseBackend, list_burst_groups, open_store
from cube.verify import verify_cube

SARCUBE = Path(sys.executable).with_name("sarcube")
RTOL = 1e-4  # chunked vs whole-window sinc interpolation: float32 rounding only


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), bit by bit from its polynomial: a reference independent of google-crc32c."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _copy_cube(tiny_cube, dest: Path) -> Path:
    """A private copy of the shared tiny cube, without any ARD store other tests left in it."""
    shutil.copytree(tiny_cube.url, dest, ignore=shutil.ignore_patterns("ard.zarr"))
    return dest


def _flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if offset is None else offset] ^= 0x5A
    path.write_bytes(bytes(data))


def _verify(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SARCUBE), "verify", *args], capture_output=True, text=True, timeout=300)


def _slc_group(cube: Path) -> tuple[str, str, Path, list[dict]]:
    burst_id, pol = list_burst_groups(open_store(str(cube)))[0]
    group = cube / "slc.zarr" / burst_id / pol.lower()
    dates = json.loads((group / "zarr.json").read_text())["attributes"]["dates"]
    return burst_id, pol, group, dates


@pytest.fixture
def cube_copy(tiny_cube, tmp_path) -> Path:
    return _copy_cube(tiny_cube, tmp_path / "cube")


# -- SLC ----------------------------------------------------------------------------------------
def test_slc_chunks_end_with_their_crc32c(cube_copy):
    _, _, group, _ = _slc_group(cube_copy)
    meta = json.loads((group / "slc" / "zarr.json").read_text())
    assert [c["name"] for c in meta["codecs"]] == ["bytes", "zstd", "crc32c"]
    chunks = sorted(p for p in (group / "slc" / "c").rglob("*") if p.is_file())
    assert chunks
    for path in chunks[:3] + list((group / "time" / "c").rglob("*")):
        raw = path.read_bytes()
        assert struct.unpack("<I", raw[-4:])[0] == crc32c(raw[:-4]), path


def test_verify_finds_one_corrupted_slc_byte_naming_burst_pol_date(tiny_cube, tiny_stack, cube_copy, capsys):
    clean = _verify(str(cube_copy), "--quiet")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "OK" in clean.stdout.splitlines()[-1]

    burst_id, pol, group, dates = _slc_group(cube_copy)
    target = dates[1]
    chunk = sorted((group / "slc" / "c" / str(target["index"])).rglob("*"))[-1]
    assert chunk.is_file()
    _flip_byte(chunk)

    done = _verify(str(cube_copy), "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert not report["ok"] and report["slc_chunks"] > 10
    [problem] = report["problems"]
    assert problem["store"] == "slc"
    assert (problem["burst_id"], problem["polarization"], problem["date_key"]) == (
        burst_id, pol, target["date_key"])
    assert problem["product_id"] == target["product_id"]
    assert problem["path"] == str(chunk.relative_to(cube_copy))
    assert "--restore" in problem["action"] and target["date_key"] in problem["action"]

    # the operator's view (what the command prints without --json): one line naming the date
    text = verify_cube(open_store(str(cube_copy))).summary()
    line = next(ln for ln in text.splitlines() if ln.startswith("SLC "))
    assert burst_id in line and pol in line and target["date_key"] in line and "restore" in line

    # plain xarray over the local store: zarr's crc32c codec refuses the chunk
    ds = xr.open_zarr(str(group))
    with pytest.raises(ValueError, match="checksum"):
        ds.slc.isel(time=target["index"]).load()
    assert np.abs(ds.slc.isel(time=0).values).sum() > 0  # the other dates still read

    # --restore rewrites that date's pixels from its SAFE (given every SAFE of the stack)
    before = {p: p.read_bytes() for p in (group / "slc" / "c").rglob("*") if p.is_file() and p != chunk}
    assert main(["verify", str(cube_copy), "--json", "--quiet", "--restore",
                 *map(str, tiny_stack.safe_paths)]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
    restored = xr.open_zarr(str(group)).slc.isel(time=target["index"]).values
    original = xr.open_zarr(tiny_cube.path(f"slc.zarr/{burst_id}/{pol.lower()}")).slc.isel(
        time=target["index"]).values
    np.testing.assert_array_equal(restored, original)
    assert {p: p.read_bytes() for p in before} == before  # other chunks are untouched


def test_a_group_written_before_format_1_1_still_reads_and_verifies(cube_copy):
    """Format 1.0 had no crc32c: strip it from one group (metadata and chunks); reads are unchanged."""
    burst_id, pol, group, _ = _slc_group(cube_copy)
    before = xr.open_zarr(str(group)).load()
    doc = json.loads((group / "zarr.json").read_text())
    for name, meta in doc["consolidated_metadata"]["metadata"].items():
        meta["codecs"] = [c for c in meta["codecs"] if c["name"] != "crc32c"]
        (group / name / "zarr.json").write_text(json.dumps(meta))
        for path in (group / name / "c").rglob("*"):
            if path.is_file():
                path.write_bytes(path.read_bytes()[:-4])
    (group / "zarr.json").write_text(json.dumps(doc))

    after = xr.open_zarr(str(group)).load()
    xr.testing.assert_identical(after, before)
    stack = BurstStack(open_store(str(cube_copy)), burst_id, pol)  # zarr-python reads this group's pixels
    assert stack._slc_chunks is None
    pixels = stack.read_slc(stack.dates[0], 0, before.sizes["line"], 0, before.sizes["sample"])
    expected = before.slc.isel(time=0).values
    np.testing.assert_array_equal(pixels.real, expected[..., 0])
    np.testing.assert_array_equal(pixels.imag, expected[..., 1])
    report = verify_cube(open_store(str(cube_copy))).as_dict()
    assert report["ok"], report["problems"]
    n_group = sum(1 for p in group.rglob("*") if p.is_file() and "/c/" in str(p.relative_to(cube_copy)))
    assert report["slc_chunks_without_checksum"] == n_group > 0
    assert report["slc_chunks"] > n_group  # the other group still has checksums


def test_read_slc_decodes_the_chunks_as_zarr_python_does_and_refuses_a_corrupted_one(tiny_cube, tmp_path):
    """`BurstStack.read_slc` decodes the SLC chunks itself: the pixels zarr-python reads, over
    windows across chunk edges; an absent chunk is the fill value; a bad crc32c names the chunk."""
    burst_id, pol, tiny_group, _ = _slc_group(Path(tiny_cube.url))
    tiny = BurstStack(tiny_cube, burst_id, pol)
    cube = tmp_path / "cube"  # the tiny bursts again, in chunks of 64 × 100 (partial ones at the edges)
    shutil.copy(Path(tiny_cube.url) / "cube.json", cube.mkdir() or cube / "cube.json")
    for d in tiny.dates:
        b = tiny.burst(d)
        pixels = zarr.open_group(str(tiny_group), mode="r")["slc"][tiny.dates.index(d)]
        assert append_date(open_store(str(cube)), b, pixels, (1, 64, 100, 2))
    _, _, group, dates = _slc_group(cube)
    reference = zarr.open_group(str(group), mode="r")["slc"]
    stack = BurstStack(open_store(str(cube)), burst_id, pol)
    _, lines, samples, _ = reference.shape
    cl, cs = stack._slc_chunks
    assert (cl, cs) == tuple(reference.chunks[1:3]) == (64, 100) and lines % cl and samples % cs
    windows = [(0, lines, 0, samples), (1, lines - 2, 3, samples - 1), (cl - 1, cl + 1, cs - 1, cs + 1),
               (lines - 1, lines, 0, 1), (2 * cl, lines, 0, cs)]
    for d in dates:
        for l0, l1, s0, s1 in windows:
            pixels = stack.read_slc(d["date_key"], l0, l1, s0, s1)
            expected = reference[d["index"], l0:l1, s0:s1, :]
            assert pixels.dtype == np.complex64 and pixels.shape == (l1 - l0, s1 - s0)
            np.testing.assert_array_equal(pixels.real, expected[..., 0])
            np.testing.assert_array_equal(pixels.imag, expected[..., 1])

    target = dates[1]
    chunk = group / "slc" / "c" / str(target["index"]) / "0" / "0" / "0"
    chunk.unlink()  # absent: zarr's fill value
    np.testing.assert_array_equal(stack.read_slc(target["date_key"], 0, cl, 0, cs), 0)
    _flip_byte(next(p for p in sorted((group / "slc" / "c" / str(target["index"])).rglob("*"))
                    if p.is_file()))
    with pytest.raises(CorruptChunkError, match="crc32c") as failed:
        stack.read_slc(target["date_key"], 0, lines, 0, samples)
    text = str(failed.value)
    assert "slc.zarr" in text and burst_id in text and target["date_key"] in text and "--restore" in text


# -- ARD ----------------------------------------------------------------------------------------
def _direct(cube: Path, burst_id: str, product: str, dates, window) -> np.ndarray:
    return BurstStack(open_store(str(cube)), burst_id).compute(product, list(dates), window)


def test_engine_recomputes_a_corrupted_ard_chunk_instead_of_serving_it(tiny_cube, tmp_path):
    ard = open_store(str(tmp_path / "ard.zarr"))
    engine = ArdEngine(tiny_cube, ard)
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    dates = (sorted(BurstStack(tiny_cube, burst_id, pol).dates)[0],)
    v = Variant.of("cslc")
    first = engine.chunk(ArdArray(burst_id, pol, v, dates), 0, 0)
    path = Path(ard.path(ArdArray(burst_id, pol, v, dates).chunk_path(0, 0)))
    raw = path.read_bytes()
    assert struct.unpack("<I", raw[-4:])[0] == crc32c(raw[:-4])
    _flip_byte(path)

    tally = Tally()
    again = engine.chunk(ArdArray(burst_id, pol, v, dates), 0, 0, tally)
    assert tally.corrupt == 1 and tally.computed["cslc"] == 1 and tally.hits == 0
    window = engine.chunk_window(ArdArray(burst_id, pol, v, dates), 0, 0)
    np.testing.assert_allclose(again, _direct(tiny_cube.url, burst_id, "cslc", dates, window),
                               rtol=RTOL, atol=1e-5)
    np.testing.assert_array_equal(again, first)
    assert path.read_bytes() == raw  # stored again, whole and checked

    # a chunk written before format 1.1 (no crc32c) is recomputed too, and its array's
    # zarr.json gains the codec, so zarr-python reads the store
    array_dir = path.parents[2]
    meta = json.loads((array_dir / "zarr.json").read_text())
    meta["codecs"] = meta["codecs"][:-1]
    (array_dir / "zarr.json").write_text(json.dumps(meta))
    path.write_bytes(raw[:-4])
    tally = Tally()
    fresh = ArdEngine(tiny_cube, ard)  # a new process: it has not written that zarr.json yet
    np.testing.assert_array_equal(fresh.chunk(ArdArray(burst_id, pol, v, dates), 0, 0, tally), first)
    assert tally.corrupt == 1 and tally.computed["cslc"] == 1
    stored = zarr.open_array(str(array_dir), mode="r")
    np.testing.assert_array_equal(stored[: first.shape[0], : first.shape[1]], first)


def test_a_corrupted_ard_chunk_over_http_is_recomputed_not_served(tiny_cube, tmp_path):
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    dates = sorted(BurstStack(tiny_cube, burst_id, pol).dates)
    v = Variant.of("backscatter")
    cy, cx = v.chunks
    app = create_app(Settings(cube_url=tiny_cube.url, ard_url=str(tmp_path / "ard.zarr"),
                              jobs_url=str(tmp_path / "jobs.sqlite"), allow_anonymous=True), routers=("zarr",))
    with serve(app) as url:
        engine = app.state.engine
        ds = xr.open_zarr(f"{url}/zarr/{burst_id}/backscatter")
        meta = httpx.get(f"{url}/zarr/{burst_id}/backscatter/backscatter/zarr.json").json()
        assert [c["name"] for c in meta["codecs"]] == ["bytes", "zstd", "crc32c"]
        first = ds.backscatter.isel(time=1, y=slice(0, cy), x=slice(0, cx)).values
        path = Path(engine.ard.path(ArdArray(burst_id, pol, v, (dates[1],)).chunk_path(0, 0)))
        good = path.read_bytes()
        _flip_byte(path)
        computed = dict(engine.totals.computed)

        r = httpx.get(f"{url}/zarr/{burst_id}/backscatter/backscatter/c/1/0/0", timeout=120)
        assert r.status_code == 200 and r.headers["X-Sarcube-Chunks-Computed"] == "1"
        assert r.content == good and struct.unpack("<I", r.content[-4:])[0] == crc32c(r.content[:-4])
        assert engine.totals.corrupt == 1
        assert engine.totals.computed["backscatter"] == computed["backscatter"] + 1

        _flip_byte(path)  # and once more, read by xarray over HTTP
        again = xr.open_zarr(f"{url}/zarr/{burst_id}/backscatter").backscatter.isel(
            time=1, y=slice(0, cy), x=slice(0, cx)).values
    expected = _direct(tiny_cube.url, burst_id, "backscatter", (dates[1],), (slice(0, cy), slice(0, cx)))
    np.testing.assert_allclose(first, expected, rtol=RTOL, atol=1e-5)
    np.testing.assert_array_equal(again, first)
    assert engine.totals.corrupt == 2


def test_verify_repair_deletes_a_corrupted_ard_chunk_and_leftovers(cube_copy):
    cube = open_store(str(cube_copy))
    engine = ArdEngine(cube)  # ARD store <cube>/ard.zarr, leases in <cube>/ard.zarr/.leases
    burst_id, pol = list_burst_groups(cube)[0]
    dates = sorted(BurstStack(cube, burst_id, pol).dates)
    v = Variant.of("cslc")
    for d in dates[:2]:
        engine.chunk_bytes(ArdArray(burst_id, pol, v, (d,)), 0, 0)
    bad = Path(engine.ard.path(ArdArray(burst_id, pol, v, (dates[1],)).chunk_path(0, 0)))
    good = Path(engine.ard.path(ArdArray(burst_id, pol, v, (dates[0],)).chunk_path(0, 0)))
    _flip_byte(bad, offset=3)
    # leftovers of killed processes: an old and a fresh *.partial, an expired and a live lease
    old = bad.with_name(f"{bad.name}.0123abcd.partial")
    old.write_bytes(b"half a chunk")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    fresh = cube_copy / "slc.zarr" / f"zarr.{'f' * 32}.partial"
    fresh.write_bytes(b"{")
    leases = FileLeaseBackend(engine.ard.path(".leases"))
    assert leases.try_acquire("expired/chunk", 0.05) is not None
    live = leases.try_acquire("live/chunk", 600)
    time.sleep(0.1)

    report = verify_cube(cube).as_dict()  # without --repair: report, delete nothing
    [problem] = report["problems"]
    assert problem["store"] == "ard" and problem["path"] == ArdArray(burst_id, pol, v, (dates[1],)).chunk_path(0, 0)
    assert (problem["burst_id"], problem["polarization"], problem["date_key"]) == (burst_id, pol, dates[1])
    assert report["ard_chunks"] == 2 and report["stale_partials"] == [str(old)]
    assert report["expired_leases"] == 1 and bad.exists() and old.exists()

    done = _verify(str(cube_copy), "--json", "--repair")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ard_chunks_deleted"] == 1 and report["partials_removed"] == 1
    assert report["leases_removed"] == 1
    assert not bad.exists() and good.exists() and not old.exists() and fresh.exists()
    assert leases.peek("live/chunk") == live and leases.purge_expired(dry_run=True) == 0

    assert verify_cube(cube).ok
    # the deleted chunk is computed again on its next read
    tally = Tally()
    block = engine.chunk(ArdArray(burst_id, pol, v, (dates[1],)), 0, 0, tally)
    assert tally.computed["cslc"] == 1 and bad.exists()
    window = engine.chunk_window(ArdArray(burst_id, pol, v, (dates[1],)), 0, 0)
    np.testing.assert_allclose(block, _direct(cube_copy, burst_id, "cslc", (dates[1],), window),
                               rtol=RTOL, atol=1e-5)


def test_verify_of_a_folder_that_is_no_cube_exits_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path), "--quiet"]) == 2  # the console script's entry point
    assert "not a sarcube cube" in capsys.readouterr().err


# -- durable writes -----------------------------------------------------------------------------
def test_local_writes_fsync_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = open_store(str(tmp_path / "cube"))
    store.write_bytes("a/b.json", b"{}")
    target = store.path("a/b.json")
    assert [c[0] for c in calls] == ["fsync", "replace", "fsync"]
    assert calls[0][1].endswith(".partial") and calls[1][1] == target
    assert calls[2][1] == os.path.dirname(target)

    calls.clear()  # zarr's chunk writes through CubeStore.zarr_store
    root = zarr.open_group(store.zarr_store("z.zarr"), mode="w", zarr_format=3)
    root.create_array("x", shape=(4,), chunks=(4,), dtype="int16")[:] = np.arange(4, dtype="int16")
    chunk = os.path.join(store.path("z.zarr"), "x", "c", "0")
    i = calls.index(("replace", chunk))
    assert calls[i - 1][0] == "fsync" and calls[i - 1][1].startswith(chunk + ".")
    assert calls[i + 1] == ("fsync", os.path.dirname(chunk))
    assert not list(Path(store.path("")).rglob("*.partial"))


def test_verify_on_s3_finds_bad_chunks_and_purges_expired_s3_leases(tiny_cube, s3_server):
    """The same scan on SeaweedFS: a cube and its ARD store under one S3 prefix, S3 leases."""
    options = s3_server["storage_options"]
    cube = open_store(f"s3://cubes/verify-{uuid.uuid4().hex[:8]}", options)
    local = Path(tiny_cube.url)
    for path in local.rglob("*"):
        rel = str(path.relative_to(local))
        if path.is_file() and not rel.startswith("ard.zarr"):
            cube.write_bytes(rel, path.read_bytes())
    burst_id, pol = list_burst_groups(cube)[0]
    dates = sorted(BurstStack(tiny_cube, burst_id, pol).dates)
    group = local / "slc.zarr" / burst_id / pol.lower()
    record = json.loads((group / "zarr.json").read_text())["attributes"]["dates"][-1]
    slc_chunk = str(sorted(p for p in (group / "slc" / "c" / str(record["index"])).rglob("*") if p.is_file())[0]
                    .relative_to(local))
    raw = bytearray(cube.read_bytes(slc_chunk))
    raw[len(raw) // 2] ^= 0x01
    cube.write_bytes(slc_chunk, bytes(raw))

    engine = ArdEngine(tiny_cube, open_store(cube.child_url("ard.zarr"), options))  # S3 ARD, S3 leases
    assert type(engine.leases).__name__ == "S3LeaseBackend"
    v = Variant.of("cslc")
    rel = ArdArray(burst_id, pol, v, (dates[0],)).chunk_path(0, 0)
    engine.chunk_bytes(ArdArray(burst_id, pol, v, (dates[0],)), 0, 0)
    raw = bytearray(engine.ard.read_bytes(rel))
    raw[-1] ^= 0x80  # the checksum itself
    engine.ard.write_bytes(rel, bytes(raw))
    assert engine.leases.try_acquire("expired/chunk", 0.05) is not None
    live = engine.leases.try_acquire("live/chunk", 600)
    time.sleep(0.1)

    report = verify_cube(cube, repair=True)
    assert sorted((p.store, p.path) for p in report.problems) == [("ard", rel), ("slc", slc_chunk)]
    slc = next(p for p in report.problems if p.store == "slc")
    assert (slc.burst_id, slc.polarization, slc.date_key) == (burst_id, pol, record["date_key"])
    ard = next(p for p in report.problems if p.store == "ard")
    assert (ard.burst_id, ard.date_key) == (burst_id, dates[0])
    assert report.ard_chunks_deleted == 1 and not engine.ard.exists(rel)
    assert report.leases_removed == 1 and engine.leases.peek("live/chunk").token == live.token
    again = verify_cube(cube)
    assert [p.store for p in again.problems] == ["slc"] and again.expired_leases == 0
