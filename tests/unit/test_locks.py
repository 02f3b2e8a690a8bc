"""Single-flight leases and job records on the local backends (SQLite files); no servers.

The ``check_*`` functions take a backend spec ``(url, kwargs)`` that every process rebuilds
with `make_lease_backend` / `make_job_store` (worker processes are spawned once per module,
``workers``, and meet the test's threads at a file gate); ``test_locks_cloud.py`` runs them
on S3 (SeaweedFS) and DynamoDB (moto). The evidence is independent of the code under
test: every start of a computation appends a line (pid, thread, time) to a log file with
``O_APPEND``, and the result is a file published by rename.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cube.errors import BusyError, ConflictError, CubeError, InputError, NotFoundError
from cube.jobs import (
    BurstMetrics,
    JobRecord,
    JobStore,
    Progress,
    SQLiteJobStore,
    make_job_record,
    make_job_store,
)
from cube.storage import (
    DynamoDBLeaseBackend,
    FileLeaseBackend,
    Lease,
    LeaseBackend,
    S3LeaseBackend,
    make_lease_backend,
    single_flight,
)

Spec = tuple[str, dict[str, Any]]  # (url, keyword arguments of the make_* factory): picklable
SPAWN = mp.get_context("spawn")


# --------------------------------------------------------------------------------------------
# a chunk computation that leaves evidence


class Chunk:
    """A fake ARD chunk in ``directory``: ``<name>`` appears by rename; each start is logged."""

    def __init__(self, directory: str | Path, name: str, work_s: float = 0.25) -> None:
        self.directory = Path(directory)
        self.result = self.directory / name
        self.log = self.directory / f"{name}.starts"
        self.work_s = work_s

    def is_done(self) -> bool:
        return self.result.exists()

    def _start(self) -> Path:
        with open(self.log, "a") as f:  # O_APPEND: one line per write, whole, across processes
            f.write(f"{os.getpid()} {threading.get_ident()} {time.time():.6f}\n")
        tmp = self.directory / f".{self.result.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text("partial")
        return tmp

    def compute(self) -> None:
        tmp = self._start()
        time.sleep(self.work_s)
        tmp.write_text(f"done by {os.getpid()} {threading.get_ident()}")
        os.replace(tmp, self.result)

    def starts(self) -> list[tuple[int, int, float]]:
        if not self.log.exists():
            return []
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return [(int(p), int(t), float(s)) for p, t, s in rows]


def _call(backend: LeaseBackend, chunk: Chunk, key: str, out: list, **kw: Any) -> None:
    try:
        computed = single_flight(backend, key, is_done=chunk.is_done, compute=chunk.compute, **kw)
        out.append((computed, chunk.is_done()))
    except Exception as exc:  # reported to the test, which fails on it
        out.append(("error", repr(exc)))


def _run_threads(backend: LeaseBackend, chunk: Chunk, key: str, n: int, **kw: Any) -> list:
    out: list = []
    threads = [threading.Thread(target=_call, args=(backend, chunk, key, out), kwargs=kw) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _gate_wait(gate: Path, timeout_s: float = 120.0) -> None:
    """Say this party is ready, then wait for the test to open the gate (a start line across processes)."""
    (gate / f"ready-{os.getpid()}-{uuid.uuid4().hex}").touch()
    deadline = time.monotonic() + timeout_s
    while not (gate / "go").exists():
        assert time.monotonic() < deadline, "the test never opened the gate"
        time.sleep(0.002)


def _gate_open(gate: Path, parties: int, timeout_s: float = 120.0) -> None:
    """Wait until ``parties`` are ready, then let them all go."""
    deadline = time.monotonic() + timeout_s
    while len(list(gate.glob("ready-*"))) < parties:
        assert time.monotonic() < deadline, "worker processes did not get ready"
        time.sleep(0.005)
    (gate / "go").touch()


def _race_task(spec: Spec, directory: str, key: str, n_threads: int, work_s: float, gate: str) -> list:
    """In a worker process: rebuild the backend, wait at the gate, then race with n_threads."""
    backend = make_lease_backend(spec[0], **spec[1])
    chunk = Chunk(directory, "chunk", work_s)
    _gate_wait(Path(gate))
    return _run_threads(backend, chunk, key, n_threads)


def _warm_worker() -> None:
    """Pay the imports once per worker process, not once per test."""
    import boto3  # noqa: F401  (the cloud backends build clients in the workers)


@contextmanager
def spawn_workers(n: int, *, cloud: bool = False) -> Iterator[ProcessPoolExecutor]:
    """``n`` spawned worker processes (started on first use), to reuse across tests."""
    with ProcessPoolExecutor(max_workers=n, mp_context=SPAWN, initializer=_warm_worker if cloud else None) as pool:
        yield pool


@pytest.fixture(scope="module")
def workers() -> Iterator[ProcessPoolExecutor]:
    with spawn_workers(3) as pool:
        yield pool


# A holder process that takes the lease and hangs mid-compute until the test SIGKILLs it.
# It runs as a plain ``python -c`` script (no pytest import: it starts faster than a spawned
# worker) and leaves the same evidence as `Chunk.compute`.
_HOLDER = """
import json, os, sys, threading, time
from pathlib import Path
from cube.storage import make_lease_backend, single_flight

