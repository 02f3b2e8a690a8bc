"""One conformance suite for every `CubeStore` implementation (as zarr-python tests its stores).

Each test runs on a local directory (`LocalCubeStore`) and on S3 served by SeaweedFS on
loopback (`S3CubeStore`). What a store promises, and so what is checked here:

- bytes read back as written; keys are ``/`` paths; missing keys raise `NotFoundError`
  (a `FileNotFoundError`) naming the URL; ``list`` names one level, ``find`` every file below;
  ``delete`` is idempotent;
- ``read_versioned`` / ``write_if`` are a compare-and-swap: create-if-absent, a stale
  version loses, exactly one of many racers wins, a raising guard writes nothing;
- writes are atomic: readers see the old or the new bytes, never a part, and no temporary
  object is left visible after a write (done, failed or lost).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import zarr

from cube.errors import InputError, NotFoundError
from cube.storage import (
    PARTIAL_SUFFIX,
    CubeStore,
    FsspecCubeStore,
    LocalCubeStore,
    S3CubeStore,
    open_store,
)

KINDS = {"local": LocalCubeStore, "s3": S3CubeStore}


@pytest.fixture(params=sorted(KINDS))
def store(request, tmp_path) -> CubeStore:
    """An empty store of each kind: a fresh directory, or a fresh prefix in the ``cubes`` bucket."""
    if request.param == "local":
        return open_store(str(tmp_path / "cube"))
    server = request.getfixturevalue("s3_server")
    return open_store(f"s3://cubes/conformance-{uuid.uuid4().hex[:12]}", server["storage_options"])


def visible(store: CubeStore) -> list[str]:
    """Every file of the store except the local compare-and-swap lock file."""
    return [k for k in store.find() if not k.startswith(".leases/")]


def test_open_store_picks_the_implementation(store, request):
    kind = request.node.callspec.params["store"]
    assert type(store) is KINDS[kind]
    assert isinstance(store, CubeStore)
    assert store.is_local is (kind == "local")
    with pytest.raises(TypeError):
        CubeStore(store.url)  # the interface itself has no implementation


def test_write_read_exists_overwrite(store):
    assert not store.exists("a/b/c.bin")
    store.write_bytes("a/b/c.bin", b"\x00first\xff")
    assert store.exists("a/b/c.bin")
    assert store.read_bytes("a/b/c.bin") == b"\x00first\xff"
    store.write_bytes("a/b/c.bin", b"second")
    assert store.read_bytes("a/b/c.bin") == b"second"
    store.write_bytes("empty", b"")
    assert store.read_bytes("empty") == b""


def test_read_many_gives_each_keys_bytes_in_order_and_none_where_absent(store):
    """`read_many` (the SLC chunks of a window in one call: concurrent GETs on S3)."""
    keys = [f"m/{i}/0" for i in range(12)]
    for i, key in enumerate(keys):
        if i % 3:
            store.write_bytes(key, bytes([i]) * (i + 1))
    asked = [*reversed(keys), "m/none", keys[1]]
    got = store.read_many(asked)
    assert got == [None if i % 3 == 0 else bytes([i]) * (i + 1) for i in reversed(range(12))] + [None, b"\x01\x01"]
    assert store.read_many([]) == []


def test_json_round_trip(store):
    doc = {"format": "1.1", "dates": [{"date_key": "20240101T000000", "index": 0}], "x": None}
    store.write_json("meta/doc.json", doc)
    assert store.read_json("meta/doc.json") == doc


def test_missing_key_raises_not_found_naming_the_url(store):
    with pytest.raises(NotFoundError, match=r"does not exist") as info:
        store.read_bytes("nothing/here.bin")
    assert isinstance(info.value, FileNotFoundError)
    assert store.child_url("nothing/here.bin") in str(info.value)
    with pytest.raises(NotFoundError):
        store.read_json("nothing.json")


def test_list_names_one_level_and_find_every_file(store):
    for key in ("g/b/2.bin", "g/a.bin", "g/b/1.bin", "g/c/d/e.bin", "other.bin"):
        store.write_bytes(key, key.encode())
    assert store.list("g") == ["a.bin", "b", "c"]
    assert store.list("g/b") == ["1.bin", "2.bin"]
    assert store.list("missing") == []
    assert store.find("g") == ["a.bin", "b/1.bin", "b/2.bin", "c/d/e.bin"]
    assert store.find("missing") == []
    assert visible(store) == ["g/a.bin", "g/b/1.bin", "g/b/2.bin", "g/c/d/e.bin", "other.bin"]


def test_delete_is_idempotent(store):
    store.write_bytes("d/x.bin", b"x")
    store.write_bytes("d/y.bin", b"y")
    store.delete("d/x.bin")
    assert not store.exists("d/x.bin")
    assert store.list("d") == ["y.bin"]
    store.delete("d/x.bin")  # gone already: no error
    store.delete("never/was.bin")
    with pytest.raises(NotFoundError):
        store.read_bytes("d/x.bin")


# -- compare-and-swap -----------------------------------------------------------------------------


def test_read_versioned_of_a_missing_key(store):
    assert store.read_versioned("cas/doc.json") == (None, None)


def test_write_if_creates_only_if_absent(store):
    assert store.write_if("cas/doc.json", b"one", None)
    data, version = store.read_versioned("cas/doc.json")
    assert data == b"one" and version
    assert not store.write_if("cas/doc.json", b"two", None)  # it exists now
    assert store.read_versioned("cas/doc.json") == (b"one", version)


def test_write_if_rejects_a_stale_version(store):
    store.write_if("cas/doc.json", b"one", None)
    _, v1 = store.read_versioned("cas/doc.json")
    assert store.write_if("cas/doc.json", b"two", v1)
    data, v2 = store.read_versioned("cas/doc.json")
    assert data == b"two" and v2 and v2 != v1
    assert not store.write_if("cas/doc.json", b"three", v1)  # v1 is stale
    assert store.read_versioned("cas/doc.json") == (b"two", v2)
    store.write_bytes("cas/doc.json", b"plain write")  # a write of any kind changes the version
    assert not store.write_if("cas/doc.json", b"four", v2)
    assert store.read_bytes("cas/doc.json") == b"plain write"


def test_a_raising_guard_writes_nothing(store):
    class Stop(Exception):
        pass

    def stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        store.write_if("cas/new.json", b"x", None, guard=stop)
    assert store.read_versioned("cas/new.json") == (None, None)
    store.write_if("cas/doc.json", b"one", None)
    before = store.read_versioned("cas/doc.json")
    with pytest.raises(Stop):
        store.write_if("cas/doc.json", b"two", before[1], guard=stop)
    assert store.read_versioned("cas/doc.json") == before
    calls = []
    assert store.write_if("cas/doc.json", b"two", before[1], guard=lambda: calls.append(1))
    assert calls == [1] and store.read_bytes("cas/doc.json") == b"two"
    assert visible(store) == ["cas/doc.json"]  # no temporary file left by the stopped writers


def test_exactly_one_of_many_racers_wins(store):
    """8 writers read the same version and swap at once, for a new key and for an update.

    Versions are content hashes (SHA-256 locally, the ETag on S3): writing the same bytes
    again keeps the version, so every round writes bytes of its own.
    """
    version = None
    for rnd in range(2):
        start = threading.Barrier(8)

        def race(i: int, rnd=rnd, version=version, start=start) -> bool:
            start.wait()
            return store.write_if("cas/race.json", f"round {rnd} writer {i}".encode(), version)

        with ThreadPoolExecutor(8) as pool:
            wins = list(pool.map(race, range(8)))
        assert sum(wins) == 1, wins
        data, version = store.read_versioned("cas/race.json")
        assert data == f"round {rnd} writer {wins.index(True)}".encode()
    assert visible(store) == ["cas/race.json"]


# -- atomic writes ----------------------------------------------------------------------------------


def test_readers_see_old_or_new_bytes_never_a_part(store):
    """While one writer alternates two 4 MiB values, readers only ever read one of them whole."""
    a, b = b"A" * (4 << 20), b"B" * (4 << 20)
    store.write_bytes("big.bin", a)
    done = threading.Event()
    seen: set[bytes] = set()

    def read() -> None:
        while not done.is_set():
            data = store.read_bytes("big.bin")
            seen.add(data[:1] + data[-1:] + str(len(data)).encode())

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for i in range(6):
        store.write_bytes("big.bin", b if i % 2 == 0 else a)
    done.set()
    for t in readers:
        t.join()
    assert seen <= {b"AA4194304", b"BB4194304"}
    assert visible(store) == ["big.bin"]


def test_a_failed_write_leaves_the_old_bytes_and_nothing_else(store):
    store.write_bytes("w/doc.bin", b"old")

    class Unwritable:
        """Not bytes: the write fails after it started."""

    with pytest.raises(Exception):  # noqa: B017 (TypeError locally, whatever the S3 client raises)
        store.write_bytes("w/doc.bin", Unwritable())  # type: ignore[arg-type]
    assert store.read_bytes("w/doc.bin") == b"old"
    assert visible(store) == ["w/doc.bin"]


def test_stale_partials_are_found_only_where_writes_leave_them(store, request):
    if request.node.callspec.params["store"] == "local":
        old = os.path.join(store.path("x"), f"chunk.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
        os.makedirs(os.path.dirname(old))
        open(old, "wb").close()
        young = old.replace("chunk.", "young.")
        open(young, "wb").close()
        os.utime(old, (time.time() - 3600, time.time() - 3600))
        assert store.stale_partials(600) == [old]
    else:
        store.write_bytes(f"x/chunk.{uuid.uuid4().hex}{PARTIAL_SUFFIX}", b"")  # an object like one
        assert store.stale_partials(0) == []  # a PUT publishes whole: no temporary objects


# -- zarr and leases beside the data ------------------------------------------------------------------


def test_zarr_store_round_trips_an_array(store):
    values = (np.arange(6 * 7, dtype=np.complex64) * (1 - 2j)).reshape(6, 7)
    arr = zarr.create_array(store.zarr_store("z.zarr"), name="slc", shape=values.shape, chunks=(4, 4),
                            dtype=values.dtype)
    arr[:] = values
    again = open_store(store.url, store.storage_options)
    read = zarr.open_array(again.zarr_store("z.zarr", read_only=True), path="slc")
    np.testing.assert_array_equal(read[:], values)
    assert "z.zarr/slc/zarr.json" in visible(again)
    assert all(not k.endswith(PARTIAL_SUFFIX) for k in visible(again))


def test_lease_backend_gives_a_lease_to_one_holder(store):
    leases = store.lease_backend(".leases")
    held = leases.try_acquire("slc.zarr/group", 30)
    assert held is not None
    assert leases.try_acquire("slc.zarr/group", 30) is None
    assert leases.peek("slc.zarr/group").token == held.token
    leases.release(held)
    assert leases.peek("slc.zarr/group") is None
    assert leases.try_acquire("slc.zarr/group", 30) is not None


def test_other_fsspec_stores_read_and_write_but_refuse_compare_and_swap():
    """A URL of another fsspec file system (here ``memory://``) gets `FsspecCubeStore`: plain
    reads and writes, and a clear error where a shared cube needs S3 or a local path."""
    store = open_store(f"memory://conformance-{uuid.uuid4().hex[:12]}")
    assert type(store) is FsspecCubeStore and not store.is_local
    store.write_bytes("a/b.bin", b"x")
    assert store.read_bytes("a/b.bin") == b"x" and store.list("a") == ["b.bin"]
    assert store.read_many(["a/b.bin", "a/c.bin"]) == [b"x", None]
    globbed = open_store(f"memory://run[1]-{uuid.uuid4().hex[:12]}/cube")  # a glob character in the URL
    globbed.write_bytes("a/b.bin", b"y")
    assert globbed.read_many(["a/b.bin", "a/c.bin"]) == [b"y", None]
    for call in (lambda: store.read_versioned("a/b.bin"), lambda: store.write_if("a/b.bin", b"y", None),
                 lambda: store.lease_backend()):
        with pytest.raises(InputError, match=store.url):
            call()
    assert store.read_bytes("a/b.bin") == b"x"
