"""Jobs are private, deduplicated, bounded per user, checked before they are queued, and their
records hold no secret: real uvicorn + httpx, the real SQLite store, DynamoDB on moto's server."""

from __future__ import annotations

import json
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest

from cube.jobs import make_job_record, make_job_store
from cube.products import BurstStack
from cube.storage import dynamodb_table_spec, list_burst_groups
from tests.integration._moto import moto_server
from tests.integration._users import bearer, live

#: Credential-like values, each unique so that any copy of one is found in a record's text.
SECRETS = {
    "key": "AKIA-SECRET-KEY-0001",
    "secret": "SECRET-ACCESS-0002",
    "token": "SESSION-TOKEN-0003",
    "credential": "CREDENTIAL-0004",
    "api_key": "API-KEY-0005",
    "connection_string": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=ACCOUNT-KEY-0006",
    "client_kwargs": {"headers": {"Authorization": "Bearer HEADER-TOKEN-0007"}},
    "headers": {"Authorization": "Basic HEADER-BASIC-0008"},
    "password": "PASSWORD-0009",
}
SECRET_VALUES = ["SECRET-KEY-0001", "ACCESS-0002", "TOKEN-0003", "CREDENTIAL-0004", "API-KEY-0005",
                 "ACCOUNT-KEY-0006", "HEADER-TOKEN-0007", "HEADER-BASIC-0008", "PASSWORD-0009", "AccountKey"]


@pytest.fixture(scope="module")
def cube_url(tiny_cube) -> str:
    return str(tiny_cube.url)


@pytest.fixture(scope="module")
def burst(tiny_cube):
    """(burst ID, its dates, (rows, cols) of its backscatter grid): read from the cube directly."""
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    stack = BurstStack(tiny_cube, burst_id, pol)
    return burst_id, sorted(stack.dates), stack.shape("backscatter", None)


def job(burst_id: str, date: str, window=(0, 8, 0, 8), product: str = "backscatter", **extra) -> dict:
    """A small job body: one product of one burst, one date, an 8 x 8 window."""
    return {"bursts": [{"burst_id": burst_id, "products": [
        {"product": product, "dates": [date], "window": list(window), **extra}]}]}


def _assert_no_secret(text: str, where: str) -> None:
    for value in SECRET_VALUES:
        assert value not in text, f"{value} found in {where}"


# ---------------------------------------------------------------------------------------- ownership

def test_jobs_are_private_to_their_owner(tmp_path, cube_url, burst):
    burst_id, dates, _ = burst
    with live(tmp_path, cube_url) as s:
        r = s.http.post("/jobs", json=job(burst_id, dates[0]), headers=bearer("alice"))
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert r.headers["Location"] == f"/jobs/{job_id}"
        mine = s.http.get(f"/jobs/{job_id}", headers=bearer("alice"))
        assert mine.status_code == 200 and mine.json()["owner"] == "alice"
        theirs = s.http.get(f"/jobs/{job_id}", headers=bearer("bob"))
        other_id = uuid.uuid4().hex
        missing = s.http.get(f"/jobs/{other_id}", headers=bearer("bob"))
        assert theirs.status_code == missing.status_code == 404
        # existence not revealed: the same answer but for the id
        assert theirs.json() == {k: v.replace(other_id, job_id) for k, v in missing.json().items()}
        assert [j["id"] for j in s.http.get("/jobs", headers=bearer("alice")).json()["jobs"]] == [job_id]
        assert s.http.get("/jobs", headers=bearer("bob")).json() == {"jobs": []}
        assert s.jobs.get(job_id).owner == "alice"


# ---------------------------------------------------------------------------------------- secrets

