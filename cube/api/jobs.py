"""``/jobs``: work too large for one request, run by the configured executor.

Jobs are private: each record has an ``owner`` (the authenticated caller who started it),
``GET /jobs`` lists the caller's own jobs and ``GET /jobs/{id}`` of someone else's job is
404. `start_job` is the one way a job starts (``POST /jobs`` and the 202 of a large read):
it refuses anonymous callers, checks the job against the cube (`cube.jobs.check_job`),
answers an identical live job of the same owner instead of starting another, and holds each
user to ``max_concurrent_jobs`` and ``max_bursts_per_day`` (429 with ``Retry-After``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cube.api._errors import JobsDisabledError
from cube.api.auth import QuotaError, current_user, require_owner
from cube.config import Settings
from cube.errors import NotFoundError
from cube.jobs import (
    MAX_BURSTS_PER_EXECUTION,
    BurstJob,
    Executor,
    JobRecord,
    JobSpec,
    check_job,
    job_id_of,
    make_executor,
    make_job_record,
)

router = APIRouter(tags=["jobs"])

#: On-demand Fargate prices (us-east-1, x86): per vCPU-hour and per GB-hour, USD; a task is
#: billed for one minute at least.
VCPU_HOUR_USD = 0.04048
GB_HOUR_USD = 0.004445
MIN_BILLED_S = 60.0


class JobRequest(BaseModel):
    """The bursts to materialize on this API's cube (the job file's ``bursts``)."""

    model_config = ConfigDict(extra="forbid")

    bursts: list[BurstJob] = Field(min_length=1, max_length=MAX_BURSTS_PER_EXECUTION)


def job_view(record: JobRecord, settings: Settings) -> dict:
    """A job record with its progress and its cost.

    The progress: bursts done and total, elapsed and remaining time (`JobRecord.progress_report`).
    The cost: measured so far, and forecast for the bursts left. Each burst is one worker
    task of ``settings.worker_vcpu`` vCPU and ``worker_memory_gb`` GB, billed for its wall time
    (one minute at least) at Fargate on-demand prices. Image pulls and task start-up are not
    in the wall time, so this is a lower bound.
    """
    doc = record.model_dump(mode="json")
    doc["progress"] = record.progress_report()
    walls = [max(m.wall_s, MIN_BILLED_S) for m in record.metrics.values()]
    rate = (settings.worker_vcpu * VCPU_HOUR_USD + settings.worker_memory_gb * GB_HOUR_USD) / 3600
    per_burst = sum(walls) / len(walls) if walls else None
    left = max(record.progress.total - record.progress.done, 0)
    doc["cost"] = {
        "worker": f"{settings.worker_vcpu:g} vCPU, {settings.worker_memory_gb:g} GB (Fargate on-demand, "
        f"≥ {MIN_BILLED_S:g} s per task)",
        "spent_usd": round(sum(walls) * rate, 6),
        "per_burst_s": per_burst,
        "per_burst_usd": round(per_burst * rate, 6) if per_burst is not None else None,
        "remaining_usd": round(per_burst * rate * left, 6) if per_burst is not None else None,
        "chunks_computed": sum(m.chunks_computed for m in record.metrics.values()),
    }
    return doc


#: How far back ``max_bursts_per_day`` counts.
QUOTA_WINDOW = timedelta(days=1)
#: Retry-After of the concurrent-jobs quota, s (a job's bursts take minutes).
CONCURRENT_RETRY_S = 60


def check_quota(request: Request, owner: str, bursts: int) -> None:
    """QuotaError (429) if ``owner`` is over a job quota with ``bursts`` more.

    The quotas: ``max_concurrent_jobs`` jobs queued or running, and ``max_bursts_per_day``
    bursts submitted within 24 hours.
    """
    s: Settings = request.app.state.settings
    now = datetime.now(UTC)
    recent = [r for r in request.app.state.jobs.list(1000, owner=owner)
              if r.state in ("queued", "running") or now - r.created < QUOTA_WINDOW]
    active = [r for r in recent if r.state in ("queued", "running")]
    if len(active) >= s.max_concurrent_jobs:
        raise QuotaError(
            f"user {owner} has {len(active)} job(s) queued or running, the most allowed at once "
            f"(max_concurrent_jobs={s.max_concurrent_jobs}); wait for one to finish (GET /jobs)",
            CONCURRENT_RETRY_S,
        )
    today = sorted((r for r in recent if now - r.created < QUOTA_WINDOW), key=lambda r: r.created)
    used = sum(r.progress.total for r in today)
    if used + bursts > s.max_bursts_per_day:
        # the earliest moment enough bursts leave the 24-hour window
        free, wait = s.max_bursts_per_day - used, QUOTA_WINDOW.total_seconds()
        for r in today:
            free += r.progress.total
            if free >= bursts:
                wait = (r.created + QUOTA_WINDOW - now).total_seconds()
                break
        raise QuotaError(
            f"user {owner} submitted {used} burst(s) in the last 24 h; {bursts} more would exceed "
            f"max_bursts_per_day={s.max_bursts_per_day}; retry later or submit fewer bursts",
            int(wait) + 1,
        )


def start_job(request: Request, bursts: list[BurstJob], *, what: str) -> tuple[JobRecord, bool]:
    """Start a job of ``bursts`` on this API's cube for the caller.

    Returns (its record, whether it was started now). An identical live job of the same caller is answered
    instead of starting another (its id derives from the owner and the request, and the record is
    claimed atomically).

    AuthenticationError for anonymous callers (``what`` names the request in the message),
    JobsDisabledError (403) where the deployment starts no jobs, NotFoundError/InputError
    from `cube.jobs.check_job`, QuotaError over quota.
    """
    owner = require_owner(request, what=what)
    state = request.app.state
    s = state.settings
    if not s.jobs_enabled:
        raise JobsDisabledError(f"{what} needs a job, but this deployment starts no jobs "
                                "(SARCUBE_JOBS_ENABLED=false); narrow the request, or ask its operator")
    check_job(bursts, state.engine)
    spec = JobSpec(cube_url=s.cube_url, ard_url=s.ard_url, storage_options=s.storage_options,
                   sources=s.isce2_sources, bursts=bursts)
    request_doc = spec.model_dump(mode="json")  # the record keeps only the allowlisted fields
    job_id = job_id_of(owner, request_doc, scope=state.settings.cube_url)
    try:
        existing = state.jobs.get(job_id)
    except NotFoundError:
        existing = None
    if existing is not None and existing.state != "failed":
        return existing, False
    check_quota(request, owner, len(spec.bursts))
    record, created = state.jobs.claim(
        make_job_record(request_doc, total=len(spec.bursts), job_id=job_id, owner=owner)
    )
    if created:
        executor_of(request.app).submit(spec, record.id)
    return record, created


def executor_of(app: FastAPI) -> Executor:
    """The app's executor (``settings.executor``), started by its first job."""
    if app.state._executor is None:
        app.state._executor = make_executor(app.state.settings)
    return app.state._executor


