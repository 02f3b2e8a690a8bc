"""Jobs: one spec (:class:`JobSpec`, also a JSON/YAML file) and interchangeable executors.

- :func:`run_burst` materializes one burst of a job (what a container task or array task runs);
- executors, one per place a job runs (:func:`make_executor` picks one from the settings):
  :class:`LocalExecutor` (process pool), :class:`DaskExecutor` (any Dask cluster, a
  LocalCluster, or SLURM through dask-jobqueue), :class:`AwsExecutor` (Step Functions);
- job records (:class:`JobRecord`, :class:`JobStore`: SQLite or DynamoDB, :func:`make_job_store`):
  the state, progress and per-burst metrics of a job, as ``GET /jobs/{id}`` shows them;
- ``sarcube-worker`` (``cube.jobs._worker``) runs one burst of a job file in a container task;
- the ``isce2`` engine: :func:`run_isce2_burst` runs ISCE2's topsStack for one burst of a
  job and stores its CSLC chunks (the adapter itself is ``cube.isce2``).

Each name is imported on first use (module ``__getattr__``): the API's job records
(``make_job_store``) need neither the executors (dask, boto3) nor the ISCE2 engine (numba).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cube import lazy_names

if TYPE_CHECKING:
    from cube.jobs._aws import MAX_BURSTS_PER_EXECUTION, AwsExecutor, public_storage_options
    from cube.jobs._dask import DaskExecutor, make_dask_cluster
    from cube.jobs._executors import Executor, make_executor
    from cube.jobs._isce2 import isce2_cslc_dataset, read_isce2_cslc, run_isce2_burst
    from cube.jobs._local import LocalExecutor
    from cube.jobs._records import (
        LIVE_STATES,
        UPDATABLE_FIELDS,
        BurstMetrics,
        DynamoDBJobStore,
        JobRecord,
        JobState,
        JobStore,
        Progress,
        SQLiteJobStore,
        job_id_of,
        make_job_record,
        make_job_store,
        request_allowlist,
    )
    from cube.jobs._run import burst_key, job_settings, record_metrics, run_burst
    from cube.jobs._spec import BurstJob, JobSpec, ProductJob, check_job, load_job

#: submodule → the names it gives this package.
_SUBMODULES: dict[str, tuple[str, ...]] = {
    "_aws": (
        "AwsExecutor",
        "MAX_BURSTS_PER_EXECUTION",
        "public_storage_options",
    ),
    "_dask": (
        "DaskExecutor",
        "make_dask_cluster",
    ),
    "_executors": (
        "Executor",
        "make_executor",
    ),
    "_isce2": (
        "isce2_cslc_dataset",
        "read_isce2_cslc",
        "run_isce2_burst",
    ),
    "_local": ("LocalExecutor",),
    "_records": (
        "BurstMetrics",
        "DynamoDBJobStore",
        "JobRecord",
        "JobState",
        "JobStore",
        "LIVE_STATES",
        "Progress",
        "SQLiteJobStore",
        "UPDATABLE_FIELDS",
        "job_id_of",
        "make_job_record",
        "make_job_store",
        "request_allowlist",
    ),
    "_run": (
        "burst_key",
        "job_settings",
        "record_metrics",
        "run_burst",
    ),
    "_spec": (
        "BurstJob",
        "JobSpec",
        "ProductJob",
        "check_job",
        "load_job",
    ),
}
_LAZY = {name: module for module, names in _SUBMODULES.items() for name in names}


__getattr__ = lazy_names("cube.jobs", _LAZY)


__all__ = [
    "MAX_BURSTS_PER_EXECUTION",
    "LIVE_STATES",
    "UPDATABLE_FIELDS",
    "BurstMetrics",
    "DynamoDBJobStore",
    "JobRecord",
    "JobState",
    "JobStore",
    "Progress",
    "SQLiteJobStore",
    "job_id_of",
    "make_job_record",
    "make_job_store",
    "request_allowlist",
    "AwsExecutor",
    "DaskExecutor",
    "Executor",
    "BurstJob",
    "JobSpec",
    "LocalExecutor",
    "ProductJob",
    "burst_key",
    "check_job",
    "job_settings",
    "load_job",
    "make_dask_cluster",
    "make_executor",
    "public_storage_options",
    "record_metrics",
    "run_burst",
    "isce2_cslc_dataset",
    "read_isce2_cslc",
    "run_isce2_burst",
]
