"""The tile source (titiler's ``src_path``): what a request names, and how a burst's layer is
picked for its dates."""

from __future__ import annotations

from dataclasses import dataclass, field

from cube.api._common import match_dates, one_date
from cube.api.tiles.cache import TileCache
from cube.api.tiles.footprints import Footprint, footprints, intersects
from cube.api.tiles.views import Layer, View
from cube.errors import InputError, NotFoundError
from cube.materialize import ArdEngine, Tally, Variant


def pick_dates(
    dates: list[str],
    pair: bool,
    *,
    burst_id: str,
    product: str,
    datetime: str | None,
    reference: str | None,
    secondary: str | None,
) -> tuple[str, ...]:
    """The date (or pair) of a layer: the latest date ``datetime`` matches (latest overall if
    None); pairs: ``reference``/``secondary`` (a missing one is the next/previous date; neither:
    the latest two dates). NotFoundError if nothing matches; InputError for a wrong mix."""
    if not pair:
        if reference or secondary:
            raise InputError(f"{product} has one date per layer: give datetime=, not reference=/secondary=")
        found = match_dates(dates, datetime, burst_id=burst_id) if datetime else dates
        if not found:
            raise NotFoundError(f"{burst_id} has no dates")
        return (found[-1],)
    if datetime:
        raise InputError(
            f"{product} is a pair product: give reference= and secondary= (neither: the latest pair), "
            "not datetime="
        )
    ref = one_date(dates, reference, burst_id=burst_id, name="reference") if reference else None
    sec = one_date(dates, secondary, burst_id=burst_id, name="secondary") if secondary else None
    if ref is None and sec is None:
        if len(dates) < 2:
            raise NotFoundError(f"{burst_id} has {len(dates)} date(s); {product} needs two")
        return dates[-2], dates[-1]
    if sec is None:
        later = [d for d in dates if d > ref]
        if not later:
            raise NotFoundError(f"{burst_id}: no date after reference={reference!r}; give secondary=")
        sec = later[0]
    if ref is None:
        earlier = [d for d in dates if d < sec]
        if not earlier:
            raise NotFoundError(f"{burst_id}: no date before secondary={secondary!r}; give reference=")
        ref = earlier[-1]
    if ref == sec:
        raise InputError(f"reference and secondary are the same date ({ref}); give two dates")
    return ref, sec


@dataclass
class TileSource:
    """What a request names (titiler's ``src_path``): the product, its options and view, and
    either one burst's layer or the criteria of a mosaic (``bbox``, dates)."""

    engine: ArdEngine
    cache: TileCache
    product: str
    variant: Variant
    view: View
    polarization: str
    max_chunks: int
    layer: Layer | None = None
    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None
    reference: str | None = None
    secondary: str | None = None
    tally: Tally = field(default_factory=Tally)

    def layer_of(self, burst_id: str) -> Layer:
        """The layer of ``burst_id`` for this request's dates (NotFoundError if it has none)."""
        stack = self.engine.stack(burst_id, self.polarization)
        dates = sorted(stack.dates)
        keys = pick_dates(
            dates,
            self.variant.spec.pair,
            burst_id=burst_id,
            product=self.product,
            datetime=self.datetime,
            reference=self.reference,
            secondary=self.secondary,
        )
        shape = self.engine.shape(burst_id, self.polarization, self.variant)
        return Layer(burst_id, self.polarization, self.variant, keys, self.view, stack.grid, shape)

    def candidates(self, box: tuple[float, float, float, float] | None = None) -> list[Footprint]:
        """Mosaic: the bursts whose footprint meets ``bbox`` and ``box`` (lon/lat)."""
        out = []
        for fp in footprints(self.engine):
            if self.bbox is not None and not intersects(fp.lonlat, self.bbox):
                continue
            if box is not None and not intersects(fp.lonlat, box):
                continue
            out.append(fp)
        return out
