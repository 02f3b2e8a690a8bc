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
    worker_vcpu: float = Field(4.0, gt=0, description="vCPU of one worker task (for cost estimates)")
    worker_memory_gb: float = Field(16.0, gt=0, description="memory of one worker task, GB (cost estimates)")
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
