"""The bursts of the cube and their lon/lat footprints, for mosaics and TileJSON bounds."""

from __future__ import annotations

import functools
import threading
import time
import weakref
from dataclasses import dataclass

from pyproj import Transformer

from cube.format import GRID_DIR
from cube.geometry import BurstGrid
from cube.materialize import ArdEngine


@dataclass(frozen=True)
class Footprint:
    """A burst ID's fixed grid and its lon/lat bounding box (west, south, east, north), deg."""

    grid: BurstGrid
    lonlat: tuple[float, float, float, float]


_FOOTPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_FOOTPRINT_LOCK = threading.Lock()


def footprints(engine: ArdEngine) -> list[Footprint]:
    """Every burst grid of the cube with its lon/lat box, re-read every ``engine.refresh_s``."""
    with _FOOTPRINT_LOCK:
        hit = _FOOTPRINTS.get(engine)
    if hit and time.monotonic() - hit[0] < engine.refresh_s:
        return hit[1]
    out = []
    for name in sorted(engine.cube.list(GRID_DIR)):
        if not name.endswith(".json"):
            continue
        grid = BurstGrid.model_validate_json(engine.cube.read_bytes(f"{GRID_DIR}/{name}"))
        out.append(Footprint(grid, lonlat_box(grid.epsg, grid.bounds)))
    with _FOOTPRINT_LOCK:
        _FOOTPRINTS[engine] = (time.monotonic(), out)
    return out


@functools.lru_cache(maxsize=4096)
def product_lonlat(grid: BurstGrid, looks: tuple[int, int]) -> tuple[float, float, float, float]:
    """Lon/lat box of a product grid: the burst's fixed grid cut to whole ``looks``, deg."""
    ly, lx = looks
    rows, cols = grid.height // ly, grid.width // lx
    extent = (grid.x0, grid.y0 - rows * grid.dy * ly, grid.x0 + cols * grid.dx * lx, grid.y0)
    return lonlat_box(grid.epsg, extent)


def lonlat_box(epsg: int, bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Lon/lat box (west, south, east, north), deg, of ``bounds`` in ``epsg`` (m), edges densified."""
    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
    return tuple(to_lonlat.transform_bounds(*bounds, densify_pts=21))


def intersects(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two (west, south, east, north) boxes overlap (touching edges do not)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
