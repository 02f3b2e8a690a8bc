"""``make_executor(settings)``: the executor the API's ``/jobs`` submits to, from its settings."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from cube.config import Settings
from cube.errors import InputError
from cube.jobs._spec import JobSpec


@runtime_checkable
class Executor(Protocol):
    """Runs the bursts of a job whose record exists, and records their metrics in the job store."""

    name: str

    def submit(self, spec: JobSpec, job_id: str) -> Any:
        """Start the job; return at once."""
        ...

    def shutdown(self) -> None:
        """Release what the executor started (pools, clusters)."""
        ...


def job_files_url(cube_url: str) -> str:
    """``s3://<bucket>/jobs`` for a cube at ``s3://<bucket>/...`` (template.yaml's ``jobs/`` prefix)."""
    parts = urlsplit(cube_url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InputError(f"the aws executor writes job files beside the cube on S3, but the cube is "
                         f"{cube_url!r}; set SARCUBE_CUBE_URL to s3://<bucket>/cube")
    return f"s3://{parts.netloc}/jobs"


def make_executor(settings: Settings, **kwargs: Any) -> Executor:
    """The executor ``settings.executor`` names.

    - ``local``: a process pool here (`LocalExecutor`), recording into ``resolved_jobs_url()``;
    - ``dask``: `DaskExecutor` on ``settings.dask_address`` (default: a LocalCluster);
    - ``aws``: `AwsExecutor` on ``settings.state_machine_arn``, records in DynamoDB
      (``jobs_table`` or a ``dynamodb://`` jobs_url), job files under ``s3://<cube bucket>/jobs``.

    ``kwargs`` go to the executor (``max_workers=``, cluster options, boto3 client arguments).
    """
    if settings.executor == "local":
        from cube.jobs._local import LocalExecutor

        return LocalExecutor(settings.resolved_jobs_url(), **kwargs)
    if settings.executor == "dask":
        from cube.jobs._dask import DaskExecutor

        return DaskExecutor(settings.resolved_jobs_url(), settings.dask_address, **kwargs)
    if settings.executor == "aws":
        from cube.jobs._aws import AwsExecutor

        if not settings.state_machine_arn:
            raise InputError("SARCUBE_EXECUTOR=aws needs SARCUBE_STATE_MACHINE_ARN "
                             "(the stack's StateMachineArn output)")
        jobs_url = settings.resolved_jobs_url()
        if not jobs_url.startswith("dynamodb://"):
            raise InputError(f"SARCUBE_EXECUTOR=aws records jobs in DynamoDB, not {jobs_url!r}; set "
                             "SARCUBE_JOBS_TABLE (and leave SARCUBE_JOBS_URL unset)")
        return AwsExecutor(settings.state_machine_arn, jobs_url, job_files_url(settings.cube_url),
                           storage_options=settings.storage_options, **kwargs)
    raise InputError(f"executor {settings.executor!r}: use local, dask or aws")  # pragma: no cover


__all__ = ["Executor", "job_files_url", "make_executor"]
