"""What every router shares: the error table and its OpenAPI bodies, the engine, options and date
parsing."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cube.errors import BusyError, CubeError, InputError, NotFoundError, StorageUnavailableError
from cube.format import date_key_time
from cube.materialize import ArdEngine, Variant
from cube.products import get_product, parse_segment
from cube.products._options import _parse_value

log = logging.getLogger(__name__)


class TooLargeError(CubeError):
    """A request would return more than the configured limit; narrow it or submit a job."""


class OptionsError(CubeError, ValueError):
    """A product's options do not validate (unknown key, out of range)."""


class JobsDisabledError(CubeError):
    """This deployment starts no jobs (``SARCUBE_JOBS_ENABLED=false``); ask its operator."""


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
    (JobsDisabledError, 403, "jobs_disabled"),
    (InputError, 400, "bad_request"),
    (CubeError, 400, "bad_request"),
]

#: The error statuses every operation documents (OpenAPI ``responses``), with ErrorBody.
ERROR_STATUSES: dict[int, str] = {
    400: "malformed input (bad_request, bad_key)",
    403: "this deployment starts no jobs (jobs_disabled)",
    404: "unknown burst, product, date, job or key (not_found)",
    413: "the answer would exceed SARCUBE_MAX_RESPONSE_MB (too_large)",
    422: "a field is missing or has the wrong type (invalid_request), or a product option is "
    "unknown or out of range (invalid_options)",
    500: "a bug (internal_error): no input should produce it; please report the request",
    503: "busy or storage_unavailable: retry after the Retry-After header's seconds",
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
    """Map sarcube's errors to 4xx/503 ``{code, detail}``; anything else is a bug: logged, and
    answered as a JSON 500 ``internal_error``.

    ``extra`` rows go before the table (a sub-app's own errors); ``validation_status`` is the
    status of a request that does not match the schema; ``body`` is the documented error body
    (its fields beyond code and detail are filled with the detail: STAC wants ``description``).
    """
    table = [*(extra or []), *_TABLE]
    more = [f for f in body.model_fields if f not in ("code", "detail")]

    def answer(response: JSONResponse) -> JSONResponse:
        if more:
            doc = json.loads(response.body)
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
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, internal)
    statuses = dict(ERROR_STATUSES)
    if validation_status != 422:
        statuses[validation_status] += "; " + statuses.pop(422)
    document_errors(app, body, statuses)


def document_errors(app: FastAPI, body: type[BaseModel] = ErrorBody,
                    statuses: Mapping[int, str] = ERROR_STATUSES) -> None:
    """Make the app's OpenAPI document say that every operation may answer ``statuses`` with
    ``body`` (422 included, in place of FastAPI's ``HTTPValidationError``)."""
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


def engine_of(request: Request) -> ArdEngine:
    """The app's lazy engine."""
    return request.app.state.engine


def variant_from(product: str, values: Mapping[str, Any] | str) -> Variant:
    """A product variant from a path segment (``window=7x7``), query parameters (text) or a
    JSON object (values already typed).

    NotFoundError for an unknown product; OptionsError (422) naming the bad option.
    """
    spec = get_product(product)
    try:
        if isinstance(values, str):
            options = parse_segment(spec.options, values)
        else:
            options = spec.options.model_validate(
                {k: _parse_value(v) if isinstance(v, str) else v for k, v in values.items()})
    except (ValidationError, ValueError) as exc:
        fields = ", ".join(spec.options.model_fields)
        raise OptionsError(f"{product} options: {_short(exc)} (options: {fields})") from None
    return Variant(product, options)


def option_params(product: str, query: dict[str, str]) -> dict[str, str]:
    """The query parameters that are options of ``product`` (the others are left alone)."""
    fields = get_product(product).options.model_fields
    return {k: v for k, v in query.items() if k in fields}


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant or a calendar day, as an aware UTC datetime (InputError otherwise)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise InputError(
            f"datetime {text!r} is not RFC 3339 (2024-01-06T02:20:10Z) or a day (2024-01-06)"
        ) from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InputError(f"datetime {text!r} is outside the years 1 to 9999 in UTC") from None


def match_dates(dates: list[str], text: str | None, *, burst_id: str) -> list[str]:
    """The date keys a ``datetime`` parameter names: an instant (±1 s), a day, or ``a/b``
    (open ends ``..``). None = every date. NotFoundError if nothing matches."""
    if not text:
        return list(dates)
    times = {d: date_key_time(d) for d in dates}
    if "/" in text:
        a, _, b = text.partition("/")
        lo = parse_instant(a) if a not in ("", "..") else datetime.min.replace(tzinfo=UTC)
        hi = parse_instant(b) if b not in ("", "..") else datetime.max.replace(tzinfo=UTC)
        if len(b.strip()) == 10:
            last = datetime.max.replace(tzinfo=UTC)  # 9999-12-31 has no next day
            hi = last if hi.date() == last.date() else hi + timedelta(days=1)
        found = [d for d in dates if lo <= times[d] <= hi]
    elif len(text.strip()) == 10:
        day = parse_instant(text).date()
        found = [d for d in dates if times[d].date() == day]
    else:
        t = parse_instant(text)
        found = [d for d in dates if abs((times[d] - t).total_seconds()) <= 1.0]
    if not found:
        have = ", ".join(times[d].strftime("%Y-%m-%dT%H:%M:%S.%fZ") for d in dates)
        raise NotFoundError(f"{burst_id}: no date matches datetime={text!r}; dates: {have}")
    return found


def one_date(dates: list[str], text: str | None, *, burst_id: str, name: str = "datetime") -> str:
    """Exactly one date key for ``text`` (latest if None)."""
    if not text:
        if not dates:
            raise NotFoundError(f"{burst_id} has no dates")
        return dates[-1]
    found = match_dates(dates, text, burst_id=burst_id)
    if len(found) != 1:
        raise InputError(f"{name}={text!r} matches {len(found)} dates of {burst_id}; give one date")
    return found[0]


def iso(date_key: str) -> str:
    """RFC 3339 (µs, Z) of a date key."""
    return date_key_time(date_key).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
