"""Configuration in one place.

The settings of the API and of the worker, from ``SARCUBE_*`` environment variables, and the lazy
engine they describe.

Only this module reads the environment: an entry point (``sarcube serve``, a Lambda handler in
``functions/``, ``sarcube-worker``) builds its settings here and passes them down. Importing it
is light (pydantic only); :func:`make_engine` imports the engine when called.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import typing
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from cube.materialize import ArdEngine

INDEX_VARIABLES = ("SARCUBE_BURST_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "CLOUD_RUN_TASK_INDEX")
"""Environment variables a worker's burst index is taken from, first set wins (all 0-based).
SLURM's ``SLURM_ARRAY_TASK_ID`` is not among them: array ranges need not start at 0, so
``containers/slurm/sarcube-array.sbatch`` passes ``--burst-index`` itself."""


OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
"""OpenStreetMap's raster tiles, the viewer's default base map (their usage policy applies)."""
OSM_ATTRIBUTION = "© OpenStreetMap contributors"


class EnvSettings(BaseModel):
    """Settings read from environment variables; values given to the constructor win.

    A field's variable is ``SARCUBE_<FIELD>``, or for a field with a validation alias the first of
    the alias's names that is set (no prefix); names in any case. A dict or list field's value is
    JSON; any other is text that the field's type converts (``true``, ``16``, ``4.5``). This is what
    pydantic-settings does for these models, without its import (some 40 ms of a server's start).
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)
    env_prefix: ClassVar[str] = "SARCUBE_"

    @model_validator(mode="before")
    @classmethod
    def _read_environment(cls, data: Any) -> Any:
        """The environment's values under the given ones (a value that is not JSON is the field's error)."""
        if not isinstance(data, dict):
            return data
        environ = {k.lower(): v for k, v in os.environ.items()}
        found: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            names = ([c for c in alias.choices if isinstance(c, str)] if isinstance(alias, AliasChoices)
                     else [cls.env_prefix + name.upper()])
            var = next((n for n in names if n.lower() in environ), None)
            if var is None:
                continue
            value: Any = environ[var.lower()]
            if (typing.get_origin(field.annotation) or field.annotation) in (dict, list):
                try:
                    value = json.loads(value)
                except ValueError:
                    pass  # refused as the field's own error, naming it ("Input should be a valid ...")
                if value is None:  # JSON null: the default
                    continue
            found[var if alias is not None else name] = value
        return {**found, **data}


