"""``/jobs``: work too large for one request, run by the configured executor."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cube.api._plan import submit_job
from cube.api._settings import Settings
from cube.jobs import BurstJob
from cube.jobs._aws import MAX_BURSTS_PER_EXECUTION
from cube.materialize import JobRecord

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
    """A job record with its cost: measured so far, and forecast for the bursts left.

    Each burst is one worker task of ``settings.worker_vcpu`` vCPU and ``worker_memory_gb`` GB,
    billed for its wall time (one minute at least) at Fargate on-demand prices. Image pulls
    and task start-up are not in the wall time, so this is a lower bound.
    """
    doc = record.model_dump(mode="json")
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


@router.post("/jobs", status_code=202, summary="Submit a job (materialize products of bursts)")
def create_job(body: JobRequest, request: Request) -> JSONResponse:
    """Start a job; 202 with ``Location: /jobs/{id}``."""
    return submit_job(request, body.bursts, reason="submitted")


@router.get("/jobs/{job_id}", name="get_job", summary="A job's state, progress, metrics and cost")
def get_job(job_id: str, request: Request) -> JSONResponse:
    return JSONResponse(job_view(request.app.state.jobs.get(job_id), request.app.state.settings))


@router.get("/jobs", summary="The latest jobs, newest first")
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=1000)) -> JSONResponse:
    settings = request.app.state.settings
    return JSONResponse({"jobs": [job_view(r, settings) for r in request.app.state.jobs.list(limit)]})
