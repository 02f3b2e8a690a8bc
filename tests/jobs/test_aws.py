"""The AWS executor against moto's server (DynamoDB, Step Functions) and SeaweedFS (S3).

The state machine is template.yaml's ``FanoutStateMachine`` definition, its substitutions filled
in. moto's ASL interpreter runs it (``execute_state_machine``): its own JSONPath and intrinsic
functions evaluate the template's ItemSelector and container overrides, and its DynamoDB
integration applies the Mark* updates to the job record. moto cannot run the ECS task itself, so
the ``RunBurst`` task becomes a Pass state with the same parameters; the test then runs
``sarcube-worker`` with exactly the command and environment each task would get, in the
environment of template.yaml's task definition.
"""

from __future__ import annotations

import copy
import json
import re
import time
import urllib.request
import uuid
from typing import Any

import boto3
import numpy as np
import pytest

from cube.config import Settings
from cube.errors import ConflictError, InputError
from cube.jobs import DynamoDBJobStore, _aws
from cube.jobs._aws import AwsExecutor, job_file_spec
from cube.jobs._executors import make_executor
from cube.jobs._spec import JobSpec
from cube.jobs._worker import main
from cube.materialize import ArdEngine, Tally
from cube.storage import open_store
from tests.infra import _chain
from tests.integration._moto import moto_server
from tests.jobs.conftest import make_spec, read_job_windows, reference_reads, upload_cube

TABLE = "sarcube-jobs-aws-test"
ROLE = "arn:aws:iam::123456789012:role/sarcube-fanout"


@pytest.fixture(scope="module")
def moto():
    with moto_server() as endpoint:
        client = boto3.client("dynamodb", **endpoint.boto3_kwargs)
        props = _chain.load_template()["Resources"]["StateTable"]["Properties"]
        client.create_table(TableName=TABLE, **{k: props[k] for k in (
            "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")})
        yield endpoint


