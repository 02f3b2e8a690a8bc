"""Keep-up mode: an S3 ``Object Created`` event for a new SLC zip → ingest → the subscribed
products for the new date and its pairs, only over the subscribed area, recorded as a job.

References: the cube's own dates after the run, chunk sets from the product grid's pixel
centres transformed to lon/lat (the opposite direction from the code's bbox → window), values
from the product functions run directly on the cube, a brute-force pair rule.
"""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from cube.errors import CubeFormatError, InputError, NotFoundError
from cube.format import date_key_time, new_pairs
from cube.geometry import transformer
from cube.jobs import make_job_store
from cube.keepup import (
    SUBSCRIPTIONS,
    Subscription,
    keep_up,
    read_subscriptions,
    slc_urls_from_event,
    sqs_message_event,
    subscribe,
    unsubscribe,
)
from cube.materialize import ArdEngine
from cube.materialize._ard import decode_chunk
from cube.products import ArdArray, BurstStack, Variant, set_cube_dem
from cube.storage import open_store
from tests.functions.conftest import (
    STATE_MACHINE_ARN,
    Deployment,
    LambdaContext,
    emf_metrics,
    load_event,
    stdout_documents,
)

BURST = "t108_230132_iw2"
OTHER_BURST = "t108_230133_iw2"
#: Around the centre of BURST's grid, away from OTHER_BURST (whose grid is 0.15° further north).
AREA = (-127.745, 51.3746, -127.733, 51.3826)
PRODUCTS = [{"product": "backscatter"}, {"product": "coherence"}]


def _zip_safe(safe: Path) -> bytes:
    """A SAFE folder zipped as ESA ships it (the .SAFE folder at the top of the archive)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(safe.rglob("*")):
            if path.is_file():
                z.write(path, f"{safe.name}/{path.relative_to(safe)}")
    return buf.getvalue()


def _event_for(d: Deployment, name: str, safe: Path, s3: Any) -> dict[str, Any]:
    """The EventBridge event file with this deployment's bucket, after putting the zip there."""
    event = load_event(name)
    key = f"incoming/{safe.name.removesuffix('.SAFE')}.zip"
    s3.pipe(f"{d.bucket}/{key}", _zip_safe(safe))
    if "detail" in event:
        assert event["detail"]["object"]["key"] == key  # the event file names the simulated product
        event["detail"]["bucket"]["name"] = d.bucket
        event["resources"] = [f"arn:aws:s3:::{d.bucket}"]
    else:
        (record,) = event["Records"]
        assert record["s3"]["object"]["key"] == key
        record["s3"]["bucket"]["name"] = d.bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{d.bucket}"
    return event


