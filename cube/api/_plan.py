"""Turning a request into product windows: burst lookup, bbox → window, dates, limits, jobs."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse

from cube.api._common import TooLargeError, engine_of, iso, match_dates, one_date
from cube.errors import InputError, NotFoundError
from cube.format import rule_pairs
from cube.format._layout import GRID_DIR
from cube.geometry import BurstGrid
from cube.geometry._grid import Window, _transformer
from cube.materialize import ArdEngine, Variant


@dataclass
class Plan:
    """What a request reads: a burst, a variant, its date sets and a product-grid window."""

    burst_id: str
    polarization: str
    variant: Variant
    date_sets: list[tuple[str, ...]]
    window: Window

    @property
    def pixels(self) -> int:
        return (self.window[0].stop - self.window[0].start) * (self.window[1].stop - self.window[1].start)

    def labels(self) -> list[dict[str, str]]:
        """Each date set as JSON fields: ``datetime`` or ``reference``/``secondary``."""
        if self.variant.spec.pair:
            return [{"reference": iso(a), "secondary": iso(b)} for a, b in self.date_sets]
        return [{"datetime": iso(d)} for (d,) in self.date_sets]


def find_burst(engine: ArdEngine, lon: float, lat: float) -> str:
    """The first burst ID whose fixed grid holds (lon, lat); NotFoundError if none."""
    for name in engine.cube.list(GRID_DIR):
        grid = BurstGrid.model_validate_json(engine.cube.read_bytes(f"{GRID_DIR}/{name}"))
        x, y = _transformer(4326, grid.epsg).transform(lon, lat)
        x0, y0, x1, y1 = grid.bounds
        if x0 <= x < x1 and y0 <= y <= y1:
            return grid.burst_id
    raise NotFoundError(f"no burst of the cube covers lon={lon}, lat={lat}; search /stac for coverage")


def bbox_window(
    engine: ArdEngine,
    burst_id: str,
    pol: str,
    variant: Variant,
    bbox: tuple[float, float, float, float] | None,
) -> Window:
    """The product-grid window of a lon/lat bbox (the whole grid if None); 400 if outside."""
    rows, cols = engine.shape(burst_id, pol, variant)
    if bbox is None:
        return slice(0, rows), slice(0, cols)
    west, south, east, north = bbox
    if not (west < east and south < north and -180 <= west and east <= 180 and -90 <= south and north <= 90):
        raise InputError(
            f"bbox {list(bbox)} is not west,south,east,north in degrees with west < east, south < north"
        )
    g = engine.stack(burst_id, pol).grid
    ly, lx = variant.options.looks
    t = np.linspace(0, 1, 21)
    lons = np.concatenate(
        [west + (east - west) * t, np.full(21, east), east - (east - west) * t, np.full(21, west)]
    )
    lats = np.concatenate(
        [np.full(21, south), south + (north - south) * t, np.full(21, north), north - (north - south) * t]
    )
    x, y = _transformer(4326, g.epsg).transform(lons, lats)
    c0 = max(0, math.floor((x.min() - g.x0) / (g.dx * lx)))
    c1 = min(cols, math.ceil((x.max() - g.x0) / (g.dx * lx)))
    r0 = max(0, math.floor((g.y0 - y.max()) / (g.dy * ly)))
    r1 = min(rows, math.ceil((g.y0 - y.min()) / (g.dy * ly)))
    if r1 <= r0 or c1 <= c0:
        raise InputError(
            f"bbox {list(bbox)} is outside burst {burst_id} (its grid covers "
            f"{_footprint_text(g)}); search /stac for the bursts that cover it"
        )
    return slice(r0, r1), slice(c0, c1)


def _footprint_text(g: BurstGrid) -> str:
    x0, y0, x1, y1 = g.bounds
    lon, lat = _transformer(g.epsg, 4326).transform([x0, x1, x0, x1], [y0, y0, y1, y1])
    return f"lon {min(lon):.4f}..{max(lon):.4f}, lat {min(lat):.4f}..{max(lat):.4f}"


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
    return values  # type: ignore[return-value]


def date_sets(
    engine: ArdEngine,
    burst_id: str,
    pol: str,
    variant: Variant,
    *,
    datetime: str | None,
    reference: str | None = None,
    secondary: str | None = None,
    all_pairs: bool = False,
) -> list[tuple[str, ...]]:
    """The dates (or pairs) a request names.

    Per-date products: the dates ``datetime`` matches (all if None). Pair products: the pair
    ``reference``/``secondary`` if given, else (``all_pairs``) every pair of the pair rule
    whose reference matches ``datetime``.
    """
    dates = sorted(engine.stack(burst_id, pol).dates)
    if not variant.spec.pair:
        return [(d,) for d in match_dates(dates, datetime, burst_id=burst_id)]
    if reference or secondary or not all_pairs:
        if not (reference and secondary):
            raise InputError(f"{variant.product} is a pair product: give reference= and secondary= dates")
        return [
            (
                one_date(dates, reference, burst_id=burst_id, name="reference"),
                one_date(dates, secondary, burst_id=burst_id, name="secondary"),
            )
        ]
    refs = set(match_dates(dates, datetime, burst_id=burst_id))
    return [pair for pair in rule_pairs(dates) if pair[0] in refs]


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
    def of_values(cls, what: str, plan: Plan) -> Cost:
        """A download of the plan's values (``/ard``, a ``/zarr`` chunk): raw bytes of every date set."""
        n = len(plan.date_sets)
        return cls(what, plan.pixels, n, plan.pixels * n * plan.variant.dtype.itemsize)

    @property
    def zonal_pixels(self) -> int:
        """/zonal pixel visits: (window + Σ parcel bounding boxes) × date sets; 0 for other requests."""
        return (self.pixels + self.parcel_pixels) * self.date_sets if self.parcels else 0

    def check(self, settings: Any) -> bool:
        """TooLargeError (413) over ``max_response_mb`` or ``max_zonal_pixels``; True when the
        chunks to compute exceed ``max_chunks_per_request`` (the caller starts a job: 202)."""
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


