"""``/jobs``: work too large for one request, run by the configured executor."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cube.api._plan import submit_job
from cube.jobs import BurstJob
from cube.materialize import JobRecord

router = APIRouter(tags=["jobs"])

#: On-demand Fargate prices (us-east-1, x86): per vCPU-hour and per GB-hour, USD.
VCPU_HOUR_USD = 0.04048
GB_HOUR_USD = 0.004445
WORKER_VCPU = 2
WORKER_GB = 8


class JobRequest(BaseModel):
    """The bursts to materialize on this API's cube (the job file's ``bursts``)."""

    model_config = ConfigDict(extra="forbid")

    bursts: list[BurstJob] = Field(min_length=1, max_length=10_000)


def job_view(record: JobRecord) -> dict:
    """A job record with its cost: measured so far, and forecast for the bursts left."""
    doc = record.model_dump(mode="json")
    walls = [m.wall_s for m in record.metrics.values()]
    rate = (WORKER_VCPU * VCPU_HOUR_USD + WORKER_GB * GB_HOUR_USD) / 3600
    per_burst = sum(walls) / len(walls) if walls else None
    left = max(record.progress.total - record.progress.done, 0)
    doc["cost"] = {
        "worker": f"{WORKER_VCPU} vCPU, {WORKER_GB} GB (Fargate on-demand)",
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
    return JSONResponse(job_view(request.app.state.jobs.get(job_id)))


@router.get("/jobs", summary="The latest jobs, newest first")
def list_jobs(request: Request, limit: int = Query(20, ge=1, le=1000)) -> JSONResponse:
    return JSONResponse({"jobs": [job_view(r) for r in request.app.state.jobs.list(limit)]})
