"""No input answers a 500: schemathesis generates requests for every operation of the OpenAPI
documents (the app's, and the STAC sub-app's at /stac/api), valid and invalid, and sends them
to a real uvicorn server over the tiny cube.

``make fuzz`` runs the same test with more examples per operation (``SARCUBE_FUZZ_EXAMPLES``).
Jobs: the app runs with ``jobs_enabled=False``, so ``POST /jobs`` and over-limit requests are
fuzzed (validation, then 403 ``jobs_disabled``) without starting any computation.
"""

from __future__ import annotations

import os
import time
from collections import Counter

import httpx
import pytest
import requests
import schemathesis
from _live import serve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from cube.api import create_app
from cube.storage import list_burst_groups
from tests.integration._users import API_KEYS, bearer

# geojson_pydantic warns (it does not fail) on a GeoJSON bbox whose west > east, which may cross
# the antimeridian, and on a GeometryCollection of one geometry; the server, in production, logs
# these and goes on: so must the test's (pytest makes warnings errors, in the server's threads too).
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:geojson_pydantic")

EXAMPLES = int(os.environ.get("SARCUBE_FUZZ_EXAMPLES", "20"))
MIN_REQUESTS = 1000
#: Every pass over an operation: EXAMPLES requests at most (fewer when hypothesis runs out of
#: distinct ones), reproducible (derandomized, no example database).
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking would re-send: we collect, not minimise
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def live(tiny_cube, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        cube_url=tiny_cube.url,
        ard_url=str(tmp / "ard.zarr"),
        jobs_url=str(tmp / "jobs.sqlite"),
        jobs_enabled=False,
        wait_s=5.0,
        api_keys=API_KEYS,  # the fuzzer is alice: every route, jobs included, is reachable
    )
    with serve(app) as url:
        yield url


def _passes(operation, anchors: list[dict[str, str]]):
    """(label, strategy) per pass over one operation: valid requests, invalid requests, and
    valid requests whose burst ID and product exist (random names rarely reach the engine)."""
    yield "positive", operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    yield "negative", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    params = operation.definition.raw.get("parameters", [])
    for values in anchors:
        path = {p["name"]: values[p["name"]] for p in params if p["in"] == "path" and p["name"] in values}
        query = {p["name"]: values[p["name"]] for p in params if p["in"] == "query" and p["name"] in values}
        if path or query:
            yield f"anchored {values}", operation.as_strategy(path_parameters=path or None, query=query or None)


def _fuzz(schema_url: str, base_url: str, anchors: list[dict[str, str]], session: requests.Session,
          counts: Counter, failures: list[str], bodies: list[str]) -> None:
    schema = schemathesis.openapi.from_url(schema_url, headers=dict(session.headers))
    for result in schema.get_all_operations():
        operation = result.ok()
        for label, strategy in _passes(operation, anchors):

            @SETTINGS
            @given(case=strategy)
            def run(case) -> None:
                response = case.call(base_url=base_url, session=session, timeout=60)
                counts[response.status_code] += 1
                counts["requests"] += 1
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append(f"{response.status_code} {response.text[:300]}\n    {case.as_curl_command()}")
                elif response.status_code >= 400:
                    try:
                        doc = response.json()
                        ok = isinstance(doc.get("code"), str) and isinstance(doc.get("detail"), str)
                    except ValueError:
                        ok = False
                    if not ok:
                        bodies.append(f"{response.status_code} {response.text[:200]}\n    {case.as_curl_command()}")

            try:
                run()
            except Unsatisfiable:
                # an operation without parameters or body has no invalid requests to make;
                # one whose valid requests cannot be generated is a schema bug
                if label != "negative":
                    failures.append(f"cannot generate {label} requests for {operation.label}")