class Settings(EnvSettings):
    """Where the cube, the ARD store and the job records are, and the request limits."""

    cube_url: str = Field(description="the SLC cube (path or s3://)")
    ard_url: str | None = Field(None, description="the ARD store (default <cube>/ard.zarr)")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (JSON)")
    jobs_url: str | None = Field(None, description="job records: *.sqlite path or dynamodb://table")
    jobs_table: str | None = Field(None, description="DynamoDB table of job records (bare name)")
    lock_table: str | None = Field(
        None, description="DynamoDB table of chunk leases (bare name, or a lease URL such as dynamodb://table)"
    )
    executor: Literal["local", "dask", "aws"] = Field("local", description="where /jobs run")
    jobs_enabled: bool = Field(
        True, description="false: start no jobs (POST /jobs and over-limit requests answer 403 jobs_disabled)"
    )
    dask_address: str | None = Field(
        None, description="scheduler of the dask executor (default: a LocalCluster)"
    )
    state_machine_arn: str | None = Field(
        None, description="Step Functions state machine of the aws executor"
    )
    # Request limits. The defaults fit AWS Lambda behind an HTTP API (29 s function timeout,
    # 6 MB response payload); ``sarcube serve`` may raise them (SARCUBE_* variables or flags).
    max_chunks_per_request: int = Field(
        16, ge=1, description="chunks one request may compute; more → 202 + job"
    )
    max_response_mb: float = Field(
        4.5,
        gt=0,
        description="largest response body, MB (Lambda: 6 MB payload, binary bodies base64-encoded "
        "→ 4.5 MB); more → 413",
    )
    max_zonal_pixels: int = Field(
        20_000_000,
        ge=1,
        description="/zonal pixel visits: (window + Σ parcel bounding boxes) × dates; more → 413",
    )
    worker_vcpu: float = Field(1.0, gt=0, description="vCPU of one worker task (for cost estimates)")
    worker_memory_gb: float = Field(4.0, gt=0, description="memory of one worker task, GB (cost estimates)")
    lease_ttl_s: float = Field(
        15.0,
        gt=0,
        description="how long a crashed computation blocks others, s (a live one renews every ttl/3)",
    )
    wait_s: float = Field(
        20.0,
        gt=0,
        description="how long a request waits for another's computation, s (< Lambda's 29 s timeout)",
    )
    basemap: str = Field(
        OSM_TILES, description="the viewer's base map: an XYZ raster tile URL ({z}/{x}/{y}), a MapLibre "
        "style URL (ending in .json), or none"
    )
    basemap_attribution: str = Field(
        OSM_ATTRIBUTION, description="attribution shown with an XYZ base map (a style names its own)"
    )
    isce2_sources: list[str] = Field(
        default_factory=list,
        description="where the ISCE2 engine's jobs find the SAFEs of the cube's dates (folders or zips, "
        "JSON list); jobs started by requests for engine=isce2 get them",
    )

    # -- authentication and quotas (cube.api.auth; docs/api.md "Authentication and jobs") ---------
    auth_mode: Literal["app", "gateway"] = Field(
        "app", description="app: verify API keys / JWTs here; gateway: trust the API Gateway's verified "
        "JWT claims (Lambda behind an authorizer), and nothing else"
    )
    api_keys: dict[str, str] = Field(
        default_factory=dict, description="user name → SHA-256 (hex) of the user's API key (JSON)"
    )
    api_keys_file: str | None = Field(None, description="JSON file of that map (sarcube serve --api-keys)")
    jwt_issuer: str | None = Field(None, description="OIDC issuer URL of accepted JWTs (JWKS via discovery)")
    jwt_audience: str | None = Field(None, description="audience (client ID) accepted JWTs must name")
    allow_anonymous: bool = Field(
        False, description="serve reads without credentials (never starts a job); off unless set"
    )
    max_bursts_per_day: int = Field(200, ge=0, description="bursts one user may submit in 24 h; more → 429")
    max_concurrent_jobs: int = Field(4, ge=0, description="queued or running jobs per user; more → 429")

    def auth_configured(self) -> bool:
        """Whether any way to identify a caller is set (gateway claims, API keys or JWTs)."""
        return self.auth_mode == "gateway" or bool(self.api_keys or self.api_keys_file or self.jwt_issuer)

    def resolved_jobs_url(self) -> str:
        """The job store URL: jobs_url, else dynamodb://jobs_table, else a local SQLite file."""
        if self.jobs_url:
            return self.jobs_url
        if self.jobs_table:
            return f"dynamodb://{self.jobs_table}"
        if "://" not in self.cube_url or self.cube_url.startswith("file://"):
            root = self.cube_url.removeprefix("file://")
            return os.path.join(root, ".sarcube", "jobs.sqlite")
        return os.path.join(tempfile.gettempdir(), f"sarcube-jobs-{os.getuid()}.sqlite")

    @classmethod
    def for_job(
        cls, cube_url: str, ard_url: str | None, storage_options: dict[str, Any], lock_table: str | None
    ) -> Settings:
        """The settings of a job's engine.

        The job's own stores (not the environment's), chunk leases in ``lock_table`` if given, and a
        worker's patience (60 s leases, 120 s waits: no 29 s request timeout). The values come from
        a validated job, so they are not checked again.
        """
        return cls.model_construct(cube_url=cube_url, ard_url=ard_url, storage_options=dict(storage_options),
                                   lock_table=lock_table, lease_ttl_s=60.0, wait_s=120.0)


class WorkerSettings(EnvSettings):
    """What a process running job bursts takes from its environment.

    ``sarcube-worker`` (flags override each of these), and the lock table of the local and Dask
    executors' processes.
    """

    job: str | None = Field(None, description="job file path or URL")
    burst_index: int | None = Field(
        None, ge=0, validation_alias=AliasChoices(*INDEX_VARIABLES), description="0-based burst of the job"
    )
    burst_id: str | None = Field(None, description="the burst ID expected at that index (state machine)")
    job_id: str | None = Field(None, description="job record to add this burst's metrics to")
    jobs_url: str | None = Field(None, description="job store: *.sqlite path, sqlite:///path or dynamodb://table")
    jobs_table: str | None = Field(None, description="DynamoDB job table (bare name), if no jobs_url")
    cube_url: str | None = Field(None, description="the SLC cube (flag mode)")
    ard_url: str | None = Field(None, description="the ARD store (flag mode; default <cube>/ard.zarr)")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (JSON)")
    lock_table: str | None = Field(
        None, description="DynamoDB table of chunk leases (bare name or dynamodb://table; default: beside "
        "the ARD store)"
    )
    log_level: str | None = Field(
        None, validation_alias=AliasChoices("LOG_LEVEL"), description="DEBUG, INFO (default), WARNING"
    )
    numba_threads: int | None = Field(
        None, ge=1, le=1024, description="threads of the numba kernels in this process (default: the CPUs "
        "it may use, `available_cpus`: 1 on a 1-vCPU Fargate task; 1 in a Dask worker process)"
    )

    def resolved_numba_threads(self) -> int:
        """``numba_threads``, else the CPUs this process may use (`available_cpus`)."""
        return self.numba_threads or available_cpus()

    def resolved_jobs_url(self) -> str | None:
        """``jobs_url``, else ``dynamodb://<jobs_table>``, else None."""
        if self.jobs_url:
            return self.jobs_url
        return f"dynamodb://{self.jobs_table}" if self.jobs_table else None


