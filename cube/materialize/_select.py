"""Selections: which arrays of which burst, over which window, a request or a job reads.

Everyone builds them here: the routers (``/ard``, ``/point``, ``/zonal``, tiles), the job
spec, keep-up and the CLI. A selection names its burst (given, or the first covering a
point), its product-grid window (a lon/lat bbox, a point's pixel, row/column bounds, or the
whole grid) and its dates (a ``datetime`` filter, exact keys, or pairs: given, or the cube's
pair rule).
"""

from __future__ import annotations

from collections.abc import Sequence

from cube.errors import InputError, NotFoundError
from cube.format import date_key_time, match_dates, pick_date, rule_pairs
from cube.geometry import Window
from cube.materialize._engine import ArdEngine
from cube.products import Selection, Variant

BBox = tuple[float, float, float, float]


def select(
    engine: ArdEngine,
    variant: Variant,
    burst_id: str | None = None,
    *,
    polarization: str = "VV",
    bbox: BBox | None = None,
    point: tuple[float, float] | None = None,
    bounds: tuple[int, int, int, int] | None = None,
    datetime: str | None = None,
    reference: str | None = None,
    secondary: str | None = None,
    dates: Sequence[str] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
    all_pairs: bool = False,
) -> Selection:
    """A selection of ``variant``'s arrays.

    Where: ``burst_id`` (default: the first burst covering ``point``); the window of ``bbox``
    (lon/lat degrees), else the pixel holding ``point``, else ``bounds`` (r0, r1, c0, c1 of the
    product grid), else the whole grid.

    When, per-date products: ``dates`` (date keys), else those ``datetime`` matches (all if
    None). A per-burst product (``velocity``) has one array over every date: ``dates`` and
    ``datetime`` do not apply (its one date set is empty). Pair products: ``pairs`` (date
    keys), else ``reference``/``secondary``, else with ``all_pairs`` every pair of the pair rule
    whose reference ``datetime`` matches.

    NotFoundError for an unknown burst or date, InputError for anything else malformed.
    """
    polarization = polarization.upper()
    if burst_id is None:
        if point is None:
            raise InputError("give burst_id, or a point to find the burst that covers it")
        burst_id = engine.find_burst(*point)
    grid = engine.product_grid(burst_id, polarization, variant)
    window: Window
    if bbox is not None:
        window = grid.window_of(bbox)
    elif point is not None:
        pixel = grid.pixel_of(*point)
        if pixel is None:
            raise InputError(f"lon={point[0]}, lat={point[1]} is outside burst {burst_id}; omit burst_id "
                             "to find the covering burst")
        window = slice(pixel[0], pixel[0] + 1), slice(pixel[1], pixel[1] + 1)
    elif bounds is not None:
        r0, r1, c0, c1 = bounds
        rows, cols = grid.shape
        if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
            raise InputError(
                f"{burst_id} {variant.product}: window rows {r0}:{r1}, columns {c0}:{c1} is empty or outside "
                f"the {rows} x {cols} product grid; give 0 <= r0 < r1 <= {rows} and 0 <= c0 < c1 <= {cols}"
            )
        window = slice(r0, r1), slice(c0, c1)
    else:
        window = grid.window_of(None)
    have = sorted(engine.stack(burst_id, polarization).dates)
    date_sets = _date_sets(variant, burst_id, have, datetime=datetime, reference=reference,
                           secondary=secondary, dates=dates, pairs=pairs, all_pairs=all_pairs)
    known = set(have)
    for date in {d for ds in date_sets for d in ds} - known:
        check_date_key(date)
        raise NotFoundError(f"{burst_id}: no date {date} (have {', '.join(have) or 'none'})")
    return Selection(burst_id, polarization, variant, tuple(date_sets), window)


def follows_selection(engine: ArdEngine, selection: Selection) -> Selection | None:
    """What a per-burst product's selection must find stored to be current (None: nothing).

    Its ``follows`` product (same options, window and burst) at the burst's latest date: a
    velocity is current while the displacement of the latest date is stored (they are made
    together); a date appended since leaves that displacement absent.
    """
    spec = selection.variant.spec
    if not spec.follows:
        return None
    dates = sorted(engine.stack(selection.burst_id, selection.polarization).dates)
    variant = Variant.of(spec.follows, selection.variant.options.model_dump())
    return Selection(selection.burst_id, selection.polarization, variant, ((dates[-1],),), selection.window)


def check_date_key(date: str) -> None:
    """InputError unless ``date`` is a date key ``YYYYmmddTHHMMSS[.ffffff]``."""
    try:
        date_key_time(date)
    except (TypeError, ValueError):
        raise InputError(
            f"{date!r} is not a date key (YYYYmmddTHHMMSS[.ffffff]); a burst's date keys are in its STAC "
            "items (/stac) or GET /zarr/{burst}/{product}"
        ) from None


def _date_sets(variant: Variant, burst_id: str, have: list[str], *, datetime: str | None,
               reference: str | None, secondary: str | None, dates: Sequence[str] | None,
               pairs: Sequence[tuple[str, str]] | None, all_pairs: bool) -> list[tuple[str, ...]]:
    if variant.spec.dateless:
        if pairs is not None or reference or secondary:
            raise InputError(f"{variant.product} is a per-burst product (one value over every date of "
                             f"{burst_id}): give no pairs, reference or secondary")
        return [()]
    if not variant.spec.pair:
        if pairs is not None or reference or secondary:
            raise InputError(f"{variant.product} is a per-date product: give dates (datetime=), not pairs")
        chosen = list(dates) if dates is not None else match_dates(have, datetime, burst_id=burst_id)
        return [(d,) for d in chosen]
    if dates is not None:
        raise InputError(f"{variant.product} is a pair product: give pairs, not dates")
    if pairs is not None:
        for ref, sec in pairs:
            if ref == sec:
                raise InputError(f"{burst_id} {variant.product}: pair ({ref}, {sec}) needs two different "
                                 "dates")
        return [(ref, sec) for ref, sec in pairs]
    if reference or secondary or not all_pairs:
        if not (reference and secondary):
            raise InputError(f"{variant.product} is a pair product: give reference= and secondary= dates")
        pair = (pick_date(have, reference, burst_id=burst_id, name="reference"),
                pick_date(have, secondary, burst_id=burst_id, name="secondary"))
        if pair[0] == pair[1]:
            raise InputError(f"{burst_id} {variant.product}: reference and secondary are the same date "
                             f"({pair[0]}); a pair needs two dates (the burst has {len(have)})")
        return [pair]
    refs = set(match_dates(have, datetime, burst_id=burst_id))
    return [pair for pair in rule_pairs(have) if pair[0] in refs]
