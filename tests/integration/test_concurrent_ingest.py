"""Many writers, no loss: concurrent ingests of different dates into the same burst groups.

Before the writer lease and the conditional commit, two ingests of different dates into one
group both read the same date count, wrote the same time index and the last commit won: one
date vanished, or a committed date held another date's pixels. Each test here ingests the
tiny stack's three dates (two bursts each, so every group gets three writers) at once, then
checks every group against the simulator's own pixels (an independent reading of the SAFEs)
and against the sequentially ingested session cube, date by date.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from cube.catalog import StacIndex
from cube.ingest import ingest
from cube.storage import list_burst_groups, open_slc, open_store, read_date_metadata
from tests.integration.test_ingest import _check_cube_matches, _simulated_bursts

PER_DATE = ["slant_range_first_sample", "azimuth_time_interval", "lines", "samples",
            "first_valid_line", "last_valid_line", "first_valid_sample", "last_valid_sample",
            "absolute_orbit"]


def _assert_same_as_sequential(store, sequential, safes) -> None:
    """All dates present, each bit-identical to the sequential ingest (pixels, per-date arrays,
    metadata JSON), and each date indexed for STAC."""
    n_groups = len(_simulated_bursts(safes[0]))
    assert _check_cube_matches(store.url, safes, store.storage_options) == 3 * n_groups
    groups = list_burst_groups(sequential)
    assert sorted(list_burst_groups(store)) == sorted(groups)
    for burst_id, pol in groups:
        got, ref = open_slc(store, burst_id, pol), open_slc(sequential, burst_id, pol)
        keys = [d["date_key"] for d in json.loads(
            store.read_bytes(f"slc.zarr/{burst_id}/{pol.lower()}/zarr.json"))["attributes"]["dates"]]
        ref_keys = [d["date_key"] for d in json.loads(
            sequential.read_bytes(f"slc.zarr/{burst_id}/{pol.lower()}/zarr.json"))["attributes"]["dates"]]
        assert sorted(keys) == sorted(ref_keys) and len(set(keys)) == 3
        for i, key in enumerate(keys):
            j = ref_keys.index(key)
            np.testing.assert_array_equal(got.slc.isel(time=i).values, ref.slc.isel(time=j).values)
            assert got.time.values[i] == ref.time.values[j]
            for name in PER_DATE:
                assert got[name].values[i] == ref[name].values[j], (burst_id, key, name)
            assert read_date_metadata(store, burst_id, pol, key) == read_date_metadata(
                sequential, burst_id, pol, key)
        item_dir = f"catalog/{burst_id}"
        assert sorted(store.list(item_dir)) == sorted(sequential.list(item_dir))
    index_path = "catalog/index.sqlite"
    if store.is_local:
        idx = StacIndex.open(store.path(index_path))
    else:
        local = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"index-{os.getpid()}.sqlite")
        with open(local, "wb") as f:
            f.write(store.read_bytes(index_path))
        idx = StacIndex.open(local)
    try:
        for burst_id, _ in groups:
            assert len(idx.date_keys(burst_id)) == 3, burst_id
    finally:
        idx.close()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cube.cli", "ingest", *args, "--quiet"]


def test_threads_ingesting_different_dates_lose_nothing(tmp_path, tiny_stack, tiny_cube):
    store = open_store(str(tmp_path / "cube"))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(safe) -> None:
        try:
            start.wait()
            ingest([str(safe)], store, progress=False)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in tiny_stack.safe_paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    _assert_same_as_sequential(store, tiny_cube, tiny_stack.safe_paths)


def test_processes_ingesting_different_dates_lose_nothing(tmp_path, tiny_stack, tiny_cube):
    cube = str(tmp_path / "cube")
    procs = [subprocess.Popen(_cli(str(s), "--cube", cube), stderr=subprocess.PIPE, text=True)
             for s in tiny_stack.safe_paths]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    _assert_same_as_sequential(open_store(cube), tiny_cube, tiny_stack.safe_paths)


@pytest.mark.s3
def test_processes_on_s3_lose_nothing(tiny_stack, tiny_cube, s3_env):
    url = "s3://cubes/concurrent"
    procs = [subprocess.Popen(_cli(str(s), "--cube", url), stderr=subprocess.PIPE, text=True)
             for s in tiny_stack.safe_paths]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    _assert_same_as_sequential(open_store(url, s3_env["storage_options"]), tiny_cube,
                               tiny_stack.safe_paths)


@pytest.mark.parametrize("moment", ["lease", "group"])
def test_a_stopped_writer_blocks_its_groups_only_until_its_lease_expires(tmp_path, tiny_stack, tiny_cube, moment):
    """SIGSTOP a writer for 6 s while it holds a group's lease (``lease``: as soon as it holds
    one; ``group``: once it has made a group that holds no date yet), with two other writers
    of the same groups started at once: they take its lease over once it expires (2 s) and
    commit. The stopped writer, woken, finds its lease lost before its next write and redoes
    its append on the new state, never rewriting a group another writer committed: nothing is
    lost or doubled. Under load the stop may land anywhere, inside a compare-and-swap too."""
    cube = str(tmp_path / "cube")
    safes = [str(s) for s in tiny_stack.safe_paths]
    ttl = ["--lease-ttl-s", "2"]
    first = subprocess.Popen(_cli(safes[0], "--cube", cube, *ttl), stderr=subprocess.PIPE, text=True)
    ready = {"lease": lambda: _holds_group_lease(tmp_path / "cube" / ".leases" / "leases.sqlite"),
             "group": lambda: _has_an_empty_group(tmp_path / "cube" / "slc.zarr")}[moment]
    deadline = time.monotonic() + 120
    while not ready():
        assert first.poll() is None and time.monotonic() < deadline, f"first writer never reached {moment}"
        time.sleep(0.001)
    first.send_signal(signal.SIGSTOP)
    # woken after 6 s (3 TTLs): the others take its leases over meanwhile, unless it was stopped
    # inside a local compare-and-swap, whose file lock they then wait for
    wake = threading.Timer(6.0, first.send_signal, (signal.SIGCONT,))
    wake.start()
    try:
        others = [subprocess.Popen(_cli(s, "--cube", cube, *ttl), stderr=subprocess.PIPE, text=True)
                  for s in safes[1:]]
        for p in others:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
    finally:
        wake.cancel()
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    _assert_same_as_sequential(open_store(cube), tiny_cube, tiny_stack.safe_paths)


def _has_an_empty_group(slc):
    for doc in slc.glob("t*/*/zarr.json"):
        try:
            if json.loads(doc.read_text()).get("consolidated_metadata") is None:
                return True
        except (OSError, ValueError):
            continue
    return False


def _holds_group_lease(db) -> bool:
    import sqlite3

    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=0.1) as con:
            rows = con.execute("SELECT key FROM leases WHERE expires > ?", (time.time(),)).fetchall()
    except sqlite3.Error:
        return False
    return any(key.startswith("slc.zarr/") for (key,) in rows)
