"""What every router shares: the error table (from ``_errors``), the engine, options and date
parsing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from cube.api._errors import (  # noqa: F401 - the routers' error names, re-exported
    POL_PATTERN,
    JobsDisabledError,
    OptionsError,
    TooLargeError,
    error,
    install_error_handlers,
)
from cube.errors import InputError, NotFoundError
from cube.format import date_key_time
from cube.materialize import ArdEngine, Variant
from cube.products import get_product, parse_segment
from cube.products._options import _parse_value

log = logging.getLogger(__name__)


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
