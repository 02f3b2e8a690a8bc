"""The lazy engine: ARD chunks computed on first request, kept in an ARD store, served after.

- :class:`ArdEngine`: chunks and windows of any :class:`~cube.products.ArdArray`, single-flight
  compute, the inputs of each product resolved as the registry declares them;
- :func:`select`: a request's or a job's :class:`~cube.products.Selection` (burst, dates, window);
- :func:`read_pixels`, :func:`read_strided`: an array's values at scattered pixels or on a
  strided window, gathered chunk by chunk (map tiles; imported on first use, with numpy);
- :class:`ProductStore`: a read-only zarr v3 store presenting one burst's product as
  (time, y, x) or (reference_time, secondary_time, y, x), for ``xr.open_zarr`` and ``/zarr``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cube import lazy_names
from cube.format import decode_block
from cube.materialize._ard import ARD_STORE
from cube.materialize._engine import LEASE_DIR, ArdEngine, ChunkState, Tally, default_lease_backend
from cube.materialize._product_store import ProductStore, open_product
from cube.materialize._select import check_date_key, follows_selection, select

if TYPE_CHECKING:
    from cube.materialize._pixels import read_pixels, read_strided


# the pixel gathering, imported on first use (serving a zarr key needs no numpy)
__getattr__ = lazy_names("cube.materialize", {"read_pixels": "_pixels", "read_strided": "_pixels"})


__all__ = [
    "ARD_STORE",
    "LEASE_DIR",
    "ArdEngine",
    "ChunkState",
    "ProductStore",
    "Tally",
    "check_date_key",
    "decode_block",
    "default_lease_backend",
    "open_product",
    "read_pixels",
    "read_strided",
    "follows_selection",
    "select",
]
