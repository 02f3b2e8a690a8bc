"""The Dask executor: a job's bursts as tasks of any Dask cluster (one task per burst, fanned out).

``address`` picks the cluster:

- None, ``""`` or ``local://?n_workers=4&threads_per_worker=1``: a ``distributed.LocalCluster``
  of worker processes on this machine (loopback only), started here and closed by ``shutdown``;
- ``tcp://host:8786`` (any scheduler address): a running cluster;
- ``slurm://?cores=4&memory=16GB&queue=normal&walltime=02:00:00&jobs=20``: a
  ``dask_jobqueue.SLURMCluster`` that submits SLURM jobs as work arrives (adaptive, at most
  ``jobs``); other keys come from dask-jobqueue's own config (``jobqueue.slurm`` in
  ``~/.config/dask/jobqueue.yaml``). The workers need the package and the stores' credentials.

A burst's task cuts the burst into parts (:func:`cube.jobs._run.burst_stages`: one per date of
its per-date products, then one per run of consecutive pairs with all their pair products),
runs each part with :func:`cube.jobs.run_burst` as a task of its own (so a one-burst job keeps
every worker busy), then adds the burst's metrics to the job store, which the workers must
reach (a SQLite file on a shared disk, or DynamoDB): its wall time, and the parts' CPU
seconds, bytes and chunks summed. A worker process keeps one engine per cube and ARD store
(the bursts' metadata and DEM read once; the CSLC arrays it computed or read, in the engine's
bounded cache, for the pairs that follow). Give workers one thread each: a part's CPU time is
measured per process. Each task sets its numba threads so that the workers' parallel kernels
share the cores instead of each using a thread per core: on a LocalCluster started here, the
CPUs this process may use divided among the workers' threads (two one-thread workers on two
cores: one numba thread each); on any other cluster, the worker's ``SARCUBE_NUMBA_THREADS``,
else 1 (a single-threaded worker process is one core's worth: scale with processes).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from concurrent.futures import CancelledError
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cube.config import KEEP_FREED_MEMORY_ENV, WorkerSettings, available_cpus, make_engine
from cube.errors import InputError
from cube.jobs._local import _Tracker
from cube.jobs._records import BurstMetrics, JobStore, make_job_store
from cube.jobs._run import add_metrics, burst_stages, record_metrics, run_burst
from cube.jobs._spec import JobSpec, job_settings
from cube.jobs._worker import use_numba_threads
from cube.materialize import ArdEngine

log = logging.getLogger(__name__)

_LOCAL_KEYS = {"n_workers": int, "threads_per_worker": int, "memory_limit": str, "processes": bool}
_SLURM_KEYS = {"cores": int, "memory": str, "processes": int, "queue": str, "account": str,
               "walltime": str, "interface": str, "local_directory": str, "jobs": int, "python": str}


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise ValueError(text)


def _params(address: str, allowed: dict[str, type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_qsl(urlsplit(address).query, keep_blank_values=True):
        if key not in allowed:
            raise InputError(f"dask address {address!r}: unknown option {key!r}; use {sorted(allowed)}")
        kind = allowed[key]
        try:
            out[key] = _bool(value) if kind is bool else kind(value)
        except ValueError:
            raise InputError(f"dask address {address!r}: {key}={value!r} is not a {kind.__name__}") from None
    return out


def make_dask_cluster(address: str | None, **local: Any) -> tuple[Any, Any | None]:
    """What to connect a ``distributed.Client`` to, and the cluster started here (or None).

    Parameters
    ----------
    address : see the module docstring.
    **local : extra ``LocalCluster`` / ``SLURMCluster`` keyword arguments (tests, notebooks).
    """
    text = (address or "").strip()
    scheme = urlsplit(text).scheme if "://" in text else text
    if scheme in ("", "local"):
        import dask.config
        from distributed import LocalCluster

        # Loopback only; the HTTP server on a free port (None would still try 8787 and warn).
        kw: dict[str, Any] = {"processes": True, "threads_per_worker": 1, "host": "127.0.0.1",
                              "dashboard_address": "127.0.0.1:0"}
        kw.update(_params(text, _LOCAL_KEYS))
        kw.update(local)
        if not kw["processes"]:  # threads of this process: its memory is not the workers' own
            cluster = LocalCluster(**kw)
            return cluster, cluster
        # the workers keep the memory they free: in the environment they start with (Dask's
        # pre-spawn settings yield to this process's own variables, and trim by default)
        memory = worker_memory_env()
        saved = {name: os.environ.get(name) for name in memory}
        os.environ.update(memory)
        try:
            with dask.config.set({"distributed.nanny.pre-spawn-environ": {
                    **dask.config.get("distributed.nanny.pre-spawn-environ", {}), **memory},
                    # a burst's parts, one per worker thread at a time: Dask's default (1.1) gives a
                    # one-thread worker two queued parts, and leaves another worker idle
                    "distributed.scheduler.worker-saturation": 1.0}):
                cluster = LocalCluster(**kw)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        return cluster, cluster
    if scheme == "slurm":
        try:
            from dask_jobqueue import SLURMCluster
        except ImportError as exc:  # pragma: no cover - a dependency of the package
            raise InputError("the slurm dask executor needs the dask-jobqueue package") from exc
        kw = _params(text, _SLURM_KEYS)
        jobs = kw.pop("jobs", None)
        kw.update(local)
        kw.setdefault("job_script_prologue", [f"export {k}='{v}'" for k, v in worker_memory_env().items()])
        slurm = SLURMCluster(**kw)
        if jobs:
            slurm.adapt(minimum_jobs=0, maximum_jobs=jobs)
        return slurm, slurm
    if scheme in ("tcp", "tls", "ucx", "inproc", "ws", "wss"):
        return text, None
    raise InputError(
        f"dask address {address!r}: use tcp://host:port (a running scheduler), local:// (a LocalCluster, "
        "the default) or slurm:// (dask-jobqueue)"
    )


def worker_memory_env() -> dict[str, str]:
    """`KEEP_FREED_MEMORY_ENV` for worker processes started here, after this process's ``GLIBC_TUNABLES``."""
    mine = os.environ.get("GLIBC_TUNABLES")
    ours = KEEP_FREED_MEMORY_ENV["GLIBC_TUNABLES"]
    tunables = ours if not mine or ours in mine else f"{mine}:{ours}"
    return {**KEEP_FREED_MEMORY_ENV, "GLIBC_TUNABLES": tunables}


