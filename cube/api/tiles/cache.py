"""Lazy xarray views of the layers (titiler's input DataArray), kept per app."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import rioxarray  # noqa: F401 - registers the .rio accessor
import xarray as xr

from cube.api.tiles.views import Layer
from cube.materialize import ArdEngine, open_product
from cube.products import Variant


class TileCache:
    """Per app: opened product datasets (refreshed when a burst gains dates) and layer arrays."""

    def __init__(self, engine: ArdEngine, size: int = 256):
        self.engine = engine
        self.size = size
        self._lock = threading.Lock()
        self._datasets: dict[tuple, tuple[tuple[str, ...], xr.Dataset]] = {}
        self._arrays: OrderedDict[tuple, xr.DataArray] = OrderedDict()

    def dataset(self, burst_id: str, pol: str, variant: Variant) -> tuple[tuple[str, ...], xr.Dataset]:
        """(dates along the time axes, lazy dataset) of a burst's product variant.

        The dataset is reopened when the burst's dates change (the store maps time indices to the
        current dates).
        """
        key = (burst_id, pol, variant)
        dates = tuple(sorted(self.engine.stack(burst_id, pol).dates))
        with self._lock:
            hit = self._datasets.get(key)
        if hit is not None and hit[0] == dates:
            return hit
        for _ in range(3):
            ds = open_product(self.engine, burst_id, variant.product, variant.options, polarization=pol)
            after = tuple(sorted(self.engine.stack(burst_id, pol).dates))
            if after == dates:
                break
            dates = after  # a date was added while opening: open again
        with self._lock:
            self._datasets[key] = (dates, ds)
        return dates, ds

    def array(self, layer: Layer) -> xr.DataArray:
        """The layer as a lazy 2-D (y, x) float32 DataArray in the view's units, with its CRS."""
        ref = layer.array
        dates, ds = self.dataset(ref.burst_id, ref.polarization, ref.variant)
        key = (ref, layer.view.name, dates)
        with self._lock:
            hit = self._arrays.get(key)
            if hit is not None:
                self._arrays.move_to_end(key)
                return hit
        index = [dates.index(d) for d in ref.dates]
        dims = ("reference_time", "secondary_time") if layer.variant.spec.pair else ("time",)
        da = ds[layer.variant.product].isel(dict(zip(dims, index, strict=True)))
        view, options = layer.view, layer.variant.options
        data = da.data.map_blocks(
            lambda a: view.apply(a, options), dtype=np.float32, meta=np.empty((0, 0), np.float32)
        )
        out = da.copy(data=data)
        out.attrs.update(units=view.units, long_name=f"{da.attrs.get('long_name', '')} ({view.description})")
        out = out.rio.write_crs(layer.grid.epsg)
        with self._lock:
            self._arrays[key] = out
            while len(self._arrays) > self.size:
                self._arrays.popitem(last=False)
        return out