def test_no_secret_in_job_records_or_answers(tmp_path, cube_url, burst):
    """Storage options full of credentials: the stored row and every answer hold none of them;
    a request that tries to smuggle them in is refused before anything is stored."""
    burst_id, dates, _ = burst
    with live(tmp_path, cube_url, storage_options=SECRETS) as s:
        r = s.http.post("/jobs", json=job(burst_id, dates[1]), headers=bearer("alice"))
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        smuggled = [
            {**job(burst_id, dates[0]), "storage_options": SECRETS},
            {"bursts": [{**job(burst_id, dates[0])["bursts"][0], "headers": SECRETS["headers"]}]},
            job(burst_id, dates[0], options={"token": SECRETS["token"], "api_key": SECRETS["api_key"]}),
        ]
        for body in smuggled:
            bad = s.http.post("/jobs", json=body, headers=bearer("alice"))
            assert bad.status_code in (400, 422), bad.text
            _assert_no_secret(bad.text, "an error answer")
        answers = [r.text, s.http.get(f"/jobs/{job_id}", headers=bearer("alice")).text,
                   s.http.get("/jobs", headers=bearer("alice")).text]
        for text in answers:
            _assert_no_secret(text, "an answer")
        assert json.loads(answers[1])["request"] == {
            "engine": "native", "cube_url": cube_url, "ard_url": str(tmp_path / "ard.zarr"), "bursts": [
            {"burst_id": burst_id, "polarization": "VV", "products": [
                {"product": "backscatter", "options": {}, "dates": [dates[1]], "pairs": None,
                 "window": [0, 8, 0, 8]}]}]}
    with sqlite3.connect(tmp_path / "jobs.sqlite") as con:
        rows = con.execute("SELECT * FROM jobs").fetchall()
    assert len(rows) == 1
    _assert_no_secret(json.dumps(rows), "the SQLite row")


def _request_with_secrets(burst_id: str) -> dict:
    """A request document with credentials at every level a record could keep."""
    return {"cube_url": "s3://user:PASSWORD-0009@bucket/cube", "ard_url": "https://host/ard?sig=PASSWORD-0009",
            "storage_options": SECRETS, **SECRETS,
            "bursts": [{"burst_id": burst_id, "headers": SECRETS["headers"], "products": [
                {"product": "coherence", "options": {"window": [5, 5], **SECRETS},
                 "pairs": [["20240106T022010", "20240118T022010"]], "auth": SECRETS["client_kwargs"]}]}]}


def test_stores_keep_an_allowlist_sqlite_and_dynamodb(tmp_path, burst):
    burst_id = burst[0]
    expected = {"cube_url": "s3://bucket/cube", "ard_url": "https://host/ard", "bursts": [{"burst_id": burst_id, "products": [
        {"product": "coherence", "options": {"window": [5, 5]},
         "pairs": [["20240106T022010", "20240118T022010"]]}]}]}
    sqlite_store = make_job_store(tmp_path / "jobs.sqlite")
    with moto_server() as endpoint:
        client = boto3.client("dynamodb", **endpoint.boto3_kwargs)
        table = f"sarcube-state-{uuid.uuid4().hex[:8]}"
        client.create_table(**dynamodb_table_spec(table))
        dynamo_store = make_job_store(f"dynamodb://{table}", client=client)
        for store in (sqlite_store, dynamo_store):
            record = store.create(make_job_record(_request_with_secrets(burst_id), owner="alice", total=1))
            assert record.request == expected
            store.update(record.id, request=_request_with_secrets(burst_id), message="running")
            assert store.get(record.id).request == expected
            assert store.list(owner="alice")[0].id == record.id and store.list(owner="bob") == []
        items = client.scan(TableName=table)["Items"]
        assert len(items) == 1
        _assert_no_secret(json.dumps(items), "the DynamoDB item")
    with sqlite3.connect(tmp_path / "jobs.sqlite") as con:
        _assert_no_secret(json.dumps(con.execute("SELECT * FROM jobs").fetchall()), "the SQLite row")


def test_claim_keeps_live_jobs_and_replaces_failed_ones_on_dynamodb(burst):
    with moto_server() as endpoint:
        client = boto3.client("dynamodb", **endpoint.boto3_kwargs)
        table = f"sarcube-state-{uuid.uuid4().hex[:8]}"
        client.create_table(**dynamodb_table_spec(table))
        store = make_job_store(f"dynamodb://{table}", client=client)
        first, created = store.claim(make_job_record({"bursts": []}, job_id="j1", owner="alice"))
        assert created
        again, created = store.claim(make_job_record({"bursts": []}, job_id="j1", owner="alice", total=5))
        assert not created and again.progress.total == 0
        store.update("j1", state="failed")
        retry, created = store.claim(make_job_record({"bursts": []}, job_id="j1", owner="alice", total=5))
        assert created and store.get("j1").state == "queued" and store.get("j1").progress.total == 5


# ---------------------------------------------------------------------------------------- one job

