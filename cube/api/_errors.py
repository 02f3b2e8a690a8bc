"""The API's errors.

The table from error class to status and code, the ``{code, detail}`` body and its OpenAPI
documentation. Light (no engine imports): the STAC Lambda uses it alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cube.errors import (
    BusyError,
    CorruptChunkError,
    CubeError,
    InputError,
    NotFoundError,
    StorageUnavailableError,
)

log = logging.getLogger(__name__)


class TooLargeError(CubeError):
    """A request would return more than the configured limit; narrow it or submit a job."""


class OptionsError(CubeError, ValueError):
    """A product's options do not validate (unknown key, out of range)."""


class JobsDisabledError(CubeError):
    """The deployment starts no jobs (``SARCUBE_JOBS_ENABLED=false``); ask its operator."""


#: Polarization parameters: vv, vh, hh, hv in any case. No ``(?i)``: JSON Schema patterns are
#: ECMA 262 regexes, and clients that generate requests from the OpenAPI document need them.
POL_PATTERN = "^([vV][vVhH]|[hH][hHvV])$"


class ErrorBody(BaseModel):
    """Every error the API answers: a stable machine code and a sentence for people."""

    code: str = Field(description="machine-readable kind, e.g. not_found, invalid_request, busy")
    detail: str = Field(description="what is wrong, naming the thing, and what to do")


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The API's error body ``{code, detail}``."""
    return JSONResponse({"code": code, "detail": detail}, status_code=status, headers=headers)


#: Seconds a client should wait before retrying a 503.
RETRY_AFTER_S = {"busy": 5, "storage_unavailable": 5}

_TABLE: list[tuple[type[Exception], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (OptionsError, 422, "invalid_options"),
    (TooLargeError, 413, "too_large"),
    (BusyError, 503, "busy"),
    (StorageUnavailableError, 503, "storage_unavailable"),
    (CorruptChunkError, 503, "corrupt_data"),
    (JobsDisabledError, 403, "jobs_disabled"),
    (InputError, 400, "bad_request"),
    (CubeError, 400, "bad_request"),
]

#: The error statuses every operation documents (OpenAPI ``responses``), with ErrorBody.
ERROR_STATUSES: dict[int, str] = {
    400: "malformed input (bad_request, bad_key)",
    401: "no or bad credentials (unauthorized; WWW-Authenticate: Bearer)",
    403: "this deployment starts no jobs (jobs_disabled)",
    404: "unknown burst, product, date, job or key (not_found)",
    413: "the answer would exceed SARCUBE_MAX_RESPONSE_MB (too_large)",
    422: "a field is missing or has the wrong type (invalid_request), or a product option is "
    "unknown or out of range (invalid_options)",
    429: "over the caller's job quota (quota_exceeded): retry after the Retry-After header's seconds",
    500: "a bug (internal_error): no input should produce it; please report the request",
    503: "busy or storage_unavailable: retry after the Retry-After header's seconds; corrupt_data: "
    "a stored chunk failed its checksum three times (the operator runs sarcube verify)",
}


Table = list[tuple[type[Exception], int, str]]


def cube_error_response(exc: Exception, table: Table = _TABLE) -> JSONResponse:
    """The ``{code, detail}`` answer of one of sarcube's errors (the table above)."""
    for cls, status, code in table:
        if isinstance(exc, cls):
            retry = RETRY_AFTER_S.get(code)
            return error(status, code, str(exc), {"Retry-After": str(retry)} if retry else None)
    raise exc  # unreachable: CubeError is the table's last row


def install_error_handlers(
    app: FastAPI,
    *,
    extra: Table | None = None,
    validation_status: int = 422,
    body: type[BaseModel] = ErrorBody,
) -> None:
    """Map sarcube's errors to 4xx/503 ``{code, detail}``.

    Anything else is a bug: logged, and answered as a JSON 500 ``internal_error``.

    ``extra`` rows go before the table (a sub-app's own errors); ``validation_status`` is the
    status of a request that does not match the schema; ``body`` is the documented error body
    (its fields beyond code and detail are filled with the detail: STAC wants ``description``).
    """
    table = [*(extra or []), *_TABLE]
    more = [f for f in body.model_fields if f not in ("code", "detail")]

    def answer(response: JSONResponse) -> JSONResponse:
        if more:
            doc = json.loads(bytes(response.body))
            doc.update({f: doc["detail"] for f in more})
            headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
            return JSONResponse(doc, status_code=response.status_code, headers=headers or None)
        return response

    async def known(_: Request, exc: Exception) -> JSONResponse:
        return answer(cube_error_response(exc, table))

    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return answer(error(validation_status, "invalid_request", "; ".join(parts)))

    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
        return answer(error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail),
                            getattr(exc, "headers", None)))

    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after answering, so the server logs the traceback as well
        log.error("internal error on %s %s: %r", request.method, request.url.path, exc)
        where = f"{request.method} {request.url.path}"
        detail = f"unexpected {type(exc).__name__} on {where}: this is a bug; please report the request"
        return answer(error(500, "internal_error", detail))

    for cls, _, _ in table:
        app.add_exception_handler(cls, known)
    # Starlette types every handler as taking any Exception; these two take their own class
    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, internal)
    statuses = dict(ERROR_STATUSES)
    if validation_status != 422:
        statuses[validation_status] += "; " + statuses.pop(422)
    document_errors(app, body, statuses)


def document_errors(app: FastAPI, body: type[BaseModel] = ErrorBody,
                    statuses: Mapping[int, str] = ERROR_STATUSES) -> None:
    """Make the app's OpenAPI document say that every operation may answer ``statuses``.

    Each status answers ``body`` (422 included, in place of FastAPI's ``HTTPValidationError``).
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        name = body.__name__
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components[name] = body.model_json_schema(ref_template="#/components/schemas/{model}")
        ref = {"$ref": f"#/components/schemas/{name}"}
        for item in schema.get("paths", {}).values():
            for method, op in item.items():
                if method not in ("get", "put", "post", "delete", "patch", "head", "options"):
                    continue
                responses = op.setdefault("responses", {})
                if 422 not in statuses and "HTTPValidationError" in json.dumps(responses.get("422", {})):
                    del responses["422"]  # FastAPI's default; this app answers validation_status
                for status, text in statuses.items():
                    entry = responses.setdefault(str(status), {"description": text})
                    entry["content"] = {"application/json": {"schema": ref}}
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused not in json.dumps(schema.get("paths", {})):
                components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
