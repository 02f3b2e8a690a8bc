"""The state machine's job-record updates, replayed against the table of template.yaml on moto's
DynamoDB server, and read back through cube.materialize's job store (the reader the API uses).

The ``dynamodb:updateItem`` integration sends its ``Parameters`` as the UpdateItem request, so
each Mark* state's parameters are evaluated (JSONPath, ``States.Format``, the context object) and
sent with boto3 as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cube.jobs import DynamoDBJobStore, JobRecord
from tests.infra import _chain
from tests.integration._moto import moto_server

TABLE = "sarcube-infra-state-machine-records"
ENTERED = "2026-05-01T10:20:30.123Z"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    props = _chain.load_template()["Resources"]["StateTable"]["Properties"]
    with moto_server() as (_, kwargs):
        c = boto3.client("dynamodb", **kwargs)
        c.create_table(TableName=TABLE, **{k: props[k] for k in (
            "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")})
        c.update_time_to_live(TableName=TABLE, TimeToLiveSpecification=props["TimeToLiveSpecification"])
        yield c


@pytest.fixture(scope="module")
def states() -> dict[str, Any]:
    cfn, findings = _chain.translate(_chain.package_locally(_chain.load_template()))
    assert cfn is not None, findings
    props = cfn["Resources"]["FanoutStateMachine"]["Properties"]
    definition = json.loads(_chain.definition_text(props, cfn, _chain.OFFLINE_PARAMETERS))
    # The state machine writes to the stack's table (the Ref stand-in of StateTable).
    table = _chain.resolve({"Ref": "StateTable"}, cfn, _chain.OFFLINE_PARAMETERS)
    for name in ("MarkRunning", "MarkSucceeded", "MarkFailed"):
        state = definition["States"][name]
        assert state["Resource"] == "arn:aws:states:::dynamodb:updateItem"
        assert state["Parameters"]["TableName"] == table
    return definition["States"]


def _path(path: str, data: Any, context: dict[str, Any]) -> Any:
    root, rest = (context, path[3:]) if path.startswith("$$.") else (data, path[2:])
    for part in rest.split("."):
        root = root[part]
    return root


def _evaluate(value: Any, data: Any, context: dict[str, Any]) -> Any:
    """ASL Parameters → the request: ``key.$`` fields are paths or States.Format calls."""
    if isinstance(value, list):
        return [_evaluate(v, data, context) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if not key.endswith(".$"):
            out[key] = _evaluate(v, data, context)
            continue
        m = re.fullmatch(r"States\.Format\((.*)\)", v)
        if m:
            args = re.findall(r"'((?:[^'\\]|\\.)*)'|(\$\$?[\w.]+)", m.group(1))
            template, *rest = args
            values = [str(_path(p, data, context)) if p else lit for lit, p in rest]
            pieces = template[0].split("{}")  # States.Format: each {} takes the next argument
            assert len(pieces) == len(values) + 1, v
            out[key[:-2]] = "".join(p + a for p, a in zip(pieces, [*values, ""], strict=True))
        else:
            out[key[:-2]] = _path(v, data, context)
    return out


def _run(client: Any, state: dict[str, Any], data: dict[str, Any]) -> None:
    request = _evaluate(state["Parameters"], data, {"State": {"EnteredTime": ENTERED}})
    client.update_item(**{**request, "TableName": TABLE})


def _store(client: Any) -> Any:
    return DynamoDBJobStore(TABLE, client)


REQUEST = {"bursts": [{"burst_id": "t071_151200_iw3", "products": [{"product": "coherence", "options": {}}]}]}


def _new_job(client: Any, job_id: str) -> None:
    now = datetime.now(UTC)
    _store(client).create(JobRecord(id=job_id, created=now, updated=now, request=REQUEST,
                                               owner="alice"))


def test_running_then_succeeded(client: Any, states: dict[str, Any]) -> None:
    _new_job(client, "job-ok")
    data = {"job_id": "job-ok", "job_url": "s3://b/jobs/job-ok/job.json", "bursts": ["a", "b"]}
    _run(client, states["MarkRunning"], data)
    record = _store(client).get("job-ok")
    assert record.state == "running" and record.updated == datetime.fromisoformat(ENTERED)
    assert record.request == REQUEST and record.owner == "alice"  # the rest of the record is untouched
    _run(client, states["MarkSucceeded"], data)
    assert _store(client).get("job-ok").state == "succeeded"


def test_failure_is_recorded_with_the_error(client: Any, states: dict[str, Any]) -> None:
    _new_job(client, "job-bad")
    data = {"job_id": "job-bad", "error": {"Error": "States.TaskFailed",
                                           "Cause": '{"StoppedReason": "Essential container in task exited"}'}}
    _run(client, states["MarkFailed"], data)
    record = _store(client).get("job-bad")
    assert record.state == "failed"
    assert record.message == 'States.TaskFailed: {"StoppedReason": "Essential container in task exited"}'
    assert "job-bad" in {r.id for r in _store(client).list()}  # the by_created index still lists it


def test_updates_never_create_a_record(client: Any, states: dict[str, Any]) -> None:
    """A job the API never recorded: the update fails instead of leaving a half item behind."""
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        _run(client, states["MarkRunning"], {"job_id": "ghost"})
    assert "Item" not in client.get_item(TableName=TABLE, Key={"pk": {"S": "job#ghost"}, "sk": {"S": "job"}})
