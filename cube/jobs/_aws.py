"""The AWS executor: a job's bursts as ECS Fargate tasks, fanned out by Step Functions.

``submit`` does what template.yaml's ``FanoutStateMachine`` expects before it starts:

1. writes the job file to ``<job_files_url>/<job id>/job.json`` (the bucket's ``jobs/`` prefix;
   the file is passed by reference because ECS container overrides hold at most 8 KiB), with
   no credentials in its storage options (tasks use their IAM role);
2. makes sure the job record exists in DynamoDB (the state machine only updates records);
3. calls ``StartExecution`` with the execution named after the job and the input
   ``{"job_id", "job_url", "bursts": [burst ID, ...]}``. Map item *i* runs
   ``sarcube-worker --job <job_url> --burst-index i`` with ``SARCUBE_JOB_ID`` set, so each
   task adds its burst's metrics to the record; the state machine sets running, succeeded or failed.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import fsspec

from cube.errors import ConflictError, InputError, NotFoundError
from cube.jobs._records import JobStore, make_job_record, make_job_store
from cube.jobs._spec import JobSpec

log = logging.getLogger(__name__)

MAX_BURSTS_PER_EXECUTION = 2500
"""Bursts one execution may fan out. An inline Map state records about 8 history events per
burst task (more with retries) and an execution stops at 25 000 events; split larger jobs."""

PUBLIC_STORAGE_OPTIONS: dict[str, Any] = {
    "anon": None, "endpoint_url": None, "region_name": None, "requester_pays": None, "use_ssl": None,
    "client_kwargs": {"endpoint_url": None, "region_name": None},
    "config_kwargs": {"connect_timeout": None, "read_timeout": None, "retries": None, "s3": None},
}
"""The fsspec options a job file keeps (an allowlist, nested one level): where the data are,
never who may read them. Workers take credentials from their own role or environment."""


def public_storage_options(options: Any, allowed: dict[str, Any] = PUBLIC_STORAGE_OPTIONS) -> dict:
    """``options`` with only the `PUBLIC_STORAGE_OPTIONS` entries (no credential of any name)."""
    if not isinstance(options, dict):
        return {}
    out: dict[str, Any] = {}
    for name, sub in allowed.items():
        if name not in options:
            continue
        value = options[name]
        if sub is None:
            if isinstance(value, str | int | float | bool) or value is None or name in ("retries", "s3"):
                out[name] = _plain(value)
        elif isinstance(value, dict):
            out[name] = public_storage_options(value, sub)
    return out


def _plain(value: Any) -> Any:
    """Scalars and small dicts of scalars (``retries={'max_attempts': 3}``), nothing else."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items() if isinstance(v, str | int | float | bool)
                and not any(w in str(k).lower() for w in ("key", "secret", "token", "password"))}
    return value


def job_file_spec(spec: JobSpec) -> JobSpec:
    """The spec as a job file holds it: only the public storage options (no credentials)."""
    return spec.model_copy(update={"storage_options": public_storage_options(spec.storage_options)})


class AwsExecutor:
    """Runs a job on AWS Step Functions (template.yaml's ``FanoutStateMachine``) and ECS.

    Parameters
    ----------
    state_machine_arn : the fan-out state machine (``SARCUBE_STATE_MACHINE_ARN``).
    jobs : the job store the state machine updates: ``dynamodb://<table>``, a bare table
        name, or a `JobStore`.
    job_files_url : where job files go, e.g. ``s3://<bucket>/jobs`` (the workers read them).
    storage_options : fsspec options for writing job files (credentials are not copied into them).
    sfn : a boto3 ``stepfunctions`` client (default: one made from ``boto_kwargs``).
    **boto_kwargs : ``boto3.client`` arguments (``endpoint_url``, ``region_name``, ...) for the
        Step Functions and DynamoDB clients made here.
    """

    name = "aws"

    def __init__(self, state_machine_arn: str, jobs: str | JobStore, job_files_url: str, *,
                 storage_options: dict[str, Any] | None = None, sfn: Any = None, **boto_kwargs: Any):
        if not state_machine_arn or not state_machine_arn.startswith("arn:"):
            raise InputError(f"state machine {state_machine_arn!r} is not an ARN; set "
                             "SARCUBE_STATE_MACHINE_ARN to the stack's StateMachineArn output")
        if "://" not in job_files_url:
            raise InputError(f"job files URL {job_files_url!r}: use s3://<bucket>/jobs (the workers read it)")
        self.state_machine_arn = state_machine_arn
        self.job_files_url = job_files_url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        if isinstance(jobs, str):
            url = jobs if "://" in jobs else f"dynamodb://{jobs}"
            if not url.startswith("dynamodb://"):
                raise InputError(f"job store {jobs!r}: the aws executor's state machine updates DynamoDB; "
                                 "use dynamodb://<table> (SARCUBE_JOBS_TABLE)")
            jobs = make_job_store(url, **boto_kwargs)
        self.jobs: JobStore = jobs
        if sfn is None:
            import boto3

            sfn = boto3.client("stepfunctions", **boto_kwargs)
        self.sfn = sfn

    def __repr__(self) -> str:
        return f"AwsExecutor({self.state_machine_arn!r}, {self.jobs!r}, {self.job_files_url!r})"

    def job_url(self, job_id: str) -> str:
        """Where the job file of ``job_id`` goes."""
        return f"{self.job_files_url}/{job_id}/job.json"

    def submit(self, spec: JobSpec, job_id: str) -> str:
        """Write the job file, make sure the record exists, start the execution; its ARN.

        The record is marked failed (and the error re-raised) if the execution cannot start.
        """
        n = len(spec.bursts)
        if n > MAX_BURSTS_PER_EXECUTION:
            raise InputError(f"job {job_id}: {n} bursts, more than the {MAX_BURSTS_PER_EXECUTION} one Step "
                             "Functions execution can fan out; submit it as several jobs")
        job_url = self.job_url(job_id)
        file_spec = job_file_spec(spec)
        with fsspec.open(job_url, "wt", **self.storage_options) as f:
            f.write(file_spec.model_dump_json(indent=1))
        try:
            self.jobs.get(job_id)
        except NotFoundError:
            self.jobs.create(make_job_record(file_spec.model_dump(mode="json"), total=n, job_id=job_id))
        payload = {"job_id": job_id, "job_url": job_url, "bursts": [b.burst_id for b in spec.bursts]}
        try:
            out = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=job_id,
                                           input=json.dumps(payload))
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code")
            if code == "ExecutionAlreadyExists":  # that execution owns the record: leave it be
                raise ConflictError(f"job {job_id}: an execution of that name exists with other input; "
                                    "submit the job under a new id") from exc
            self.jobs.update(job_id, state="failed",
                             message=f"could not start the Step Functions execution: {exc}")
            raise
        arn = out["executionArn"]
        log.info("job %s: %d burst(s), execution %s", job_id, n, arn)
        self.jobs.update(job_id, message=f"started {n} burst task(s): execution {arn}")
        return arn

    def shutdown(self) -> None:
        """Nothing to stop: executions run on in AWS."""