def _set_execution(endpoint: str, on: bool) -> None:
    body = json.dumps({"stepfunctions": {"execute_state_machine": on}}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/config", data=body, method="POST"))


def _template_definition(**subs: str) -> dict[str, Any]:
    """template.yaml's state machine definition with its ``${...}`` substitutions filled in."""
    props = _chain.load_template()["Resources"]["FanoutStateMachine"]["Properties"]
    names = set(props["DefinitionSubstitutions"])
    assert names == set(subs), f"the template substitutes {sorted(names)}"
    text = re.sub(r"\$\{(\w+)\}", lambda m: subs[m.group(1)], json.dumps(props["Definition"]))
    return json.loads(text)


SUBS = {"TableName": TABLE, "ClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/sarcube",
        "TaskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/sarcube-worker:1",
        "CapacityProvider": "FARGATE", "Subnets": "subnet-1", "SecurityGroups": "sg-1",
        "AssignPublicIp": "ENABLED", "MaxConcurrency": "2", "BurstTimeoutSeconds": "600"}


@pytest.fixture
def place(s3_server, cube4):
    """A fresh prefix in the bucket holding a copy of the cube."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_server["storage_options"])
    prefix = f"cubes/aws-{uuid.uuid4().hex[:8]}"
    upload_cube(fs, cube4, f"{prefix}/cube")
    return fs, prefix


def _executor(moto, arn: str, prefix: str, opts: dict) -> AwsExecutor:
    return AwsExecutor(arn, f"dynamodb://{TABLE}", f"s3://{prefix}/jobs", storage_options=opts,
                       **moto.boto3_kwargs)


@pytest.mark.s3
def test_submit_writes_the_job_file_and_record_and_starts_the_execution(moto, s3_server, place, bursts4,
                                                                         monkeypatch):
    fs, prefix = place
    opts = s3_server["storage_options"]
    sfn = boto3.client("stepfunctions", **moto.boto3_kwargs)
    definition = _template_definition(**SUBS)
    arn = sfn.create_state_machine(name=f"fanout-{uuid.uuid4().hex[:6]}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    executor = _executor(moto, arn, prefix, opts)
    spec = make_spec(f"s3://{prefix}/cube", f"s3://{prefix}/ard", bursts4, opts)  # with credentials
    job_id = uuid.uuid4().hex
    execution = executor.submit(spec, job_id)

    # The job file: the spec, without the credentials.
    job_url = f"s3://{prefix}/jobs/{job_id}/job.json"
    text = fs.cat(job_url[5:]).decode()
    assert opts["secret"] not in text and opts["key"] not in text
    assert JobSpec.model_validate_json(text) == job_file_spec(spec)
    assert JobSpec.model_validate_json(text).storage_options == {"client_kwargs": opts["client_kwargs"]}

    # The record, readable by the API's job store.
    record = DynamoDBJobStore(TABLE, boto3.client("dynamodb", **moto.boto3_kwargs)).get(job_id)
    assert record.state == "queued" and record.progress.total == 4 and record.progress.done == 0
    assert execution in record.message and opts["secret"] not in json.dumps(record.request)

    # The execution: named after the job; its input is what the definition's first state reads.
    described = sfn.describe_execution(executionArn=execution)
    assert described["name"] == job_id and described["stateMachineArn"] == arn
    payload = json.loads(described["input"])
    assert payload == {"job_id": job_id, "job_url": job_url, "bursts": bursts4}
    prepare = definition["States"][definition["StartAt"]]["Parameters"]
    read = {v[2:] for k, v in prepare.items() if k.endswith(".$") and v.startswith("$.")}
    assert read == set(payload)

    # The same id with another job is refused, and the record is left to its execution.
    with pytest.raises(ConflictError, match="submit the job under a new id"):
        executor.submit(make_spec(f"s3://{prefix}/cube", None, bursts4[:1]), job_id)
    assert DynamoDBJobStore(TABLE, boto3.client("dynamodb", **moto.boto3_kwargs)).get(job_id).state == "queued"

    monkeypatch.setattr(_aws, "MAX_BURSTS_PER_EXECUTION", 3)
    with pytest.raises(InputError, match="4 bursts, more than the 3 one Step Functions execution"):
        executor.submit(spec, uuid.uuid4().hex)


def _pass_instead_of_ecs(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition with RunBurst a Pass state that outputs the container override it would send."""
    out = copy.deepcopy(definition)
    processor = out["States"]["FanOut"]["ItemProcessor"]
    run = processor["States"]["RunBurst"]
    (override,) = run["Parameters"]["Overrides"]["ContainerOverrides"]
    processor["States"]["RunBurst"] = {"Type": "Pass", "Parameters": override, "ResultPath": "$.task", "End": True}
    return out


def _task_definition_env(values: dict[str, str]) -> dict[str, str]:
    """template.yaml's worker container environment, each name mapped to ``values``."""
    td = _chain.load_template()["Resources"]["WorkerTaskDefinition"]["Properties"]
    (container,) = td["ContainerDefinitions"]
    names = [e["Name"] for e in container["Environment"]]
    missing = set(names) - set(values)
    assert not missing, f"no test value for {sorted(missing)}"
    return {n: values[n] for n in names}


@pytest.mark.s3
def test_execution_fans_out_worker_commands_that_fill_the_record(moto, s3_env, place, cube4, bursts4, tmp_path,
                                                                  monkeypatch):
    fs, prefix = place
    opts = s3_env["storage_options"]
    monkeypatch.setenv("MOTO_PORT", moto.endpoint_url.rsplit(":", 1)[1])  # where moto's interpreter calls
    _set_execution(moto.endpoint_url, True)
    try:
        sfn = boto3.client("stepfunctions", **moto.boto3_kwargs)
        definition = _pass_instead_of_ecs(_template_definition(**SUBS))
        arn = sfn.create_state_machine(name=f"fanout-{uuid.uuid4().hex[:6]}", definition=json.dumps(definition),
                                       roleArn=ROLE)["stateMachineArn"]
        spec = make_spec(f"s3://{prefix}/cube", f"s3://{prefix}/ard", bursts4, opts)
        job_id = uuid.uuid4().hex
        execution = _executor(moto, arn, prefix, opts).submit(spec, job_id)
        deadline = time.monotonic() + 60
        while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    finally:
        _set_execution(moto.endpoint_url, False)
    assert status == "SUCCEEDED", history[-3:]
    jobs = DynamoDBJobStore(TABLE, boto3.client("dynamodb", **moto.boto3_kwargs))
    assert jobs.get(job_id).state == "succeeded"  # MarkRunning, then MarkSucceeded, on moto's DynamoDB

    tasks = [json.loads(e["stateExitedEventDetails"]["output"])["task"] for e in history
             if e["type"] == "PassStateExited" and e["stateExitedEventDetails"]["name"] == "RunBurst"]
    assert len(tasks) == 4
    job_url = f"s3://{prefix}/jobs/{job_id}/job.json"
    tasks.sort(key=lambda t: int(t["Command"][3]))
    for i, task in enumerate(tasks):
        assert task["Name"] == "worker"
        assert task["Command"] == ["--job", job_url, "--burst-index", str(i)]
        assert {e["Name"]: e["Value"] for e in task["Environment"]} == {
            "SARCUBE_JOB_ID": job_id, "SARCUBE_BURST_ID": bursts4[i]}

    # Each ECS task: the image's entrypoint with the override's command, in the task's environment.
    base = _task_definition_env({
        "SARCUBE_CUBE_URL": f"s3://{prefix}/cube", "SARCUBE_ARD_URL": f"s3://{prefix}/ard",
        "SARCUBE_CATALOG_URL": f"s3://{prefix}/catalog", "SARCUBE_LOCK_TABLE": TABLE,
        "SARCUBE_JOBS_TABLE": TABLE, "LOG_LEVEL": "WARNING"})
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint_url)  # S3 stays on SeaweedFS
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # ECS sets it beside AWS_REGION
    for task in tasks:
        with monkeypatch.context() as mp:
            for name, value in {**base, **{e["Name"]: e["Value"] for e in task["Environment"]}}.items():
                mp.setenv(name, value)
            assert main(task["Command"]) == 0

    record = jobs.get(job_id)
    assert record.progress.done == 4 and set(record.metrics) == {f"{b}_vv" for b in bursts4}
    objects = [k for k in fs.find(f"{prefix}/ard") if "/c/" in k]
    assert len(objects) == sum(m.chunks_computed for m in record.metrics.values()) > 0
    engine = ArdEngine(open_store(f"s3://{prefix}/cube", opts), open_store(f"s3://{prefix}/ard", opts))
    for burst in bursts4:
        tally = Tally()
        got = read_job_windows(engine, burst, tally)
        assert tally.chunks_computed == 0
        ref = reference_reads(cube4, tmp_path / f"ref-{burst}", burst)
        for key in ref:
            np.testing.assert_allclose(got[key], ref[key], rtol=1e-6, atol=0, err_msg=f"{burst} {key}")


