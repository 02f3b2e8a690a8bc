"""The API's error table on a bare FastAPI app: sarcube's errors → 4xx/503 ``{code, detail}``,
an unexpected exception → a logged JSON 500 ``internal_error`` (not a bare text 500)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cube.api._errors import ErrorBody, install_error_handlers
from cube.errors import BusyError, CorruptChunkError, InputError, NotFoundError, StorageUnavailableError


def _app(body: type[ErrorBody] = ErrorBody) -> TestClient:
    app = FastAPI()
    install_error_handlers(app, body=body)
    raised = {"bug": ZeroDivisionError("division by zero"), "storage": StorageUnavailableError("s3://b down"),
              "busy": BusyError("lease held"), "input": InputError("bad bbox"), "missing": NotFoundError("no t1"),
              "corrupt": CorruptChunkError("ard.zarr/t1/vv/backscatter/c/0/0/0 failed its checksum 3 times")}

    @app.get("/raise/{kind}")
    def boom(kind: str, n: int = 0) -> dict:
        raise raised[kind]

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("kind", "status", "code", "retry"), [
    ("storage", 503, "storage_unavailable", True),
    ("busy", 503, "busy", True),
    ("input", 400, "bad_request", False),
    ("missing", 404, "not_found", False),
    ("corrupt", 503, "corrupt_data", False),
])
def test_cube_errors_map_to_their_status_and_code(kind, status, code, retry):
    r = _app().get(f"/raise/{kind}")
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert ("retry-after" in r.headers) == retry


def test_an_unexpected_exception_is_a_logged_json_500(caplog):
    with caplog.at_level(logging.ERROR, logger="cube.api._errors"):
        r = _app().get("/raise/bug")
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error" and "ZeroDivisionError" in r.json()["detail"]
    assert any("/raise/bug" in m for m in caplog.messages)


def test_validation_errors_are_422_code_detail():
    r = _app().get("/raise/input", params={"n": "x"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and "query.n" in r.json()["detail"]
