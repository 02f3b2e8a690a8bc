"""A request's cost before it starts: size limits (413), too much to compute (202 + a job).

Requests read :class:`~cube.products.Selection` s, made by ``cube.materialize.select``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from cube.api._common import TooLargeError, engine_of
from cube.api.jobs import submit_job
from cube.errors import InputError
from cube.jobs import BurstJob
from cube.materialize import ArdEngine, follows_selection
from cube.products import Selection


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in degrees, or None."""
    if not text:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"bbox {text!r} is not four numbers west,south,east,north") from None
    if len(values) != 4:
        raise InputError(f"bbox {text!r} has {len(values)} numbers; give west,south,east,north")
    return values  # four floats: the length test narrows the tuple


STACK_JOB = "the ISCE2 CSLC is made for the whole burst stack by a job, never chunk by chunk"
"""Why a missing chunk of a variant that ``made_by_job`` answers 202."""
SERIES_JOB = ("unwrapping and the displacement inversion are global over the burst: a job makes the "
              "whole burst, never chunk by chunk")
"""Why a missing chunk of a series product (unwrapped, displacement, velocity) answers 202."""


def job_reason(selections: list[Selection]) -> str:
    """Why a variant that ``made_by_job`` needs a job: :data:`SERIES_JOB` or :data:`STACK_JOB`."""
    series = any(s.variant.product in ("unwrapped", "displacement", "velocity") for s in selections)
    return SERIES_JOB if series else STACK_JOB

#: Bytes of one /zonal result (one parcel, one date or pair) in the JSON answer: an upper bound.
ZONAL_RESULT_BYTES = 200
#: Bytes of one /point value (one date or pair) in the JSON answer: an upper bound.
POINT_VALUE_BYTES = 200


@dataclass(frozen=True)
class Cost:
    """What a request will cost, estimated before it starts (no chunk read, no computation).

    ``pixels`` product pixels are read per date set (dates or pairs, ``date_sets`` of them);
    ``parcels`` /zonal parcels add ``parcel_pixels`` (the pixels of their bounding boxes,
    where each parcel's mask is made) per date set; ``chunks`` is the number of chunks not
    stored yet that the request would compute (counted up to the limit + 1); the answer is
    ``response_bytes`` long (raw values for downloads, an upper bound for JSON).
    """

    what: str
    pixels: int
    date_sets: int
    response_bytes: int
    parcels: int = 0
    parcel_pixels: int = 0
    chunks: int = 0

    @classmethod
    def of_values(cls, what: str, selection: Selection) -> Cost:
        """A download of the selection's values (``/ard``): raw bytes of every date set and variable."""
        n = len(selection.date_sets)
        per_pixel = sum(v.dtype.itemsize for v in selection.variant.variables)
        return cls(what, selection.pixels, n, selection.pixels * n * per_pixel)

    @property
    def zonal_pixels(self) -> int:
        """/zonal pixel visits: (window + Σ parcel bounding boxes) × date sets; 0 for other requests."""
        return (self.pixels + self.parcel_pixels) * self.date_sets if self.parcels else 0

    def check(self, settings: Any) -> bool:
        """TooLargeError (413) over ``max_response_mb`` or ``max_zonal_pixels``.

        True when the chunks to compute exceed ``max_chunks_per_request`` (the caller starts a job:
        202).
        """
        mb, limit = self.response_bytes / 1e6, settings.max_response_mb
        if mb > limit:
            raise TooLargeError(
                f"{self.what}: {self.pixels} pixels × {self.date_sets} date(s) = {mb:.1f} MB exceeds the "
                f"{limit:g} MB limit of one response (SARCUBE_MAX_RESPONSE_MB); narrow bbox/datetime, or "
                "submit the work with POST /jobs and read the result through /zarr"
            )
        if self.zonal_pixels > settings.max_zonal_pixels:
            raise TooLargeError(
                f"{self.what}: ({self.pixels} window + {self.parcel_pixels} parcel-box pixels) × "
                f"{self.date_sets} date(s) = {self.zonal_pixels} pixel visits exceeds the limit of "
                f"{settings.max_zonal_pixels} (SARCUBE_MAX_ZONAL_PIXELS); send fewer or closer parcels "
                "(the window is their bounding box), fewer dates (datetime=a/b), or split the request"
            )
        return self.chunks > settings.max_chunks_per_request


def admit(request: Request, selections: list[Selection], cost: Cost) -> JSONResponse | None:
    """Check a request's cost before it starts.

    413 over a size limit, 202 + ``Location: /jobs/{id}`` when it needs more missing chunks than one
    request may compute, None to go on.
    """
    settings = request.app.state.settings
    cost.check(settings)  # sizes first: they cost no store request
    limit = settings.max_chunks_per_request
    cost = replace(cost, chunks=count_missing(engine_of(request), selections, limit))
    if cost.chunks and any(s.variant.options.made_by_job for s in selections):
        return start_job(request, selections, reason=job_reason(selections))
    if not cost.check(settings):
        return None
    return start_job(request, selections, reason=f"more than {limit} chunks to compute")


def count_missing(engine: ArdEngine, selections: list[Selection], limit: int) -> int:
    """The chunks of the selections not stored yet; counting stops past ``limit``."""
    missing = 0
    for selection in selections:
        follow = follows_selection(engine, selection)  # a velocity made before a date was added
        for part in (selection, follow) if follow is not None else (selection,):
            missing += len(engine.missing(part, limit - missing))
        if missing > limit:
            break
    return missing


def job_if_too_many(request: Request, selections: list[Selection]) -> JSONResponse | None:
    """202 + ``Location: /jobs/{id}`` when the selections need a job; None when they can go on.

    A job is needed when the selections need more missing chunks than one request may compute
    (``admit`` without a size check).
    """
    return admit(request, selections, Cost("", 0, 0, 0))


def start_job(request: Request, selections: list[Selection], *, reason: str) -> JSONResponse:
    """A job computing the selections' chunks: 202 + ``Location: /jobs/{id}``."""
    bursts = [BurstJob.of(s) for s in selections]
    return submit_job(request, bursts, reason=reason, retry=str(request.url))
