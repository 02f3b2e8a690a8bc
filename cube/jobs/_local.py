"""The local executor: a job's bursts in a process pool on this machine."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from cube.config import keep_freed_memory, limit_blas_threads
from cube.jobs._records import JobStore, make_job_store
from cube.jobs._run import record_metrics, run_burst
from cube.jobs._spec import JobSpec


class Finished(Protocol):
    """A finished task as the tracker reads it (a ``concurrent.futures.Future``, a Dask outcome)."""

    def exception(self) -> BaseException | None:
        """The task's exception, or None if it succeeded."""
        ...

log = logging.getLogger(__name__)


def _run_one(spec_json: str, index: int, job_id: str, jobs_url: str) -> None:
    """In a worker process: one burst of a job, its metrics recorded in the job store."""
    limit_blas_threads(1)  # one process per CPU: OpenBLAS threads would only spin
    keep_freed_memory()
    spec = JobSpec.model_validate_json(spec_json)
    metrics = run_burst(spec, index)
    record_metrics(make_job_store(jobs_url), job_id, spec.bursts[index], metrics)


class LocalExecutor:
    """Runs each burst of a job as one task of a process pool (``spawn``: no forked numba state).

    Parameters
    ----------
    jobs_url : job store the workers record into (``*.sqlite``).
    max_workers : processes (default: the CPU count).
    """

    name = "local"

    def __init__(self, jobs_url: str, max_workers: int | None = None):
        self.jobs_url = jobs_url
        self.jobs: JobStore = make_job_store(jobs_url)
        self._pool = ProcessPoolExecutor(
            max_workers=max_workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, spec: JobSpec, job_id: str) -> None:
        """Start a job whose record ``job_id`` exists; returns at once."""
        self.jobs.update(job_id, state="running", message=f"running {len(spec.bursts)} burst(s) locally")
        tracker = _Tracker(self.jobs, job_id, len(spec.bursts))
        for index in range(len(spec.bursts)):
            future = self._pool.submit(_run_one, spec.model_dump_json(), index, job_id, self.jobs_url)
            future.add_done_callback(functools.partial(tracker.done, burst_id=spec.bursts[index].burst_id))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Tracker:
    """Marks the job succeeded when every burst is done, or failed at the first failure."""

    def __init__(self, jobs: JobStore, job_id: str, total: int):
        self.jobs, self.job_id, self.left, self.failed = jobs, job_id, total, False
        self._lock = threading.Lock()

    def done(self, future: Finished, burst_id: str) -> None:
        with self._lock:
            self.left -= 1
            exc = future.exception()
            if exc is not None and not self.failed:
                self.failed = True
                log.error("job %s: burst %s failed: %s", self.job_id, burst_id, exc)
                self.jobs.update(self.job_id, state="failed", message=f"burst {burst_id}: {exc}")
            elif self.left == 0 and not self.failed:
                self.jobs.update(self.job_id, state="succeeded", message="done")