@pytest.mark.timeout(max(600, 10 * EXAMPLES))  # make fuzz: about 2.5 s per example and pass on 2 cores
def test_no_request_answers_500(live, tiny_cube):
    burst_id = list_burst_groups(tiny_cube)[0][0]
    anchors = [{"burst_id": burst_id, "product": product, "collection_id": product}
               for product in ("backscatter", "coherence")]
    counts: Counter = Counter()
    failures: list[str] = []
    bodies: list[str] = []
    t0 = time.monotonic()
    with requests.Session() as session:
        session.headers.update(bearer("alice"))
        _fuzz(f"{live}/openapi.json", live, anchors, session, counts, failures, bodies)
        _fuzz(f"{live}/stac/api", f"{live}/stac", anchors, session, counts, failures, bodies)
    elapsed = time.monotonic() - t0
    print(f"fuzz: {counts['requests']} requests in {elapsed:.0f} s; statuses {sorted(counts.items(), key=str)}")
    assert not failures, f"{len(failures)} server errors:\n" + "\n".join(failures[:30])
    assert not bodies, f"{len(bodies)} error answers without {{code, detail}}:\n" + "\n".join(bodies[:30])
    assert counts["requests"] >= MIN_REQUESTS, counts


def test_every_operation_documents_the_error_body(live):
    """422 (400 in STAC) and the other error statuses point at ErrorBody, for every operation."""
    for url, validation in ((f"{live}/openapi.json", "422"), (f"{live}/stac/api", "400")):
        doc = httpx.get(url, headers=bearer("alice")).json()
        body = "StacErrorBody" if "stac" in url else "ErrorBody"
        assert set(doc["components"]["schemas"][body]["required"]) >= {"code", "detail"}
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        operations = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
        assert len(operations) >= 10
        for path, method, op in operations:
            for status in (validation, "404", "500", "503"):
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{body}"}, (path, method, status)


def test_pol_is_case_insensitive_without_inline_flags(live, tiny_cube):
    """The pol pattern is an ECMA regex (no ``(?i)``), and still takes any case."""
    doc = httpx.get(f"{live}/openapi.json", headers=bearer("alice")).text
    assert "(?i)" not in doc
    r = httpx.get(f"{live}/point", params={"lon": 0, "lat": 0, "pol": "vV"}, headers=bearer("alice"))
    assert r.status_code != 422, r.text  # the pattern took it; the point is elsewhere
    r = httpx.get(f"{live}/point", params={"lon": 0, "lat": 0, "pol": "xx"}, headers=bearer("alice"))
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def _zonal(geometry: str) -> str:
    """A /zonal body as raw JSON text (Python's json writes NaN, as some clients do)."""
    return ('{"product": "backscatter", "features": {"type": "FeatureCollection", "features": '
            '[{"type": "Feature", "properties": {}, "geometry": ' + geometry + '}]}}')


