"""What every router shares: the error table (from ``_errors``), the engine, and options parsing.

Dates are matched by ``cube.format`` (``match_dates``, ``pick_date``), selections made by
``cube.materialize.select``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
from cube.materialize import ArdEngine
from cube.products import Variant, get_product, parse_segment, parse_value

log = logging.getLogger(__name__)


def engine_of(request: Request) -> ArdEngine:
    """The app's lazy engine."""
    return request.app.state.engine


def variant_from(product: str, values: Mapping[str, Any] | str) -> Variant:
    """A product variant from a path segment, query parameters or a JSON object.

    A path segment is ``window=7x7``; query parameters are text; a JSON object's values are
    already typed.

    NotFoundError for an unknown product; OptionsError (422) naming the bad option.
    """
    spec = get_product(product)
    try:
        if isinstance(values, str):
            options = parse_segment(spec.options, values)
        else:
            options = spec.options.model_validate(
                {k: parse_value(v) if isinstance(v, str) else v for k, v in values.items()})
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