def _expected_chunks(grid, variant: Variant, bbox) -> set[tuple[int, int]]:
    """Chunks holding a product pixel whose centre lies in the lon/lat bbox (centres → lon/lat)."""
    ly, lx = variant.options.looks
    rows, cols = grid.height // ly, grid.width // lx
    x = grid.x0 + (np.arange(cols) + 0.5) * grid.dx * lx
    y = grid.y0 - (np.arange(rows) + 0.5) * grid.dy * ly
    xx, yy = np.meshgrid(x, y)
    lon, lat = transformer(grid.epsg, 4326).transform(xx, yy)
    west, south, east, north = bbox
    r, c = np.nonzero((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
    assert r.size, "the test area holds no pixel of the product grid"
    cy, cx = variant.chunks
    return set(zip((r // cy).tolist(), (c // cx).tolist(), strict=True))


def _chunks_of(ard, burst: str, variant: Variant, dates: tuple[str, ...]) -> set[tuple[int, int]]:
    base = ArdArray(burst, "VV", variant, dates).path
    found = set()
    for i in ard.list(f"{base}/c"):
        found |= {(int(i), int(j)) for j in ard.list(f"{base}/c/{i}")}
    return found


def _chunk_objects(ard) -> set[str]:
    return {p for p in ard.fs.find(ard.root) if "/c/" in p}


@pytest.fixture
def s3(s3_server):
    import s3fs

    return s3fs.S3FileSystem(**s3_server["storage_options"])


# ---------------------------------------------------------------------------------------- the handler


@pytest.mark.s3
def test_object_created_event_ingests_and_materializes_the_subscriptions(
        make_deployment, tiny_stack, lambda_function, moto, s3, capsys: pytest.CaptureFixture[str]) -> None:
    d = make_deployment(dates=(0, 1))
    cube = d.cube()
    subscribe(cube, {"id": "glacier-watch", "bbox": AREA, "products": PRODUCTS})
    subscribe(cube, {"id": "elsewhere", "bbox": (5.0, 45.0, 6.0, 46.0), "products": [{"product": "amplitude"}]})
    event = _event_for(d, "keepup-object-created.json", tiny_stack.safe_paths[2], s3)
    module = lambda_function("KeepUpFunction", d, SARCUBE_EXECUTOR="local")
    ard = open_store(f"s3://{d.bucket}/ard")
    before = _chunk_objects(ard)

    summary = module.handler(event, LambdaContext("sarcube-KeepUpFunction-3M4N5O", memory_limit_in_mb=4096))

    stacks = {b: BurstStack(open_store(d.cube_url), b, "VV") for b in (BURST, OTHER_BURST)}
    dates = sorted(stacks[BURST].dates)
    assert len(dates) == 3 and len(stacks[OTHER_BURST].dates) == 3  # the new date of both bursts
    new = dates[2]
    assert date_key_time(new).strftime("%Y-%m-%d") == "2024-01-30"
    assert sorted(summary["added"]) == sorted(f"{b} VV {max(s.dates)}" for b, s in stacks.items())
    assert summary["subscriptions"] == ["glacier-watch"] and summary["bursts"] == [BURST]
    assert summary["state"] == "succeeded" and summary["sources"] == [
        f"s3://{d.bucket}/{event['detail']['object']['key']}"]

    # Backscatter of the new date, only the chunks over the area, equal to the product computed directly.
    bs = Variant.of("backscatter")
    grid = stacks[BURST].grid
    want = _expected_chunks(grid, bs, AREA)
    ly, lx = bs.options.looks
    assert want != {(i, j) for i in range(-(-grid.height // ly // bs.chunks[0]))
                    for j in range(-(-grid.width // lx // bs.chunks[1]))}, "the area should not cover the burst"
    assert _chunks_of(ard, BURST, bs, (new,)) == want
    i, j = min(want)
    cy, cx = bs.chunks
    window = (slice(i * cy, min((i + 1) * cy, grid.height // ly)), slice(j * cx, min((j + 1) * cx, grid.width // lx)))
    expected = stacks[BURST].compute("backscatter", [new], window)
    got = decode_chunk(ard.read_bytes(ArdArray(BURST, "VV", bs, (new,)).chunk_path(i, j)), bs)
    np.testing.assert_allclose(got[: expected.shape[0], : expected.shape[1]], expected, rtol=1e-6, equal_nan=True)
    assert _chunks_of(ard, BURST, bs, (dates[0],)) == set()  # old dates: not asked for

    # Coherence: the new date's pairs under the pair rule (12 and 24 days), not the old pair.
    coh = Variant.of("coherence")
    assert _chunks_of(ard, BURST, coh, (dates[1], new)) == _expected_chunks(grid, coh, AREA)
    assert _chunks_of(ard, BURST, coh, (dates[0], new)) == _expected_chunks(grid, coh, AREA)
    assert _chunks_of(ard, BURST, coh, (dates[0], dates[1])) == set()
    (ci, cj) = min(_expected_chunks(grid, coh, AREA))
    wy, wx = coh.options.looks
    ccy, ccx = coh.chunks
    cwin = (slice(ci * ccy, min((ci + 1) * ccy, grid.height // wy)),
            slice(cj * ccx, min((cj + 1) * ccx, grid.width // wx)))
    expected = stacks[BURST].compute("coherence", [dates[1], new], cwin)
    got = decode_chunk(ard.read_bytes(ArdArray(BURST, "VV", coh, (dates[1], new)).chunk_path(ci, cj)), coh)
    np.testing.assert_allclose(got[: expected.shape[0], : expected.shape[1]], expected, rtol=1e-5, equal_nan=True)

    # Nothing for the burst outside the area, nor for the other subscription's product.
    assert not ard.list(OTHER_BURST) and not ard.exists(f"{BURST}/vv/amplitude")

    # The job record, in the stack's DynamoDB table: one burst done, its chunks counted right.
    written = _chunk_objects(ard) - before
    jobs = make_job_store(f"dynamodb://{d.table}", client=boto3.client("dynamodb", **moto.boto3_kwargs))
    record = jobs.get(summary["job_id"])
    assert record.state == "succeeded" and (record.progress.done, record.progress.total) == (1, 1)
    assert record.metrics[BURST].chunks_computed == len(written) == summary["chunks_computed"]
    assert record.result == {"chunks_computed": len(written)}

    logs, emf = stdout_documents(capsys.readouterr().out)
    (done,) = [r for r in logs if r.get("message") == "keep-up done"]
    assert done["correlation_id"] == event["id"] and done["service"] == "keepup"
    (doc,) = [x for x in emf if "BurstDatesIngested" in x]
    metrics = emf_metrics(doc)
    assert metrics["BurstDatesIngested"] == (2, "Count")
    assert {"ChunksComputed", "CacheHits", "ComputeMs", "BytesRead", "BytesWritten"} <= set(metrics)
    assert metrics["ChunksComputed"][0] >= len(written) > 0
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "sarcube"

    # The same object again, now as an S3 event notification (a redelivery): nothing new to
    # ingest, the plan is run again and finds every chunk present.
    again = _event_for(d, "keepup-s3-notification.json", tiny_stack.safe_paths[2], s3)
    summary2 = module.handler(again, LambdaContext("sarcube-KeepUpFunction-3M4N5O"))
    assert summary2["added"] == [] and len(summary2["skipped"]) == 2
    assert summary2["state"] == "succeeded" and summary2["chunks_computed"] == 0
    assert _chunk_objects(ard) - before == written


@pytest.mark.s3
def test_a_failing_step_marks_the_job_failed_and_reraises(
        make_deployment, deployments, tiny_stack, lambda_function, moto, s3, capsys: pytest.CaptureFixture[str]) -> None:
    """A cube without a DEM: ingest succeeds, the first product chunk fails. The job record says
    failed with the error, the failure is logged and counted, and the handler raises (so that
    EventBridge retries). With the DEM recorded, the retried event completes the work."""
    d = make_deployment(dates=(0, 1), dem=False)
    subscribe(d.cube(), {"id": "glacier-watch", "bbox": AREA, "products": [{"product": "backscatter"}]})
    event = _event_for(d, "keepup-object-created.json", tiny_stack.safe_paths[2], s3)
    module = lambda_function("KeepUpFunction", d, SARCUBE_EXECUTOR="local")

    with pytest.raises(InputError, match="no DEM"):
        module.handler(event, LambdaContext("sarcube-KeepUpFunction-3M4N5O"))

    assert len(BurstStack(open_store(d.cube_url), BURST, "VV").dates) == 3  # ingested before the failure
    jobs = make_job_store(f"dynamodb://{d.table}", client=boto3.client("dynamodb", **moto.boto3_kwargs))
    mine = [r for r in jobs.list(1000) if r.request.get("cube_url") == d.cube_url]
    (record,) = mine
    assert record.state == "failed" and record.message.startswith(f"burst {BURST}: InputError:")
    assert "no DEM" in record.message and record.progress.done == 0

    logs, emf = stdout_documents(capsys.readouterr().out)
    errors = [r for r in logs if r["level"] == "ERROR" and "exception" in r]
    assert errors and all(r["correlation_id"] == event["id"] for r in errors)
    assert any("InputError" in r["exception"] for r in errors)
    (doc,) = [x for x in emf if "Failures" in x]
    assert emf_metrics(doc)["Failures"] == (1, "Count")

    # Fix the cause, redeliver: the date is already in the cube, the products get computed.
    deployments.put_dem(d)
    summary = module.handler(event, LambdaContext("sarcube-KeepUpFunction-3M4N5O"))
    assert summary["state"] == "succeeded" and summary["added"] == [] and summary["chunks_computed"] > 0
    assert jobs.get(summary["job_id"]).state == "succeeded"


@pytest.mark.s3
def test_deployed_keep_up_submits_to_step_functions(
        make_deployment, tiny_stack, lambda_function, moto, s3) -> None:
    """As deployed (SARCUBE_STATE_MACHINE_ARN set, no SARCUBE_EXECUTOR): the work goes to the
    fan-out state machine (moto's Step Functions): a job file in the bucket, a job record in the
    table, an execution with the input the state machine expects; nothing computed here."""
    sfn = boto3.client("stepfunctions", **moto.boto3_kwargs)
    name = STATE_MACHINE_ARN.rsplit(":", 1)[1]
    if name not in {m["name"] for m in sfn.list_state_machines()["stateMachines"]}:
        sfn.create_state_machine(name=name, roleArn="arn:aws:iam::123456789012:role/sarcube-fanout",
                                 definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}))
    d = make_deployment(dates=(0, 1))
    subscribe(d.cube(), {"id": "glacier-watch", "bbox": AREA, "products": PRODUCTS})
    event = _event_for(d, "keepup-object-created.json", tiny_stack.safe_paths[2], s3)
    module = lambda_function("KeepUpFunction", d)
    summary = module.handler(event, LambdaContext("sarcube-KeepUpFunction-3M4N5O"))
    assert summary["state"] == "submitted" and summary["chunks_computed"] == 0
    job_id = summary["job_id"]

    execution = sfn.describe_execution(executionArn=f"{STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:{job_id}")
    payload = json.loads(execution["input"])
    assert payload == {"job_id": job_id, "job_url": f"s3://{d.bucket}/jobs/{job_id}/job.json", "bursts": [BURST]}
    spec = json.loads(s3.cat(payload["job_url"].removeprefix("s3://")))
    assert [b["burst_id"] for b in spec["bursts"]] == [BURST]
    assert {p["product"] for p in spec["bursts"][0]["products"]} == {"backscatter", "coherence"}
    jobs = make_job_store(f"dynamodb://{d.table}", client=boto3.client("dynamodb", **moto.boto3_kwargs))
    assert jobs.get(job_id).state == "queued"  # the state machine marks it running
    assert not open_store(f"s3://{d.bucket}/ard").exists(BURST)


def _sqs_message(d: Deployment, safe: Path, message_id: str, s3: Any, *, upload: bool = True) -> dict[str, Any]:
    """The SQS record file (keep-up FIFO queue), its body the EventBridge event of ``safe``'s zip."""
    (record,) = load_event("keepup-sqs-fifo.json")["Records"]
    inner = json.loads(record["body"])
    key = f"incoming/{safe.name.removesuffix('.SAFE')}.zip"
    if upload:
        s3.pipe(f"{d.bucket}/{key}", _zip_safe(safe))
    inner["detail"]["bucket"]["name"] = d.bucket
    inner["detail"]["object"]["key"] = key
    inner["resources"] = [f"arn:aws:s3:::{d.bucket}"]
    inner["id"] = f"event-{message_id}"
    return {**record, "messageId": message_id, "body": json.dumps(inner, separators=(",", ":"))}


@pytest.mark.s3
def test_sqs_fifo_batch_reports_the_failed_message_and_holds_back_the_rest(
        make_deployment, tiny_stack, lambda_function, s3, capsys: pytest.CaptureFixture[str]) -> None:
    """As deployed: SQS records of the FIFO queue. A batch of three: the first ingests; the
    second names a zip not uploaded yet and fails; the third, though fine, must not overtake it
    (FIFO order), so both come back in batchItemFailures and nothing of them is ingested. Once
    the zip is there, the redelivered two go through and the batch reports no failure."""
    d = make_deployment(dates=(0,))
    module = lambda_function("KeepUpFunction", d, SARCUBE_EXECUTOR="local")
    first = _sqs_message(d, tiny_stack.safe_paths[1], "m-1", s3)
    late = _sqs_message(d, tiny_stack.safe_paths[2], "m-2", s3, upload=False)
    again = _sqs_message(d, tiny_stack.safe_paths[1], "m-3", s3)

    out = module.handler({"Records": [first, late, again]}, LambdaContext("sarcube-KeepUpFunction-3M4N5O"))

    assert out == {"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]}
    stacks = {b: BurstStack(open_store(d.cube_url), b, "VV") for b in (BURST, OTHER_BURST)}
    assert all(len(s.dates) == 2 for s in stacks.values())  # date 0, and date 1 from the first message
    logs, emf = stdout_documents(capsys.readouterr().out)
    (done,) = [r for r in logs if r.get("message") == "keep-up done"]
    assert done["correlation_id"] == "event-m-1" and len(done["added"]) == 2
    (failed,) = [r for r in logs if r["level"] == "ERROR"]
    assert failed["correlation_id"] == "event-m-2" and "m-2" in failed["message"]
    (doc,) = [x for x in emf if "Failures" in x]  # one document per invocation, one value per message
    assert doc["Failures"] in (1, [1], 1.0, [1.0]) and doc["BurstDatesIngested"] in (2, [2], 2.0, [2.0])

    # The zip arrives; SQS delivers the two messages again.
    s3.pipe(f"{d.bucket}/{json.loads(late['body'])['detail']['object']['key']}", _zip_safe(tiny_stack.safe_paths[2]))
    out = module.handler({"Records": [late, again]}, LambdaContext("sarcube-KeepUpFunction-3M4N5O"))
    assert out == {"batchItemFailures": []}
    stacks = {b: BurstStack(open_store(d.cube_url), b, "VV") for b in (BURST, OTHER_BURST)}
    assert all(len(s.dates) == 3 for s in stacks.values())
    logs, _ = stdout_documents(capsys.readouterr().out)
    done = [r for r in logs if r.get("message") == "keep-up done"]
    assert [r["correlation_id"] for r in done] == ["event-m-2", "event-m-3"]
    assert len(done[0]["added"]) == 2 and done[1]["added"] == [] and len(done[1]["skipped"]) == 2


def test_sqs_records_unwrap_to_the_s3_event() -> None:
    """The record file's body is the EventBridge event file; a body that is not an object is refused."""
    event = load_event("keepup-sqs-fifo.json")
    (record,) = event["Records"]
    assert sqs_message_event(record) == load_event("keepup-object-created.json")
    assert slc_urls_from_event(sqs_message_event(record)) == [
        "s3://sarcube-databucket-1q2w3e4r5t6y/incoming/"
        "S1A_IW_SLC__1SSV_20240130T022010_20240130T022011_052330_0640A3_7B9B.zip"]
    with pytest.raises(InputError, match="sqs_message_event"):
        slc_urls_from_event(event)  # the wrapper itself is not an S3 event
    for body in ("not json", "[1, 2]", ""):
        with pytest.raises(InputError, match="SQS message .*expected an S3 event"):
            sqs_message_event({**record, "body": body})


# ---------------------------------------------------------------------------------------- the library


@pytest.fixture(scope="module")
def local_cube(tiny_stack, tmp_path_factory):
    """A local cube of the first two simulated dates, with its DEM."""
    from cube.ingest import ingest

    store = open_store(str(tmp_path_factory.mktemp("keepup") / "cube"))
    ingest([str(p) for p in tiny_stack.safe_paths[:2]], store, progress=False)
    set_cube_dem(store, str(tiny_stack.truth_dir / "dem.tif"))
    return store


def test_submitting_to_an_executor_records_the_job_first(local_cube, tiny_stack, tmp_path) -> None:
    """With an executor, keep-up creates the job record, then hands over a spec naming only the
    subscribed windows and the new date (pairs for pair products); it computes nothing itself."""
    subscribe(local_cube, {"id": "glacier-watch", "bbox": AREA, "products": PRODUCTS})
    jobs = make_job_store(str(tmp_path / "jobs.sqlite"))
    handed: list[tuple[Any, str, str]] = []

    def submit(spec, job_id):
        handed.append((spec, job_id, jobs.get(job_id).state))

    engine = ArdEngine(local_cube)
    report = keep_up([str(tiny_stack.safe_paths[2])], local_cube, engine, jobs=jobs, submit=submit)
    assert report.state == "submitted" and engine.totals.chunks_computed == 0
    ((spec, job_id, state_then),) = handed
    assert job_id == report.job_id and state_then == "queued"
    (burst,) = spec.bursts
    assert burst.burst_id == BURST
    dates = sorted(BurstStack(local_cube, BURST, "VV").dates)
    by_product = {p.product: p for p in burst.products}
    assert by_product["backscatter"].dates == [dates[2]]
    assert sorted(map(tuple, by_product["coherence"].pairs)) == [(dates[0], dates[2]), (dates[1], dates[2])]
    # The windows hold exactly the pixels whose centres are in the area (up to the pixel on each edge).
    grid = BurstStack(local_cube, BURST, "VV").grid
    for job in burst.products:
        variant = Variant.of(job.product)
        r0, r1, c0, c1 = job.window
        ly, lx = variant.options.looks
        rows, cols = grid.height // ly, grid.width // lx
        x = grid.x0 + (np.arange(cols) + 0.5) * grid.dx * lx
        y = grid.y0 - (np.arange(rows) + 0.5) * grid.dy * ly
        lon, lat = transformer(grid.epsg, 4326).transform(*np.meshgrid(x, y))
        inside = (lon >= AREA[0]) & (lon <= AREA[2]) & (lat >= AREA[1]) & (lat <= AREA[3])
        rr, cc = np.nonzero(inside)
        assert r0 <= rr.min() and rr.max() < r1 and c0 <= cc.min() and cc.max() < c1
        assert rr.min() - r0 <= 1 and r1 - 1 - rr.max() <= 1 and cc.min() - c0 <= 1 and c1 - 1 - cc.max() <= 1
    assert jobs.get(job_id).request["bursts"][0]["burst_id"] == BURST


def test_new_pairs_follow_the_catalog_rule() -> None:
    """Against brute force over every pair of a date list with gaps, late arrivals included."""
    days = [0, 12, 24, 36, 96, 108, 180]
    keys = [f"2024{(1 + d // 28):02d}{(1 + d % 28):02d}T022010.390532" for d in days]
    times = {k: date_key_time(k) for k in keys}
    for new in keys:
        others = [k for k in keys if k != new]
        got = set(new_pairs(others, new))
        ordered = sorted(keys, key=times.get)
        want = set()
        for a, b in itertools.combinations(range(len(ordered)), 2):
            gap = (times[ordered[b]] - times[ordered[a]]).days
            if new in (ordered[a], ordered[b]) and (b == a + 1 or gap <= 48):
                want.add((ordered[a], ordered[b]))
        assert got == want, new
    assert new_pairs([], keys[0]) == []


def test_events_name_the_new_object() -> None:
    eb = load_event("keepup-object-created.json")
    bucket, key = eb["detail"]["bucket"]["name"], eb["detail"]["object"]["key"]
    assert slc_urls_from_event(eb) == [f"s3://{bucket}/{key}"]
    note = load_event("keepup-s3-notification.json")
    assert slc_urls_from_event(note) == [f"s3://{bucket}/{key}"]
    # S3 notifications URL-encode keys ("+" for a space); EventBridge's keys are taken as they are.
    note["Records"][0]["s3"]["object"]["key"] = "incoming/my+copy%281%29.zip"
    assert slc_urls_from_event(note) == [f"s3://{bucket}/incoming/my copy(1).zip"]
    for bad, match in (
        ({**eb, "detail-type": "Object Deleted"}, "Object Created"),
        ({"detail": {"object": {"key": "x.json"}}}, "not an S3 event"),
        ({**eb, "detail": {**eb["detail"], "object": {"key": "incoming/readme.txt"}}}, "not a Sentinel-1 SLC"),
    ):
        with pytest.raises(InputError, match=match):
            slc_urls_from_event(bad)


def test_subscriptions_round_trip_and_refuse_bad_input(tmp_path) -> None:
    store = open_store(str(tmp_path / "cube"))
    assert read_subscriptions(store) == []
    subscribe(store, {"id": "a", "bbox": AREA, "products": PRODUCTS})
    subscribe(store, {"id": "b", "bbox": (5, 45, 6, 46), "polarization": "VH",
                      "products": [{"product": "coherence", "options": {"window": [3, 6]}}]})
    subscribe(store, {"id": "a", "bbox": AREA, "products": [{"product": "amplitude"}]})  # replaces "a"
    subs = {s.id: s for s in read_subscriptions(store)}
    assert sorted(subs) == ["a", "b"] and subs["a"].products[0].product == "amplitude"
    assert subs["b"].products[0].variant().options.looks == (3, 6)
    assert json.loads(store.read_bytes(SUBSCRIPTIONS))[1]["id"] in ("a", "b")
    assert [s.id for s in unsubscribe(store, "a")] == ["b"]
    with pytest.raises(NotFoundError, match="'a'.*'b'"):
        unsubscribe(store, "a")
    for doc, match in (
        ({"id": "x", "bbox": (6, 45, 5, 46), "products": PRODUCTS}, "west < east"),
        ({"id": "x", "bbox": AREA, "products": [{"product": "coherence", "options": {"window": [0, 0]}}]}, "window"),
        ({"id": "x", "bbox": AREA, "products": [{"product": "nonsense"}]}, "nonsense"),
        ({"id": "x y", "bbox": AREA, "products": PRODUCTS}, "id"),
        ({"id": "x", "bbox": AREA, "products": []}, "products"),
    ):
        with pytest.raises((InputError, NotFoundError), match=match):
            subscribe(store, doc)
    store.write_bytes(SUBSCRIPTIONS, b'[{"id": "x"}]')
    with pytest.raises(CubeFormatError, match=SUBSCRIPTIONS):
        read_subscriptions(store)
    assert Subscription.model_validate({"id": "ok", "bbox": AREA, "products": PRODUCTS}).polarization == "VV"