def submit_job(request: Request, bursts: list, *, reason: str, retry: str | None = None) -> JSONResponse:
    """Create a job record, start it on the executor, answer 202 with its Location."""
    # owner, checks against the cube, one job per identical request, quotas (cube.api.jobs)
    record, started = start_job(request, bursts, what="this read" if retry else "POST /jobs")
    location = str(request.url_for("get_job", job_id=record.id).path)
    body = {
        "job_id": record.id,
        "state": record.state,
        "detail": f"{reason}: {'started' if started else 'the same request is'} job {record.id}; "
        f"poll {location}" + (f", then repeat the request ({retry})" if retry else ""),
        "location": location,
    }
    return JSONResponse(body, status_code=202, headers={"Location": location})


def own_job(request: Request, job_id: str) -> JobRecord:
    """The caller's job ``job_id``.

    NotFoundError (404) if it is missing or someone else's, with the same message either way (the
    answer does not reveal that another user's job exists).
    """
    missing = NotFoundError(f"job {job_id!r} not found; list your jobs with GET /jobs")
    user = current_user(request)
    try:
        record = request.app.state.jobs.get(job_id)
    except NotFoundError:
        raise missing from None
    if user is None or record.owner != user.name:
        raise missing
    return record


@router.post("/jobs", status_code=202, summary="Submit a job (materialize products of bursts)")
def create_job(body: JobRequest, request: Request) -> JSONResponse:
    """Start a job; 202 with ``Location: /jobs/{id}``."""
    return submit_job(request, body.bursts, reason="submitted")


@router.get("/jobs/{job_id}", name="get_job", summary="A job's state, progress, metrics and cost")
def get_job(job_id: str, request: Request) -> JSONResponse:
    """The caller's job; 404 for a job that is not the caller's."""
    return JSONResponse(job_view(own_job(request, job_id), request.app.state.settings))


@router.get("/jobs", summary="The caller's latest jobs, newest first")
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=1000)) -> JSONResponse:
    """The caller's own jobs (none for an anonymous caller)."""
    settings = request.app.state.settings
    user = current_user(request)
    records = request.app.state.jobs.list(limit, owner=user.name) if user is not None else []
    return JSONResponse({"jobs": [job_view(r, settings) for r in records]})