_ENGINES: dict[str, ArdEngine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(spec: JobSpec) -> ArdEngine:
    """The worker process's engine for the job's stores (kept: bursts' metadata read once)."""
    key = json.dumps([spec.cube_url, spec.ard_url, spec.storage_options], sort_keys=True, default=str)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = make_engine(job_settings(spec))
        return engine


def _run_part(part_json: str, numba_threads: int | None = None) -> dict[str, Any]:
    """On a Dask worker: one part of a burst (`burst_stages`); its metrics.

    ``numba_threads``: threads of the numba kernels it runs (None: the worker's
    ``SARCUBE_NUMBA_THREADS``, else 1).
    """
    use_numba_threads(numba_threads or WorkerSettings().numba_threads or 1)
    part = JobSpec.model_validate_json(part_json)
    # the engine outlives the part: its metadata, and its CSLC cache (≤ 2 GB, LRU), from which
    # a pair part takes the CSLCs that this worker's date parts computed
    return run_burst(part, 0, engine=_engine(part)).model_dump(mode="json")


def _run_on_worker(spec_json: str, index: int, job_id: str, jobs_url: str, retries: int = 0,
                   numba_threads: int | None = None) -> dict[str, Any]:
    """On a Dask worker: one burst of a job, its metrics recorded in the job store.

    The burst's parts (`burst_stages`: its dates, then its pairs) run as tasks of their own, so
    one burst keeps every worker busy; this task leaves its worker's thread while it waits.
    """
    from distributed import worker_client

    wall0 = time.perf_counter()
    spec = JobSpec.model_validate_json(spec_json)
    stages = burst_stages(spec, index, _engine(spec))
    if sum(map(len, stages)) == 1:
        metrics = BurstMetrics.model_validate(_run_part(stages[0][0].model_dump_json(), numba_threads))
    else:
        done = []
        with worker_client() as client:
            for s, stage in enumerate(stages):
                futures = [client.submit(_run_part, part.model_dump_json(), numba_threads, pure=False,
                                         retries=retries, key=f"sarcube-{job_id}-{index}-{s}-{k}")
                           for k, part in enumerate(stage)]
                done += [BurstMetrics.model_validate(m) for m in client.gather(futures)]
        metrics = add_metrics(done, time.perf_counter() - wall0)
    record_metrics(make_job_store(jobs_url), job_id, spec.bursts[index], metrics)
    return metrics.model_dump(mode="json")


class _Outcome:
    """A finished Dask future as the local executor's tracker reads it (``.exception()``)."""

    def __init__(self, future: Any):
        try:
            self._exc = future.exception()
        except CancelledError as exc:
            self._exc = exc

    def exception(self) -> BaseException | None:
        return self._exc


class DaskExecutor:
    """Runs each burst of a job as one task of a Dask cluster.

    Parameters
    ----------
    jobs_url : job store the workers record into (a shared ``*.sqlite`` or ``dynamodb://table``).
    address : the cluster (module docstring); None starts a LocalCluster of processes.
    retries : times Dask reruns a failed burst task (chunks already written are kept).
    **cluster_kwargs : extra keyword arguments of the cluster started here.
    """

    name = "dask"

    def __init__(self, jobs_url: str, address: str | None = None, *, retries: int = 0, **cluster_kwargs: Any):
        from distributed import Client, LocalCluster

        self.jobs_url = jobs_url
        self.jobs: JobStore = make_job_store(jobs_url)
        self.retries = retries
        target, self._cluster = make_dask_cluster(address, **cluster_kwargs)
        try:
            self.client = Client(target)
        except BaseException:
            if self._cluster is not None:
                self._cluster.close()
            raise
        self._futures: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self.numba_threads: int | None = None
        """Numba threads per task: a cluster started here shares this machine's cores out."""
        if isinstance(self._cluster, LocalCluster):
            threads = sum(w["nthreads"] for w in self.client.scheduler_info()["workers"].values())
            self.numba_threads = max(1, available_cpus() // max(1, threads))

    def __repr__(self) -> str:
        return f"DaskExecutor({self.jobs_url!r}, scheduler={self.client.scheduler.address!r})"

    def submit(self, spec: JobSpec, job_id: str) -> None:
        """Start a job whose record ``job_id`` exists; returns at once."""
        where = self.client.scheduler.address
        message = f"running {len(spec.bursts)} burst(s) on Dask ({where})"
        self.jobs.update(job_id, state="running", message=message)
        tracker = _Tracker(self.jobs, job_id, len(spec.bursts))
        text = spec.model_dump_json()
        futures = [
            self.client.submit(_run_on_worker, text, index, job_id, self.jobs_url, self.retries,
                               self.numba_threads, key=f"sarcube-{job_id}-{index}", pure=False,
                               retries=self.retries)
            for index in range(len(spec.bursts))
        ]
        with self._lock:
            self._futures[job_id] = futures  # dropped futures would be forgotten by the scheduler
        left = [len(futures)]

        def done(future: Any, burst_id: str) -> None:
            tracker.done(_Outcome(future), burst_id)
            with self._lock:
                left[0] -= 1
                if left[0] == 0:
                    self._futures.pop(job_id, None)

        for index, future in enumerate(futures):
            future.add_done_callback(lambda f, b=spec.bursts[index].burst_id: done(f, b))

    def wait(self, job_id: str, timeout: float | None = None) -> list[BurstMetrics]:
        """Block until a job submitted here ends; its bursts' metrics (raises a burst's error)."""
        with self._lock:
            futures = list(self._futures.get(job_id, []))
        if not futures:
            record = self.jobs.get(job_id)
            return list(record.metrics.values())
        from distributed import wait

        wait(futures, timeout=timeout)  # TimeoutError past ``timeout`` seconds
        return [BurstMetrics.model_validate(r) for r in self.client.gather(futures)]

    def shutdown(self) -> None:
        """Close the client and the cluster started here (a remote cluster keeps running)."""
        with self._lock:
            self._futures.clear()
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