def test_make_executor_for_aws(moto, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SFN", moto.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint_url)
    for name, value in moto.boto3_kwargs.items():
        if name.startswith("aws_"):
            monkeypatch.setenv(name.upper(), value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", moto.boto3_kwargs["region_name"])
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:sarcube-fanout"
    executor = make_executor(Settings(cube_url="s3://data-bucket/cube", executor="aws", state_machine_arn=arn,
                                      jobs_table=TABLE))
    assert isinstance(executor, AwsExecutor)
    assert executor.job_url("j") == "s3://data-bucket/jobs/j/job.json"
    assert executor.jobs.list(limit=1) is not None  # reaches the table on moto
    for settings, message in [
        (dict(cube_url="s3://b/cube", jobs_url="/tmp/j.sqlite"), "records jobs in DynamoDB"),
        (dict(cube_url="/data/cube", jobs_table=TABLE), "beside the cube on S3"),
        (dict(cube_url="s3://b/cube", jobs_table=TABLE, state_machine_arn="fanout"), "is not an ARN"),
    ]:
        with pytest.raises(InputError, match=message):
            make_executor(Settings(executor="aws", **{"state_machine_arn": arn, **settings}))


def test_job_files_keep_an_allowlist_of_storage_options():
    """No credential of any name reaches a job file: only where the data are is kept."""
    from cube.jobs import public_storage_options
    from cube.jobs._aws import job_file_spec

    secrets = ["AKIDSECRET1", "s3cr3t-value-2", "tok3n-3", "AccountKey=abc123==", "k3y-4", "Bearer xyz5"]
    options = {
        "key": secrets[0], "secret": secrets[1], "token": secrets[2],
        "credential": {"anything": secrets[4]}, "api_key": secrets[4],
        "connection_string": f"DefaultEndpointsProtocol=https;{secrets[3]}",
        "headers": {"Authorization": secrets[5]}, "anon": False,
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1",
                          "aws_secret_access_key": secrets[1]},
        "config_kwargs": {"retries": {"max_attempts": 2, "secret_key": secrets[1]}, "connect_timeout": 3},
    }
    kept = public_storage_options(options)
    assert kept == {"anon": False,
                    "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"},
                    "config_kwargs": {"connect_timeout": 3, "retries": {"max_attempts": 2}}}
    text = job_file_spec(make_spec("s3://b/cube", "s3://b/ard", ["t001_000001_iw1"], options)).model_dump_json()
    assert not [s for s in secrets if s in text]
