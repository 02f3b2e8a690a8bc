"""The bursts of the cube and their lon/lat footprints, for mosaics and TileJSON bounds."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cube.geometry import BurstGrid, ProductGrid
from cube.materialize import ArdEngine


@dataclass(frozen=True)
class Footprint:
    """A burst ID's fixed grid and its lon/lat bounding box (west, south, east, north), deg."""

    grid: BurstGrid
    lonlat: tuple[float, float, float, float]


def footprints(engine: ArdEngine) -> list[Footprint]:
    """Every burst grid of the cube with its lon/lat box.

    The engine re-reads the grids every ``refresh_s``.
    """
    return [Footprint(grid, product_lonlat(ProductGrid(grid))) for grid in engine.grids()]


@functools.lru_cache(maxsize=4096)
def product_lonlat(grid: ProductGrid) -> tuple[float, float, float, float]:
    """Lon/lat box (west, south, east, north), deg, of a product grid (edges densified)."""
    return grid.lonlat_bounds()


def intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two (west, south, east, north) boxes overlap (touching edges do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
