"""The tile matrix sets served and the check of a tile's indexes."""

from __future__ import annotations

import morecantile
from morecantile import TileMatrixSet
from morecantile.defaults import TileMatrixSets
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.utils import CRS_to_uri

TMS_IDS = ("WebMercatorQuad", "WorldCRS84Quad", "WorldMercatorWGS84Quad")
"""Tile matrix sets served (morecantile's global ones; any other morecantile TMS can be added)."""
SUPPORTED_TMS = TileMatrixSets({name: morecantile.tms.get(name) for name in TMS_IDS})
TMS_BY_ID = {name: SUPPORTED_TMS.get(name) for name in TMS_IDS}
"""The same, read-only (``TileMatrixSets.get`` deep-copies: ~2 ms a tile)."""
TMS_URI = {name: f"<{CRS_to_uri(tms.rasterio_crs)}>" for name, tms in TMS_BY_ID.items()}
MAX_TILESIZE = 1024
"""Largest ``tilesize`` a request may ask for, pixels."""
#: Deepest zoom of the tile matrix sets served (WorldCRS84Quad stops at 23).
MAX_ZOOM = max(SUPPORTED_TMS.get(name).maxzoom for name in TMS_IDS)


def check_tile(tms: TileMatrixSet, x: int, y: int, z: int) -> None:
    """TileOutsideBounds (404) for a tile the matrix set does not have.

    Morecantile would warn and extrapolate, or fail on huge indexes.
    """
    if z > tms.maxzoom:
        raise TileOutsideBounds(f"zoom {z} is deeper than {tms.id} (zooms 0 to {tms.maxzoom})")
    matrix = tms.matrix(z)
    if x >= matrix.matrixWidth or y >= matrix.matrixHeight:
        raise TileOutsideBounds(
            f"Tile(x={x}, y={y}, z={z}) is outside {tms.id}: zoom {z} has {matrix.matrixWidth} x "
            f"{matrix.matrixHeight} tiles")
