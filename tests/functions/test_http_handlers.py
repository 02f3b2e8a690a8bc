"""The HTTP functions answer real API Gateway (HTTP API, payload 2.0) events through Mangum.

References are independent of the handlers: STAC ids from the cube's own burst stacks, a zarr
chunk against the product function run directly on the cube (``BurstStack.compute``) and the
object in the ARD bucket, job listings against records written straight into DynamoDB.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from cube.format import date_key_time
from cube.jobs import make_job_record, make_job_store
from cube.materialize._ard import decode_chunk
from cube.products import ArdArray, BurstStack, Variant
from cube.storage import open_store
from tests.functions.conftest import (
    REPO,
    Deployment,
    LambdaContext,
    body_bytes,
    emf_metrics,
    handler_path,
    load_event,
    stdout_documents,
)

pytestmark = pytest.mark.s3

BURST = "t108_230132_iw2"
OTHER_BURST = "t108_230133_iw2"


@pytest.fixture(scope="module")
def stack(deployments) -> Iterator[Deployment]:
    """A deployment whose cube holds the first two simulated dates of both bursts."""
    d = deployments.make(dates=(0, 1))
    yield d
    deployments.drop(d)


def _dates(d: Deployment, burst: str) -> list[str]:
    return sorted(BurstStack(d.cube(), burst, "VV").dates)


def _direct(d: Deployment, burst: str) -> BurstStack:
    """The burst's stack read as the functions read it (credentials and endpoint from the
    environment the loaded function set), for computing products directly."""
    return BurstStack(open_store(d.cube_url), burst, "VV")


def _stac_ids(response: dict[str, Any]) -> set[str]:
    assert response["statusCode"] == 200, body_bytes(response)[:500]
    doc = json.loads(body_bytes(response))
    assert doc["type"] == "FeatureCollection"
    return {f["id"] for f in doc["features"]}


# ---------------------------------------------------------------------------------------- STAC (zip)


def test_stac_search_events(stack: Deployment, lambda_function, capsys: pytest.CaptureFixture[str]) -> None:
    """GET with bbox + one day, POST with a month and a CQL2 filter: the ids of the cube's dates."""
    module = lambda_function("ApiFunction", stack)
    context = LambdaContext("sarcube-ApiFunction-1A2B3C")
    cube = stack.cube()
    every = {f"{b}_{d}" for b in (BURST, OTHER_BURST) for d in _dates(stack, b)}
    on_18th = {i for i in every if date_key_time(i.rsplit("_", 1)[1]).strftime("%Y-%m-%d") == "2024-01-18"}
    assert len(every) == 4 and len(on_18th) == 2
    assert cube.exists("catalog/index.sqlite")

    get = load_event("api-stac-search-get.json")
    assert _stac_ids(module.handler(get, context)) == on_18th
    post = load_event("api-stac-search-post.json")
    assert json.loads(post["body"])["filter"]["args"][1] == 108  # the simulator's track
    assert _stac_ids(module.handler(post, context)) == every

    # A filter on another track finds nothing (the filter is applied, not ignored).
    body = json.loads(post["body"])
    body["filter"]["args"][1] = 109
    post["body"] = json.dumps(body)
    post["headers"]["content-length"] = str(len(post["body"]))
    assert _stac_ids(module.handler(post, context)) == set()

    logs, emf = stdout_documents(capsys.readouterr().out)
    requests = [r for r in logs if r.get("message") == "request"]
    assert [r["correlation_id"] for r in requests] == [get["requestContext"]["requestId"],
                                                       post["requestContext"]["requestId"], post["requestContext"]["requestId"]]
    assert all(r["service"] == "api" and r["status"] == 200 and r["path"] == "/stac/search" for r in requests)
    assert requests[0]["cold_start"] is True and requests[1]["cold_start"] is False
    assert emf == []  # no engine here, so no chunk metrics