RING = "[[-127.75, 51.38], [-127.745, 51.38], [-127.745, 51.384], [-127.75, 51.38]]"
#: The 500s of the attack run (issue 11) and of this fuzzer, each now a 4xx: method, path (``{b}``
#: is a burst ID of the cube), JSON body text, expected status and code.
FOUND = [
    ("GET", "/tiles/backscatter/WebMercatorQuad/14/2600/5500.png?burst_id={b}&nodata=", None, 422, "invalid_request"),
    ("GET", "/tiles/backscatter/WebMercatorQuad/14/2600/5500.png?burst_id={b}&nodata=abc", None, 422,
     "invalid_request"),
    ("POST", "/stac/search", "[]", 400, "invalid_request"),
    ("POST", "/stac/search", '[{"limit": 1}]', 400, "invalid_request"),
    ("POST", "/stac/search", '{"intersects": {"type": "Polygon", "coordinates": [], '
                             '"bbox": [0.0, -1.7976931348623157e+308, -6.5e-262, -1.8e-21]}}', 400, "bad_request"),
    ("POST", "/stac/search", '{"intersects": {"type": "Point", "coordinates": [1e308, 0]}}', 400, "bad_request"),
    ("GET", "/zarr/" + "t" * 300 + "/backscatter/zarr.json", None, 404, "not_found"),
    ("GET", "/ard/backscatter?burst_id=" + "t" * 300, None, 404, "not_found"),
    ("GET", "/ard/backscatter?burst_id=../../../etc", None, 404, "not_found"),
    ("GET", "/point?lon=0&lat=0&burst_id=" + "t" * 300, None, 404, "not_found"),
    ("GET", "/ard/backscatter?burst_id={b}&datetime=2024-01-06/9999-12-31&bbox=-127.75,51.38,-127.749,51.381",
     None, 200, None),
    ("GET", "/ard/backscatter?burst_id={b}&datetime=0001-01-01T00:00:00%2B01:00", None, 400, "bad_request"),
    ("GET", "/tiles/backscatter/WebMercatorQuad/99999999999999/0/0.png?burst_id={b}", None, 422, "invalid_request"),
    ("GET", "/tiles/backscatter/WorldCRS84Quad/24/0/0.png?burst_id={b}", None, 404, "tile_outside_bounds"),
    ("GET", "/tiles/backscatter/WorldMercatorWGS84Quad/9/1185328/7441?burst_id={b}", None, 404,
     "tile_outside_bounds"),
    ("GET", "/tiles/backscatter/point/5.3e+260,0.0?burst_id={b}", None, 400, "bad_request"),
    ("GET", "/tiles/backscatter/WebMercatorQuad/14/2600/5500.png?burst_id={b}&algorithm=sum&algorithm_params=null",
     None, 400, "bad_request"),
    ("GET", "/point?product=backscatter&burst_id={b}&lat=0.0&lon=-35.8", None, 400, "bad_request"),
    ("GET", "/stac/pairs?burst_id={b}&min_days=2.2e16", None, 400, "invalid_request"),
    ("GET", "/tiles/backscatter/tiles/WebMercatorQuad?burst_id={b}&maxzoom=36017316363037", None, 422,
     "invalid_request"),
    ("GET", "/tiles/backscatter/tiles/WorldCRS84Quad?burst_id={b}&maxzoom=24", None, 422, "invalid_request"),
    ("GET", "/tiles/backscatter/WebMercatorQuad/tilejson.json?burst_id={b}&minzoom=-1", None, 422,
     "invalid_request"),
    ("POST", "/zonal", _zonal('{"type": "Foo", "coordinates": []}'), 400, "bad_request"),
    ("POST", "/zonal", _zonal('{"type": "Polygon", "coordinates": [[[NaN, 51.38], [-127.745, 51.38], '
                              '[-127.745, 51.384], [NaN, 51.38]]]}'), 400, "bad_request"),
    ("POST", "/zonal", _zonal('{"type": "Polygon", "coordinates": [[[1e300, 51.38], [-127.745, 51.38], '
                              '[-127.745, 51.384], [1e300, 51.38]]]}'), 400, "bad_request"),
    ("POST", "/zonal", _zonal('{"type": "Polygon", "coordinates": [[[-127.75, 51.38], [-127.74, 51.39], '
                              '[-127.74, 51.38], [-127.75, 51.39], [-127.75, 51.38]]]}'), 400, "bad_request"),
    ("POST", "/zonal", _zonal('{"type": "Polygon", "coordinates": [' + RING + ']}'), 200, None),
    ("POST", "/jobs", '{"bursts": [{"burst_id": "{b}", "products": [{"product": "backscatter"}]}]}', 403,
     "jobs_disabled"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), FOUND,
                         ids=[f"{m} {p[:60]}" + (f" {b[:40]}" if b else "") for m, p, b, *_ in FOUND])
def test_former_500s_are_4xx(live, tiny_cube, method, path, body, status, code):
    b = list_burst_groups(tiny_cube)[0][0]
    content = body.replace("{b}", b).encode() if body else None
    r = httpx.request(method, live + path.replace("{b}", b), content=content, timeout=120,
                      headers={**bearer("alice"), **({"Content-Type": "application/json"} if body else {})})
    assert r.status_code == status, r.text[:500]
    if code is not None:
        assert r.json()["code"] == code and r.json()["detail"]
