"""The tile source (titiler's ``src_path``).

What a request names, and how a burst's layer is picked for its dates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cube.api.tiles.cache import TileCache
from cube.api.tiles.footprints import Footprint, footprints, intersects
from cube.api.tiles.views import Layer, View
from cube.errors import InputError
from cube.format import layer_dates
from cube.materialize import ArdEngine, Tally
from cube.products import ArdArray, Variant


@dataclass
class TileSource:
    """What a request names (titiler's ``src_path``).

    The product, its options and view, and either one burst's layer or the criteria of a mosaic
    (``bbox``, dates). ``variant`` is the variable the view shows (``variant.at(view.variable)``).
    """

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
        grid = self.engine.product_grid(burst_id, self.polarization, self.variant)
        if self.variant.spec.dateless:
            if self.datetime or self.reference or self.secondary:
                raise InputError(f"{self.product} is a per-burst product over every date of the burst: "
                                 "give no datetime=, reference= or secondary=")
            return Layer(ArdArray(burst_id, self.polarization, self.variant, ()), self.view, grid)
        keys = layer_dates(
            dates,
            self.variant.spec.pair,
            burst_id=burst_id,
            product=self.product,
            datetime=self.datetime,
            reference=self.reference,
            secondary=self.secondary,
        )
        return Layer(ArdArray(burst_id, self.polarization, self.variant, keys), self.view, grid)

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