def test_api_function_runs_without_the_engine_dependencies(stack: Deployment, child_env, tmp_path) -> None:
    """The zip function as its layer has it: numba, llvmlite, pyproj, scipy, ... absent.

    A fresh interpreter with those modules made unimportable loads the handler from its
    CodeUri (as the top-level module ``handler``) and answers the GET search event.
    """
    path, attr = handler_path("ApiFunction")
    absent = ["numba", "llvmlite", "pyproj", "scipy", "rasterio", "titiler", "dask", "distributed",
              "tifffile", "lxml", "imagecodecs"]
    event = load_event("api-stac-search-get.json")
    script = textwrap.dedent(f"""
        import json, sys
        for name in {absent!r}:
            sys.modules[name] = None  # what a missing distribution looks like to import
        sys.path.insert(0, {str(path.parent)!r})
        import handler
        class Context:
            function_name = "sarcube-ApiFunction-1A2B3C"
            memory_limit_in_mb = 1024
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:sarcube-ApiFunction-1A2B3C"
            aws_request_id = "6f1c1d9b-2a3e-4f5a-8b7c-8d9e0f1a2b3c"
        response = handler.{attr}(json.loads(sys.stdin.read()), Context())
        loaded = sorted(n for n in {absent!r} if sys.modules.get(n) is not None)
        print("RESULT " + json.dumps({{"response": response, "loaded": loaded}}))
    """)
    env = {**child_env, **stack.environment("ApiFunction")}
    env["PYTHONPATH"] = str(REPO)  # the layer's python/ holds the cube package
    run = subprocess.run([sys.executable, "-c", script], input=json.dumps(event), capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line[len("RESULT "):])
    assert result["loaded"] == []
    on_18th = {f"{b}_{d}" for b in (BURST, OTHER_BURST) for d in _dates(stack, b)
               if date_key_time(d).strftime("%Y-%m-%d") == "2024-01-18"}
    assert _stac_ids(result["response"]) == on_18th


# ---------------------------------------------------------------------------------------- zarr (image)


