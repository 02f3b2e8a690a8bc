"""The options model every product shares: bounded, frozen, and a stable key per variant."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Looks = tuple[int, int]
_Count = Annotated[int, Field(ge=1, le=64)]
LookPair = tuple[_Count, _Count]
"""(rows, cols) of the fixed grid, each 1..64: a bounded option type for looks and windows."""


class ProductOptions(BaseModel):
    """Base of every product's options: ``extra="forbid"``, frozen, JSON-serialisable.

    The same model is the API's query/path options, the job file's ``options`` and the
    CLI's ``--option key=value``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def looks(self) -> Looks:
        """(rows, cols) of the fixed grid averaged into one output pixel (decimation)."""
        return (1, 1)

    def non_default(self) -> dict:
        """The options that differ from the defaults, as JSON values."""
        defaults = type(self)().model_dump(mode="json")
        return {k: v for k, v in self.model_dump(mode="json").items() if defaults.get(k) != v}

    def segment(self) -> str:
        """A URL path segment naming the non-default options, e.g. ``window=7x7,db=true``;
        empty for the defaults. :func:`parse_segment` reads it back."""
        parts = []
        for key, value in sorted(self.non_default().items()):
            if isinstance(value, list):
                value = "x".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            parts.append(f"{key}={value}")
        return ",".join(parts)

    def digest(self) -> str:
        """Short hash of all option values (12 hex digits): part of a variant's key."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_segment(model: type[ProductOptions], segment: str) -> ProductOptions:
    """Options from a path segment ``key=value,key=value`` (``7x7`` for pairs).

    Raises pydantic's ``ValidationError`` on unknown keys or out-of-range values.
    """
    values: dict[str, object] = {}
    for part in filter(None, segment.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"option {part!r} is not key=value")
        values[key.strip()] = _parse_value(value.strip())
    return model.model_validate(values)


def _parse_value(value: str) -> object:
    if "x" in value and all(p.isdigit() for p in value.split("x")):
        return [int(p) for p in value.split("x")]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