url, kw, directory, key, ttl_s = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], float(sys.argv[5])
backend = make_lease_backend(url, **kw)

def compute_and_hang():
    with open(directory / "chunk.starts", "a") as f:
        f.write(f"{os.getpid()} {threading.get_ident()} {time.time():.6f}\\n")
    (directory / f".chunk.{os.getpid()}.tmp").write_text("partial")
    (directory / "chunk.holding").write_text(str(os.getpid()))
    time.sleep(600)

single_flight(backend, key, is_done=(directory / "chunk").exists, compute=compute_and_hang, ttl_s=ttl_s)
"""


def _unique_key() -> str:
    return f"t001_000001_iw2/coherence/v1/c/0/{uuid.uuid4().hex[:8]}"


# --------------------------------------------------------------------------------------------
# checks shared with the cloud backends


def check_token(backend: LeaseBackend) -> None:
    """Exclusive while live; takeover after expiry; a late release or renew does nothing."""
    key = _unique_key()
    first = backend.try_acquire(key, 0.4)
    assert isinstance(first, Lease) and first.key == key and len(first.token) == 32
    assert backend.try_acquire(key, 30) is None
    assert backend.peek(key).token == first.token
    time.sleep(0.5)
    assert backend.peek(key) is None  # expired
    second = backend.try_acquire(key, 30)
    assert second is not None and second.token != first.token
    backend.release(first)  # late: must not free the new holder's lease
    assert backend.renew(first, 30) is None
    assert backend.peek(key).token == second.token
    assert backend.try_acquire(key, 30) is None
    renewed = backend.renew(second, 60)
    assert renewed is not None and renewed.expires > second.expires
    backend.release(renewed)
    assert backend.peek(key) is None
    third = backend.try_acquire(key, 30)
    assert third is not None
    backend.release(third)


def check_single_flight(spec: Spec, directory: Path, workers: ProcessPoolExecutor, *, n_threads: int,
                        n_procs: int, threads_per_proc: int, work_s: float = 0.3) -> dict[str, float]:
    """Threads here and in ``n_procs`` worker processes race for one key: exactly one computes."""
    assert n_procs <= workers._max_workers, "every task needs its own worker to reach the gate"
    key = _unique_key()
    gate = directory / "gate"
    gate.mkdir()
    futures = [workers.submit(_race_task, spec, str(directory), key, threads_per_proc, work_s, str(gate))
               for _ in range(n_procs)]
    backend = make_lease_backend(spec[0], **spec[1])
    chunk = Chunk(directory, "chunk", work_s)
    _gate_open(gate, n_procs)
    t0 = time.perf_counter()
    results = _run_threads(backend, chunk, key, n_threads)
    elapsed = time.perf_counter() - t0
    for future in futures:
        results.extend(future.result(timeout=120))
    assert len(results) == n_threads + n_procs * threads_per_proc
    assert not [r for r in results if r[0] == "error"], results
    assert sum(computed for computed, _ in results) == 1
    assert all(done for _, done in results), "a caller returned before the result existed"
    assert len(chunk.starts()) == 1
    assert chunk.result.read_text().startswith("done by ")
    assert backend.peek(key) is None, "the lease was not released"
    return {"callers": len(results), "elapsed_s": elapsed}


def check_crash_takeover(spec: Spec, directory: Path, *, ttl_s: float = 1.0) -> None:
    """A holder SIGKILLed mid-compute: after its TTL another caller takes over and computes."""
    key = _unique_key()
    chunk = Chunk(directory, "chunk", work_s=0.05)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, spec[0], json.dumps(spec[1]), str(directory),
                               key, str(ttl_s)])
    try:
        marker = directory / "chunk.holding"
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert holder.poll() is None and time.monotonic() < deadline, "the holder never started computing"
            time.sleep(0.02)
        backend = make_lease_backend(spec[0], **spec[1])
    finally:
        holder.send_signal(signal.SIGKILL)
    assert holder.wait(timeout=30) == -signal.SIGKILL
    dead = backend.peek(key)
    assert dead is not None, "the killed holder's lease vanished before its TTL"
    assert not chunk.is_done(), "a half-done chunk is visible"
    assert backend.try_acquire(key, 30) is None  # still live: nobody may take it yet
    assert single_flight(backend, key, is_done=chunk.is_done, compute=chunk.compute, timeout_s=30) is True
    starts = chunk.starts()
    assert [pid for pid, _, _ in starts] == [holder.pid, os.getpid()]
    took_over_at = starts[1][2]
    assert dead.expires - 0.05 <= took_over_at <= dead.expires + 2.0
    assert chunk.result.read_text() == f"done by {os.getpid()} {threading.get_ident()}"
    assert backend.peek(key) is None


def check_failed_compute(backend: LeaseBackend, directory: Path) -> None:
    """A compute that raises releases the lease; the next caller computes."""
    key = _unique_key()
    chunk = Chunk(directory, "failing", work_s=0.01)

    def boom() -> None:
        chunk._start()
        raise RuntimeError("numba kernel blew up")

    with pytest.raises(RuntimeError, match="blew up"):
        single_flight(backend, key, is_done=chunk.is_done, compute=boom)
    assert backend.peek(key) is None and not chunk.is_done()
    assert single_flight(backend, key, is_done=chunk.is_done, compute=chunk.compute, timeout_s=5) is True
    assert len(chunk.starts()) == 2 and chunk.is_done()


def check_job_store(store: JobStore) -> None:
    """create / get / update / record_burst / list round trips and their errors."""
    record = make_job_record({"burst_id": "t001_000001_iw2", "product": "coherence"}, total=4)
    assert store.create(record) == record
    got = store.get(record.id)
    assert got == record and got.state == "queued" and got.progress == Progress(done=0, total=4)
    with pytest.raises(ConflictError, match=record.id):
        store.create(record)
    with pytest.raises(NotFoundError, match="no-such-job") as info:
        store.get("no-such-job")
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(NotFoundError, match="no-such-job"):
        store.update("no-such-job", state="running")

    running = store.update(record.id, state="running", message="2 bursts queued")
    assert (running.state, running.message) == ("running", "2 bursts queued")
    assert running.updated > record.updated and running.created == record.created
    assert running.request == record.request and running.progress == record.progress
    assert store.get(record.id) == running

    metrics = BurstMetrics(wall_s=1.25, cpu_s=2.5, bytes_read=10_000_000, bytes_written=4096, chunks_computed=3)
    after = store.record_burst(record.id, "t001_000001_iw2", metrics)
    assert after.metrics == {"t001_000001_iw2": metrics} and after.progress.done == 1
    after = store.record_burst(record.id, "t001_000002_iw2", metrics.model_dump(), done=2)
    assert set(after.metrics) == {"t001_000001_iw2", "t001_000002_iw2"} and after.progress == Progress(done=3, total=4)

    final = store.update(record.id, state="succeeded", progress=Progress(done=4, total=4),
                         result={"zarr": "s3://cubes/ard/x.zarr", "chunks": 6})
    assert final.result == {"zarr": "s3://cubes/ard/x.zarr", "chunks": 6} and final.progress.done == 4
    assert final.metrics == after.metrics  # untouched by an update of other fields
    assert store.get(record.id) == final

    for bad in ({"state": "exploded"}, {"id": "other"}, {"created": final.created}, {"progress": {"done": -1}}):
        with pytest.raises(InputError):
            store.update(record.id, **bad)
    assert store.get(record.id) == final

    newer = []
    for i in range(3):
        time.sleep(0.002)
        newer.append(store.create(make_job_record({"i": i})))
    listed = store.list(limit=2)
    assert [r.id for r in listed] == [newer[2].id, newer[1].id]
    assert [r.id for r in store.list(limit=10)][:4] == [newer[2].id, newer[1].id, newer[0].id, record.id]


def _job_task(spec: Spec, job_id: str, worker: int, n: int, gate: str) -> None:
    store = make_job_store(spec[0], **spec[1])
    _gate_wait(Path(gate))
    for j in range(n):
        store.record_burst(job_id, f"w{worker}_b{j:03d}", BurstMetrics(wall_s=0.1 * j, chunks_computed=j))
        if j % 5 == 0:
            store.update(job_id, message=f"worker {worker} at {j}")


def check_job_store_processes(spec: Spec, directory: Path, workers: ProcessPoolExecutor, *,
                              n_procs: int = 2, n: int = 30) -> None:
    """Workers in separate processes report bursts at once: no update is lost."""
    assert n_procs <= workers._max_workers
    store = make_job_store(spec[0], **spec[1])
    record = store.create(make_job_record({"bursts": n_procs * n}, total=n_procs * n))
    gate = directory / "job-gate"
    gate.mkdir()
    futures = [workers.submit(_job_task, spec, record.id, w, n, str(gate)) for w in range(n_procs)]
    _gate_open(gate, n_procs)
    for future in futures:
        future.result(timeout=120)
    final = store.get(record.id)
    assert final.progress == Progress(done=n_procs * n, total=n_procs * n)
    assert sorted(final.metrics) == sorted(f"w{w}_b{j:03d}" for w in range(n_procs) for j in range(n))
    assert final.metrics[f"w1_b{n - 1:03d}"] == BurstMetrics(wall_s=0.1 * (n - 1), chunks_computed=n - 1)
    assert final.message.startswith("worker ")


# --------------------------------------------------------------------------------------------
# leases on the local backend


@pytest.fixture
def lease_spec(tmp_path: Path) -> Spec:
    return (f"file://{tmp_path / 'leases'}", {})


def test_token_check_file(lease_spec: Spec) -> None:
    check_token(make_lease_backend(lease_spec[0]))


def test_single_flight_threads_and_processes(lease_spec: Spec, tmp_path: Path, workers) -> None:
    stats = check_single_flight(lease_spec, tmp_path, workers, n_threads=50, n_procs=3, threads_per_proc=10)
    assert stats["callers"] == 80


def test_crash_takeover_file(lease_spec: Spec, tmp_path: Path) -> None:
    check_crash_takeover(lease_spec, tmp_path)


def test_failed_compute_releases(lease_spec: Spec, tmp_path: Path) -> None:
    check_failed_compute(make_lease_backend(lease_spec[0]), tmp_path)


def test_heartbeat_keeps_a_long_compute_single(tmp_path: Path) -> None:
    """A compute 3x longer than the TTL stays single thanks to renewal; without it, it doubles.

    The heartbeat renews every TTL / 3, so a renewal may come up to 2/3 TTL late before the
    lease lapses. With 12 threads in one process on a loaded machine (8 busy loops on 2 cores)
    renewals came 0.23 s apart where 0.13 s was due; the 0.4 s TTL this test had left 0.27 s
    of slack and lapsed once under load; a 1 s TTL leaves 0.67 s.
    """
    backend = FileLeaseBackend(tmp_path / "leases")
    ttl_s = 1.0
    renewed, unrenewed = (Chunk(tmp_path, name, work_s=3 * ttl_s) for name in ("renewed", "unrenewed"))
    outs: dict[str, list] = {}
    runs = [threading.Thread(target=lambda: outs.update(renewed=_run_threads(backend, renewed, "renewed", 6,
                                                                             ttl_s=ttl_s))),
            threading.Thread(target=lambda: outs.update(unrenewed=_run_threads(
                backend, unrenewed, "unrenewed", 6, ttl_s=ttl_s, heartbeat=False)))]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    assert sum(r[0] for r in outs["renewed"]) == 1 and len(renewed.starts()) == 1
    assert len(unrenewed.starts()) > 1  # the check above can fail


def test_done_between_checks_skips_compute(tmp_path: Path) -> None:
    """is_done() is asked again once the lease is held: a finished chunk is not recomputed."""
    backend = FileLeaseBackend(tmp_path)
    answers = iter([False, True])
    ran = []
    assert single_flight(backend, "k", is_done=lambda: next(answers), compute=lambda: ran.append(1)) is False
    assert ran == [] and backend.peek("k") is None


def test_busy_error_on_timeout(tmp_path: Path) -> None:
    backend = FileLeaseBackend(tmp_path)
    held = backend.try_acquire("busy/chunk", 30)
    t0 = time.perf_counter()
    with pytest.raises(BusyError, match="busy/chunk") as info:
        single_flight(backend, "busy/chunk", is_done=lambda: False, compute=lambda: None, timeout_s=0.3)
    assert 0.3 <= time.perf_counter() - t0 < 1.0
    assert isinstance(info.value, CubeError) and isinstance(info.value, TimeoutError)
    assert "expires in" in str(info.value)
    backend.release(held)


def test_bad_inputs(tmp_path: Path) -> None:
    backend = FileLeaseBackend(tmp_path)
    with pytest.raises(InputError):
        backend.try_acquire("", 1)
    with pytest.raises(InputError):
        backend.try_acquire("/abs", 1)
    with pytest.raises(InputError):
        backend.try_acquire("k", 0)
    with pytest.raises(InputError, match="ftp"):
        make_lease_backend("ftp://host/x")


def test_make_lease_backend_urls(tmp_path: Path) -> None:
    import boto3

    plain = make_lease_backend(tmp_path / "a")
    assert isinstance(plain, FileLeaseBackend) and plain.directory == tmp_path / "a"
    url = make_lease_backend(f"file://{tmp_path / 'b'}")
    assert isinstance(url, FileLeaseBackend) and url.directory == tmp_path / "b"
    assert (tmp_path / "b" / "leases.sqlite").exists()

    kw = {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1",
          "aws_access_key_id": "x", "aws_secret_access_key": "y"}
    s3 = make_lease_backend("s3://cubes/state/leases/", **kw)
    assert isinstance(s3, S3LeaseBackend) and (s3.bucket, s3.prefix) == ("cubes", "state/leases")
    assert s3.object_key("b/c/0/1") == "state/leases/b/c/0/1.lease"
    client = boto3.client("dynamodb", **kw)
    ddb = make_lease_backend("dynamodb://sarcube-state", client=client)
    assert isinstance(ddb, DynamoDBLeaseBackend) and ddb.table_name == "sarcube-state" and ddb.client is client
    with pytest.raises(InputError):
        make_lease_backend("dynamodb://table/extra", client=client)
    for backend in (plain, s3, ddb):
        assert isinstance(backend, LeaseBackend)


# --------------------------------------------------------------------------------------------
# job records on SQLite


def test_job_store_sqlite(tmp_path: Path) -> None:
    check_job_store(SQLiteJobStore(tmp_path / "jobs.sqlite"))


def test_job_store_sqlite_two_processes(tmp_path: Path, workers) -> None:
    check_job_store_processes((f"sqlite://{tmp_path / 'jobs.sqlite'}", {}), tmp_path, workers)


def test_job_store_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jobs.sqlite"
    record = make_job_store(path).create(make_job_record({"x": 1}))
    again = make_job_store(f"sqlite://{path}")
    assert isinstance(again, SQLiteJobStore) and isinstance(again, JobStore)
    assert again.get(record.id) == record
    with pytest.raises(InputError):
        make_job_store(tmp_path / "jobs.db")


def test_job_record_json_shape() -> None:
    record = make_job_record({"product": "backscatter"}, total=2, job_id="job-1")
    doc = record.model_dump(mode="json")
    assert set(doc) == {"id", "owner", "state", "created", "updated", "progress", "message", "request", "metrics",
                        "result"}
    assert doc["progress"] == {"done": 0, "total": 2} and doc["result"] is None
    assert JobRecord.model_validate_json(record.model_dump_json()) == record
