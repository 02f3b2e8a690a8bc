"""What every router shares: the error table, the engine, options and date parsing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cube.errors import BusyError, CubeError, InputError, NotFoundError
from cube.format import date_key_time
from cube.materialize import ArdEngine, Variant
from cube.products import get_product, parse_segment
from cube.products._options import _parse_value

log = logging.getLogger(__name__)


class TooLargeError(CubeError):
    """A request would return more than the configured limit; narrow it or submit a job."""


class OptionsError(CubeError, ValueError):
    """A product's options do not validate (unknown key, out of range)."""


def error(status: int, code: str, detail: str) -> JSONResponse:
    """The API's error body ``{code, detail}``."""
    return JSONResponse({"code": code, "detail": detail}, status_code=status)


_TABLE: list[tuple[type[Exception], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (OptionsError, 422, "invalid_options"),
    (TooLargeError, 413, "too_large"),
    (BusyError, 503, "busy"),
    (InputError, 400, "bad_request"),
    (CubeError, 400, "bad_request"),
]


def install_error_handlers(app: FastAPI) -> None:
    """Map sarcube's errors to 4xx ``{code, detail}``; anything else is a logged 500."""

    async def cube_error(_: Request, exc: Exception) -> JSONResponse:
        for cls, status, code in _TABLE:
            if isinstance(exc, cls):
                return error(status, code, str(exc))
        raise exc

    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return error(422, "invalid_request", "; ".join(parts))

    async def http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}
        return error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))

    app.add_exception_handler(CubeError, cube_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)


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
    except ValueError:
        raise InputError(
            f"datetime {text!r} is not RFC 3339 (2024-01-06T02:20:10Z) or a day (2024-01-06)"
        ) from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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
            hi += timedelta(days=1)
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