def test_zarr_events_compute_then_serve_the_chunk(stack: Deployment, lambda_function,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """zarr.json, then a chunk never computed: computed, stored in the ARD bucket, served; again: a hit."""
    module = lambda_function("ZarrFunction", stack)
    context = LambdaContext("sarcube-ZarrFunction-4D5E6F")
    dates = _dates(stack, BURST)
    variant = Variant.of("backscatter")
    grid = BurstStack(stack.cube(), BURST, "VV").grid

    meta = module.handler(load_event("zarr-metadata.json"), context)
    assert meta["statusCode"] == 200 and meta["headers"]["content-type"] == "application/json"
    doc = json.loads(body_bytes(meta))
    array = doc["consolidated_metadata"]["metadata"]["backscatter"]
    ly, lx = variant.options.looks
    assert array["shape"] == [len(dates), grid.height // ly, grid.width // lx]
    assert array["dimension_names"] == ["time", "y", "x"]

    event = load_event("zarr-chunk.json")
    t, i, j = (int(p) for p in event["rawPath"].split("/")[-3:])
    rel = ArdArray(BURST, "VV", variant, (dates[t],)).chunk_path(i, j)
    ard = stack.ard()
    assert not ard.exists(rel)
    before = set(ard.fs.find(ard.root))

    first = module.handler(event, context)
    assert first["statusCode"] == 200, body_bytes(first)[:500]
    assert first["isBase64Encoded"] is True
    data = body_bytes(first)
    assert data == ard.read_bytes(rel)  # the object the engine stored is what was served
    new_chunks = {p for p in set(ard.fs.find(ard.root)) - before if "/c/" in p}
    assert int(first["headers"]["x-sarcube-chunks-computed"]) == len(new_chunks) >= 2  # + its CSLC chunks

    # The values: the product function run directly on the cube over the chunk's window.
    cy, cx = variant.chunks
    window = (slice(i * cy, min((i + 1) * cy, grid.height // ly)), slice(j * cx, min((j + 1) * cx, grid.width // lx)))
    expected = _direct(stack, BURST).compute("backscatter", [dates[t]], window, variant.options)
    got = decode_chunk(data, variant)[: expected.shape[0], : expected.shape[1]]
    assert np.isfinite(expected).mean() > 0.3  # the tiny burst is valid over part of its grid
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)

    second = module.handler(load_event("zarr-chunk.json"), context)
    assert second["statusCode"] == 200 and body_bytes(second) == data
    assert second["headers"]["x-sarcube-chunks-computed"] == "0"

    logs, emf = stdout_documents(capsys.readouterr().out)
    requests = [r for r in logs if r.get("message") == "request"]
    assert [r["correlation_id"] for r in requests] == [
        load_event(n)["requestContext"]["requestId"] for n in ("zarr-metadata.json", "zarr-chunk.json", "zarr-chunk.json")]
    assert all(r["service"] == "zarr" for r in requests)
    assert [r["chunks_computed"] > 0 for r in requests] == [False, True, False]
    metric_docs = [d for d in emf if "ChunksComputed" in d]
    assert len(metric_docs) == 3  # one per request
    for d in metric_docs:
        assert d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "sarcube"
        assert d["service"] == "zarr"
    m = [emf_metrics(d) for d in metric_docs]
    assert {name: unit for name, (_, unit) in m[1].items()} == {
        "ChunksComputed": "Count", "CacheHits": "Count", "ComputeMs": "Milliseconds",
        "BytesRead": "Bytes", "BytesWritten": "Bytes"}
    assert m[1]["ComputeMs"][0] > 0 and m[1]["BytesWritten"][0] >= len(data) and m[1]["BytesRead"][0] > 0
    assert m[2]["ChunksComputed"][0] == 0 and m[2]["CacheHits"][0] == 1 and m[2]["ComputeMs"][0] == 0
    assert metric_docs[1]["chunks_computed_by_product"]["backscatter"] == 1
    assert any(d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "ColdStart" for d in emf)


def test_zarr_metric_counts_each_computed_chunk_once(stack: Deployment, lambda_function,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """ChunksComputed equals the chunk objects the request added to the ARD bucket."""
    module = lambda_function("ZarrFunction", stack)
    event = load_event("zarr-chunk.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/zarr/{OTHER_BURST}/backscatter/backscatter/c/0/0/0"
    ard = stack.ard()
    before = set(ard.fs.find(ard.root))
    response = module.handler(event, LambdaContext("sarcube-ZarrFunction-4D5E6F"))
    assert response["statusCode"] == 200
    added = {p for p in set(ard.fs.find(ard.root)) - before if "/c/" in p}
    _, emf = stdout_documents(capsys.readouterr().out)
    (doc,) = [d for d in emf if "ChunksComputed" in d]
    assert int(response["headers"]["x-sarcube-chunks-computed"]) == len(added)
    assert emf_metrics(doc)["ChunksComputed"][0] == len(added)


def test_bad_requests_are_4xx_with_code_and_detail(stack: Deployment, lambda_function) -> None:
    module = lambda_function("ZarrFunction", stack)
    context = LambdaContext("sarcube-ZarrFunction-4D5E6F")
    for path, status in (("/zarr/t999_999999_iw1/backscatter/backscatter/c/0/0/0", 404),
                         (f"/zarr/{BURST}/nonsense/nonsense/c/0/0/0", 404),
                         (f"/zarr/{BURST}/backscatter/backscatter/c/9/0/0", 404),
                         (f"/zarr/{BURST}/coherence/window=0x0/zarr.json", 422)):
        event = load_event("zarr-chunk.json")
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        response = module.handler(event, context)
        doc = json.loads(body_bytes(response))
        assert response["statusCode"] == status, (path, doc)
        assert set(doc) == {"code", "detail"} and doc["detail"], (path, doc)


# ---------------------------------------------------------------------------------------- ARD image: point, jobs


def test_point_event_gives_the_time_series(stack: Deployment, lambda_function) -> None:
    """/point on the ArdFunction: one value per date, each the product's pixel computed directly."""
    module = lambda_function("ArdFunction", stack)
    event = load_event("ard-point.json")
    response = module.handler(event, LambdaContext("sarcube-ArdFunction-7G8H9I"))
    assert response["statusCode"] == 200, body_bytes(response)[:500]
    doc = json.loads(body_bytes(response))
    dates = _dates(stack, BURST)
    assert doc["burst_id"] == BURST and len(doc["series"]) == len(dates)
    stack_ = _direct(stack, BURST)
    row, col = doc["row"], doc["col"]
    # The product pixel's centre is within half a pixel of the asked point (UTM of the grid).
    g, (ly, lx) = stack_.grid, Variant.of("backscatter").options.looks
    assert math.isclose(g.x0 + (col + 0.5) * g.dx * lx, doc["x"], abs_tol=g.dx * lx / 2)
    assert math.isclose(g.y0 - (row + 0.5) * g.dy * ly, doc["y"], abs_tol=g.dy * ly / 2)
    for entry, d in zip(doc["series"], dates, strict=True):
        assert entry["datetime"] == date_key_time(d).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        direct = stack_.compute("backscatter", [d], (slice(row, row + 1), slice(col, col + 1)))[0, 0]
        assert entry["value"] == pytest.approx(float(direct), rel=1e-6)


def test_jobs_event_lists_records_from_the_state_table(stack: Deployment, lambda_function, moto) -> None:
    """/jobs on the ArdFunction reads the DynamoDB table the template names: the jobs of the
    user the gateway's JWT authorizer names (claims ``sub``), none for an anonymous caller."""
    import boto3

    assert "SARCUBE_JOBS_URL" not in stack.environment("ArdFunction")
    store = make_job_store(f"dynamodb://{stack.table}", client=boto3.client("dynamodb", **moto.boto3_kwargs))
    record = store.create(make_job_record({"bursts": []}, total=3, owner="user-sub-1"))
    store.update(record.id, state="running", message="written by the test")
    other = store.create(make_job_record({"bursts": []}, total=1, owner="user-sub-2"))
    module = lambda_function("ArdFunction", stack)
    event = load_event("ard-jobs-list.json")
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "user-sub-1"}, "scopes": None}}
    response = module.handler(event, LambdaContext("sarcube-ArdFunction-7G8H9I"))
    assert response["statusCode"] == 200, body_bytes(response)[:500]
    jobs = {j["id"]: j for j in json.loads(body_bytes(response))["jobs"]}
    assert jobs[record.id]["state"] == "running" and jobs[record.id]["progress"]["total"] == 3
    assert other.id not in jobs
    anonymous = module.handler(load_event("ard-jobs-list.json"), LambdaContext("sarcube-ArdFunction-7G8H9I"))
    assert json.loads(body_bytes(anonymous))["jobs"] == []


# ---------------------------------------------------------------------------------------- tiles (image)


def test_tile_event(stack: Deployment, lambda_function) -> None:
    import imagecodecs

    module = lambda_function("TilesFunction", stack)
    event = load_event("tiles-tile.json")
    response = module.handler(event, LambdaContext("sarcube-TilesFunction-0J1K2L"))
    assert response["statusCode"] == 200, body_bytes(response)[:500]
    assert response["headers"]["content-type"] == "image/png" and response["isBase64Encoded"] is True
    image = imagecodecs.png_decode(body_bytes(response))
    assert image.shape[:2] == (256, 256)
    # The tile lies over the burst: some pixels are drawn (alpha or mask band not all zero).
    assert image[..., -1].any()