def test_identical_submissions_are_one_job(tmp_path, cube_url, burst):
    burst_id, dates, _ = burst
    with live(tmp_path, cube_url) as s:
        body = job(burst_id, dates[0], window=(0, 4, 0, 4))
        first = s.http.post("/jobs", json=body, headers=bearer("alice"))
        second = s.http.post("/jobs", json=body, headers=bearer("alice"))
        assert first.status_code == second.status_code == 202
        assert first.json()["job_id"] == second.json()["job_id"]
        # concurrently: eight identical submissions of another job
        other = job(burst_id, dates[2], window=(8, 12, 8, 12))
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: s.http.post("/jobs", json=other, headers=bearer("alice")),
                                    range(8)))
        assert {a.status_code for a in answers} == {202}
        assert len({a.json()["job_id"] for a in answers}) == 1
        assert len(s.jobs.list(owner="alice")) == 2
        # the same request of another user is another job
        theirs = s.http.post("/jobs", json=body, headers=bearer("bob"))
        assert theirs.status_code == 202 and theirs.json()["job_id"] != first.json()["job_id"]
        assert len(s.jobs.list()) == 3


# ---------------------------------------------------------------------------------------- quotas

def test_over_quota_is_429_with_retry_after(tmp_path, cube_url, burst):
    burst_id, dates, _ = burst
    with live(tmp_path, cube_url, max_bursts_per_day=1, max_concurrent_jobs=2) as s:
        first = job(burst_id, dates[0], window=(0, 2, 0, 2))
        assert s.http.post("/jobs", json=first, headers=bearer("alice")).status_code == 202
        r = s.http.post("/jobs", json=job(burst_id, dates[1], window=(0, 2, 0, 2)), headers=bearer("alice"))
        assert r.status_code == 429 and r.json()["code"] == "quota_exceeded", r.text
        assert "max_bursts_per_day=1" in r.json()["detail"]
        assert 0 < int(r.headers["Retry-After"]) <= 24 * 3600
        # the same job again is that job, not a new burst of the quota
        assert s.http.post("/jobs", json=first, headers=bearer("alice")).status_code == 202
        assert len(s.jobs.list(owner="alice")) == 1
    with live(tmp_path / "concurrent", cube_url, max_concurrent_jobs=1) as s:
        running = make_job_record({"bursts": []}, owner="alice", total=1)
        s.jobs.create(running)
        s.jobs.update(running.id, state="running")
        r = s.http.post("/jobs", json=job(burst_id, dates[0]), headers=bearer("alice"))
        assert r.status_code == 429 and "max_concurrent_jobs=1" in r.json()["detail"], r.text
        assert int(r.headers["Retry-After"]) > 0
        assert s.http.post("/jobs", json=job(burst_id, dates[0]), headers=bearer("bob")).status_code == 202


# ---------------------------------------------------------------------------------------- checks

@pytest.fixture(scope="module")
def checker(tmp_path_factory, cube_url):
    with live(tmp_path_factory.mktemp("checks"), cube_url) as s:
        yield s


@pytest.mark.parametrize("case", ["unknown burst", "negative window", "window past the grid",
                                  "empty window", "path as date", "unknown date", "bad options",
                                  "unknown product", "dates of a pair product"])
def test_a_bad_job_is_4xx_before_it_is_queued(checker, burst, case):
    burst_id, dates, (rows, cols) = burst
    body, status, named = {
        "unknown burst": (job("t999_999999_iw1", dates[0]), 404, "t999_999999_iw1"),
        "negative window": (job(burst_id, dates[0], window=(-4, 8, 0, 8)), 400, "-4"),
        "window past the grid": (job(burst_id, dates[0], window=(0, rows + 1, 0, 8)), 400, f"{rows} x {cols}"),
        "empty window": (job(burst_id, dates[0], window=(8, 8, 0, 8)), 400, "8:8"),
        "path as date": (job(burst_id, "../../x"), 400, "../../x"),
        "unknown date": (job(burst_id, "20990101T000000"), 404, "20990101T000000"),
        "bad options": (job(burst_id, dates[0], options={"looks": [0, 0]}), 400, "looks"),
        "unknown product": (job(burst_id, dates[0], product="nope"), 404, "nope"),
        "dates of a pair product": (job(burst_id, dates[0], product="coherence"), 400, "pairs"),
    }[case]
    r = checker.http.post("/jobs", json=body, headers=bearer("alice"))
    assert r.status_code == status, r.text
    assert named in r.json()["detail"]
    assert checker.jobs.list() == []