def _cgroup_cpus(root: str = "/sys/fs/cgroup") -> float | None:
    """The cgroup CPU quota of this process (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), CPUs; None if none."""
    try:
        with open(f"{root}/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(f"{root}/cpu/cpu.cfs_quota_us") as fq, open(f"{root}/cpu/cpu.cfs_period_us") as fp:
            quota_us, period_us = int(fq.read()), int(fp.read())
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """The CPUs this process may use: its CPU affinity, capped by its cgroup's quota (at least 1).

    ``os.cpu_count()`` (numba's default thread count) counts the host's: a 1-vCPU Fargate task
    sees 2 and its second numba thread only competes with the first.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.5)))
    return max(1, cpus)


def make_engine(settings: Settings) -> ArdEngine:
    """The lazy engine the settings describe.

    Their cube and ARD store, chunk leases in DynamoDB if ``lock_table`` is set (else beside the ARD
    store), their lease TTL and wait.
    """
    from cube.materialize import ArdEngine
    from cube.storage import make_lease_backend, open_store

    cube = open_store(settings.cube_url, settings.storage_options)
    ard = open_store(settings.ard_url, settings.storage_options) if settings.ard_url else None
    table = settings.lock_table
    leases = make_lease_backend(table if "://" in table else f"dynamodb://{table}") if table else None
    return ArdEngine(cube, ard, leases, lease_ttl_s=settings.lease_ttl_s, wait_s=settings.wait_s)


KEEP_FREED_MEMORY_ENV = {
    "GLIBC_TUNABLES": ("glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0"
                       ":glibc.malloc.trim_threshold=1099511627776"),
    "MALLOC_TRIM_THRESHOLD_": "1099511627776",
}
"""`keep_freed_memory` as environment variables, for processes that compute in threads (a Dask
worker): glibc reads them at process start, and a thread's own malloc arena would otherwise still
take its large arrays from fresh pages. Dask's own default trims freed memory at 64 kB: the
``stack_year`` job's workers spent 41–47 CPU s with it, 31 with these (same peak, 2.6 GB)."""


def keep_freed_memory() -> bool:
    """Keep memory this process frees for its next arrays (glibc malloc); False where it cannot.

    A job allocates the same large arrays again and again (a full-size CSLC's grid is 388 MB of
    complex64, its positions twice that). glibc serves each from fresh ``mmap`` pages and gives
    them back on free, and the kernel zeroes every fresh page on first touch: measured here, 0.5–1.9
    CPU s of system time per full-size CSLC (about 2 s of compute). With mmap off, one arena and
    the heap never trimmed, freed arrays are reused instead. For processes that run many parts
    (a job's worker: a burst's dates and pairs; a Dask worker): the process keeps its peak memory,
    and that peak may grow where freed gaps do not fit the next array (the ``stack_year`` worker:
    2.63 GB, was 2.59). A short job gains nothing: its pages are all fresh anyway, and a job's
    first dates fill the engine's CSLC cache (a 6-date ``sarcube-worker`` burst: the same CPU
    with or without). The ``cslc_burst`` loop: 1.44 s per date with, 1.75 s without. Threads
    that already have their own arena keep it: start such processes with `KEEP_FREED_MEMORY_ENV`.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to set
        return False
    m_trim_threshold, m_mmap_max, m_arena_max = -1, -4, -8  # <malloc.h>
    return all(mallopt(option, value) for option, value in
               ((m_arena_max, 1), (m_mmap_max, 0), (m_trim_threshold, -1)))  # -1: never trim


def limit_blas_threads(threads: int) -> bool:
    """Let OpenBLAS (numpy's, scipy's) start ``threads`` threads at most; whether it can still apply.

    OpenBLAS starts a thread per CPU when it loads, and its idle threads spin after each call:
    on 2 cores, 0.5 CPU s of a full-size pair's 4.7 s of user time went to them, for the
    geometry's matrix products of a few hundred elements. ``OPENBLAS_NUM_THREADS`` set in the
    environment wins. OpenBLAS reads it when it loads, so False once numpy is imported.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(1, threads)))
    return "numpy" not in sys.modules


__all__ = ["INDEX_VARIABLES", "KEEP_FREED_MEMORY_ENV", "EnvSettings", "Settings", "WorkerSettings",
           "available_cpus", "keep_freed_memory", "limit_blas_threads", "make_engine"]
