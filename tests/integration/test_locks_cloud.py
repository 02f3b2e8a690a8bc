"""Leases and job records on the cloud backends: S3 on SeaweedFS, DynamoDB on moto's server.

The checks are those of ``tests/unit/test_locks.py`` (fewer callers). SeaweedFS is the real
S3 server of the ``s3_server`` fixture; it honours ``If-None-Match: *`` and ``If-Match``
(``test_seaweedfs_honours_conditional_writes`` keeps that fact checked). DynamoDB has no
real local server, so it runs on moto's threaded server on loopback.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from cube.jobs import DynamoDBJobStore, JobRecord, make_job_record, make_job_store
from cube.storage import (
    DynamoDBLeaseBackend,
    S3LeaseBackend,
    dynamodb_table_spec,
    ensure_dynamodb_table,
    make_lease_backend,
)
from tests.integration._moto import MotoEndpoint, moto_server
from tests.unit.test_locks import (
    Spec,
    check_crash_takeover,
    check_failed_compute,
    check_job_store,
    check_job_store_processes,
    check_single_flight,
    check_token,
    spawn_workers,
)


def _is_412(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") == 412


@pytest.fixture(scope="module")
def workers() -> Iterator[ProcessPoolExecutor]:
    """Two spawned worker processes shared by this module's multi-process tests."""
    with spawn_workers(2, cloud=True) as pool:
        yield pool


# --------------------------------------------------------------------------------------------
# S3 on SeaweedFS


@pytest.fixture
def s3_spec(s3_server: dict) -> Spec:
    kw = {"endpoint_url": s3_server["endpoint_url"], "aws_access_key_id": s3_server["key"],
          "aws_secret_access_key": s3_server["secret"], "region_name": "us-east-1"}
    return (f"s3://cubes/leases-{uuid.uuid4().hex[:8]}", kw)


@pytest.fixture
def s3_client(s3_spec: Spec) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", **s3_spec[1], config=Config(max_pool_connections=32))


