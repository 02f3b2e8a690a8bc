"""Settings of the API and workers, from ``SARCUBE_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the cube, the ARD store and the job records are, and the request limits."""

    model_config = SettingsConfigDict(env_prefix="SARCUBE_", extra="ignore")

    cube_url: str = Field(description="the SLC cube (path or s3://)")
    ard_url: str | None = Field(None, description="the ARD store (default <cube>/ard.zarr)")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options (JSON)")
    jobs_url: str | None = Field(None, description="job records: *.sqlite path or dynamodb://table")
    jobs_table: str | None = Field(None, description="DynamoDB table of job records (bare name)")
    lock_table: str | None = Field(None, description="DynamoDB table of chunk leases (bare name)")
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
    max_chunks_per_request: int = Field(
        16, ge=1, description="chunks one request may compute; more → 202 + job"
    )
    max_response_mb: float = Field(
        256.0, gt=0, description="largest /ard, /point or /zonal read, MB; more → 413"
    )
    worker_vcpu: float = Field(4.0, gt=0, description="vCPU of one worker task (for cost estimates)")
    worker_memory_gb: float = Field(16.0, gt=0, description="memory of one worker task, GB (cost estimates)")
    lease_ttl_s: float = Field(60.0, gt=0, description="how long a crashed computation blocks others, s")
    wait_s: float = Field(120.0, gt=0, description="how long a request waits for another's computation, s")

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