def admit(request: Request, plans: list[Plan], cost: Cost) -> JSONResponse | None:
    """Check a request's cost before it starts: 413 over a size limit, 202 + ``Location:
    /jobs/{id}`` when it needs more missing chunks than one request may compute, None to go on."""
    settings = request.app.state.settings
    cost.check(settings)  # sizes first: they cost no store request
    cost = replace(cost, chunks=count_missing(engine_of(request), plans, settings.max_chunks_per_request))
    if not cost.check(settings):
        return None
    return start_job(request, plans, reason=f"more than {settings.max_chunks_per_request} chunks to compute")


def count_missing(engine: ArdEngine, plans: list[Plan], limit: int) -> int:
    """The chunks of the plans not stored yet; counting stops past ``limit``."""
    missing = 0
    for plan in plans:
        for dates in plan.date_sets:
            missing += len(engine.missing(plan.burst_id, plan.polarization, plan.variant, dates, plan.window))
            if missing > limit:
                return missing
    return missing


def job_if_too_many(request: Request, plans: list[Plan]) -> JSONResponse | None:
    """202 + ``Location: /jobs/{id}`` when the plans need more missing chunks than one request
    may compute; None when the request can go on (``admit`` without a size check)."""
    return admit(request, plans, Cost("", 0, 0, 0))


def start_job(request: Request, plans: list[Plan], *, reason: str) -> JSONResponse:
    """A job computing the plans' chunks: 202 + ``Location: /jobs/{id}``."""
    from cube.jobs import BurstJob, ProductJob

    bursts = [
        BurstJob(
            burst_id=p.burst_id,
            polarization=p.polarization,
            products=[
                ProductJob(
                    product=p.variant.product,
                    options=p.variant.options.non_default(),
                    dates=None if p.variant.spec.pair else [d for (d,) in p.date_sets],
                    pairs=[tuple(ds) for ds in p.date_sets] if p.variant.spec.pair else None,
                    window=(p.window[0].start, p.window[0].stop, p.window[1].start, p.window[1].stop),
                )
            ],
        )
        for p in plans
    ]
    return submit_job(request, bursts, reason=reason, retry=str(request.url))


def submit_job(request: Request, bursts: list, *, reason: str, retry: str | None = None) -> JSONResponse:
    """Create a job record, start it on the executor, answer 202 with its Location."""
    from cube.api.jobs import start_job

    # owner, checks against the cube, one job per identical request, quotas (cube.api.jobs)
    record, started = start_job(request, bursts, what="this read" if retry else "POST /jobs")
    location = str(request.url_for("get_job", job_id=record.id).path)
    body = {
        "job_id": record.id,
        "state": record.state,
        "detail": f"{reason}: {'started' if started else 'the same request is'} job {record.id}; "
        f"poll {location}" + (f", then repeat the request ({retry})" if retry else ""),
        "location": location,
    }
    return JSONResponse(body, status_code=202, headers={"Location": location})