@pytest.mark.s3
def test_seaweedfs_honours_conditional_writes(s3_client: Any) -> None:
    """The server-side facts the S3 backend rests on: conditional create, overwrite, delete."""
    from botocore.exceptions import ClientError

    key = f"probe/{uuid.uuid4().hex}"
    first = s3_client.put_object(Bucket="cubes", Key=key, Body=b"a", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        s3_client.put_object(Bucket="cubes", Key=key, Body=b"b", IfNoneMatch="*")
    assert _is_412(info.value)
    with pytest.raises(ClientError) as info:
        s3_client.put_object(Bucket="cubes", Key=key, Body=b"c", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert _is_412(info.value)
    second = s3_client.put_object(Bucket="cubes", Key=key, Body=b"d", IfMatch=first["ETag"])
    with pytest.raises(ClientError) as info:
        s3_client.delete_object(Bucket="cubes", Key=key, IfMatch=first["ETag"])
    assert _is_412(info.value)
    assert s3_client.get_object(Bucket="cubes", Key=key)["Body"].read() == b"d"
    s3_client.delete_object(Bucket="cubes", Key=key, IfMatch=second["ETag"])

    race = f"probe/{uuid.uuid4().hex}"
    barrier = threading.Barrier(8)
    wins: list[int] = []

    def racer(i: int) -> None:
        barrier.wait()
        try:
            s3_client.put_object(Bucket="cubes", Key=race, Body=str(i).encode(), IfNoneMatch="*")
            wins.append(i)
        except ClientError as exc:
            assert _is_412(exc) or exc.response["ResponseMetadata"]["HTTPStatusCode"] == 409

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert s3_client.get_object(Bucket="cubes", Key=race)["Body"].read() == str(wins[0]).encode()


@pytest.mark.s3
def test_token_check_s3(s3_spec: Spec, s3_client: Any) -> None:
    backend = make_lease_backend(s3_spec[0], client=s3_client)
    assert isinstance(backend, S3LeaseBackend)
    check_token(backend)


@pytest.mark.s3
def test_single_flight_s3(s3_spec: Spec, tmp_path, workers) -> None:
    check_single_flight(s3_spec, tmp_path, workers, n_threads=8, n_procs=2, threads_per_proc=4)


@pytest.mark.s3
def test_crash_takeover_s3(s3_spec: Spec, tmp_path) -> None:
    check_crash_takeover(s3_spec, tmp_path)


@pytest.mark.s3
def test_failed_compute_s3(s3_spec: Spec, s3_client: Any, tmp_path) -> None:
    check_failed_compute(make_lease_backend(s3_spec[0], client=s3_client), tmp_path)


@pytest.mark.s3
def test_s3_lease_object_layout(s3_spec: Spec, s3_client: Any) -> None:
    """One JSON object per live lease under the prefix; released leases leave nothing."""
    import json

    backend = make_lease_backend(s3_spec[0], client=s3_client)
    lease = backend.try_acquire("t001_000001_iw2/gamma0/c/0/1", 30)
    key = backend.object_key(lease.key)
    assert key.startswith(s3_spec[0].removeprefix("s3://cubes/") + "/")
    doc = json.loads(s3_client.get_object(Bucket="cubes", Key=key)["Body"].read())
    assert doc["token"] == lease.token and doc["expires"] == pytest.approx(lease.expires)
    backend.release(lease)
    assert s3_client.list_objects_v2(Bucket="cubes", Prefix=key).get("KeyCount", 0) == 0


# --------------------------------------------------------------------------------------------
# DynamoDB on moto


@pytest.fixture(scope="module")
def moto() -> MotoEndpoint:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def ddb(moto: MotoEndpoint) -> tuple[str, Any, dict[str, Any]]:
    """(table name, client, boto3 kwargs) of a fresh state table."""
    import boto3
    from botocore.config import Config

    client = boto3.client("dynamodb", **moto.boto3_kwargs, config=Config(max_pool_connections=32))
    name = f"sarcube-state-{uuid.uuid4().hex[:8]}"
    ensure_dynamodb_table(client, name)
    ensure_dynamodb_table(client, name)  # idempotent
    return name, client, moto.boto3_kwargs


def test_token_check_dynamodb(ddb) -> None:
    name, client, _ = ddb
    backend = make_lease_backend(f"dynamodb://{name}", client=client)
    assert isinstance(backend, DynamoDBLeaseBackend)
    check_token(backend)


def test_single_flight_dynamodb(ddb, tmp_path, workers) -> None:
    name, _, kw = ddb
    check_single_flight((f"dynamodb://{name}", kw), tmp_path, workers, n_threads=8, n_procs=2, threads_per_proc=4)


def test_crash_takeover_dynamodb(ddb, tmp_path) -> None:
    name, _, kw = ddb
    check_crash_takeover((f"dynamodb://{name}", kw), tmp_path)


def test_failed_compute_dynamodb(ddb, tmp_path) -> None:
    name, client, _ = ddb
    check_failed_compute(make_lease_backend(f"dynamodb://{name}", client=client), tmp_path)


def test_job_store_dynamodb(ddb) -> None:
    name, client, _ = ddb
    store = make_job_store(f"dynamodb://{name}", client=client)
    assert isinstance(store, DynamoDBJobStore)
    check_job_store(store)


def test_job_store_dynamodb_two_processes(ddb, tmp_path, workers) -> None:
    name, _, kw = ddb
    check_job_store_processes((f"dynamodb://{name}", kw), tmp_path, workers, n_procs=2, n=15)


def test_leases_and_jobs_share_one_table(ddb) -> None:
    """Single-table layout: lease#… and job#… items side by side; jobs list sees only jobs."""
    name, client, _ = ddb
    leases = DynamoDBLeaseBackend(name, client)
    jobs = DynamoDBJobStore(name, client)
    lease = leases.try_acquire("t001_000001_iw2/coherence/c/0/0", 30)
    record = jobs.create(make_job_record({"product": "coherence"}, job_id="job-42"))
    items = client.scan(TableName=name)["Items"]
    assert sorted((i["pk"]["S"], i["sk"]["S"]) for i in items) == [
        ("job#job-42", "job"), ("lease#t001_000001_iw2/coherence/c/0/0", "lease")]
    assert jobs.list() == [record] and isinstance(jobs.list()[0], JobRecord)
    assert all(int(i["ttl"]["N"]) > lease.expires for i in items if i["sk"]["S"] == "lease")
    spec = dynamodb_table_spec(name)
    assert spec["GlobalSecondaryIndexes"][0]["IndexName"] == "by_created"
    leases.release(lease)
    assert [i["pk"]["S"] for i in client.scan(TableName=name)["Items"]] == ["job#job-42"]


def test_job_store_on_a_table_without_the_index(moto: MotoEndpoint) -> None:
    """A table with only pk/sk (no jobs index): everything works, list falls back to a scan."""
    import boto3

    client = boto3.client("dynamodb", **moto.boto3_kwargs)
    spec = dynamodb_table_spec(f"sarcube-plain-{uuid.uuid4().hex[:8]}")
    del spec["GlobalSecondaryIndexes"]
    spec["AttributeDefinitions"] = [a for a in spec["AttributeDefinitions"] if a["AttributeName"] != "created"]
    client.create_table(**spec)
    jobs = DynamoDBJobStore(spec["TableName"], client)
    lease = DynamoDBLeaseBackend(spec["TableName"], client).try_acquire("t001_000001_iw2/gamma0/c/0/0", 30)
    assert lease is not None
    check_job_store(jobs)
