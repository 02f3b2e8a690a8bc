"""GeoJSON areas of a request (lon/lat polygons): parsed and checked once for ``/zonal`` and ``/ard``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from cube.errors import InputError
from cube.geometry import transformer


def polygons(geometries: list[Any], what: str = "features") -> list[BaseGeometry]:
    """GeoJSON geometry objects as shapely (Multi)Polygons in lon/lat degrees.

    InputError naming ``what[i]`` for a geometry that is not a valid, non-empty (Multi)Polygon
    with finite coordinates within |lon| ≤ 180, |lat| ≤ 90.
    """
    out = []
    for i, obj in enumerate(geometries):
        try:
            g = shapely.geometry.shape(obj)
        except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
            raise InputError(f"{what}[{i}]: not a GeoJSON geometry ({exc})") from None
        if g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty:
            raise InputError(f"{what}[{i}]: must be a non-empty Polygon or MultiPolygon (lon/lat), "
                             f"got {g.geom_type}")
        lon, lat = shapely.get_coordinates(g).T
        if not (np.isfinite(lon).all() and np.isfinite(lat).all() and (abs(lon) <= 180).all()
                and (abs(lat) <= 90).all()):
            raise InputError(f"{what}[{i}]: coordinates must be finite lon/lat degrees "
                             "(|lon| ≤ 180, |lat| ≤ 90)")
        if not g.is_valid:
            raise InputError(f"{what}[{i}]: not a valid polygon ({shapely.is_valid_reason(g)}); "
                             "fix its rings")
        out.append(g)
    return out


def parse_intersects(text: str | None) -> BaseGeometry | None:
    """The ``intersects`` query parameter: one GeoJSON (Multi)Polygon, lon/lat; None if absent."""
    if not text:
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        raise InputError("intersects is not JSON: give a GeoJSON Polygon or MultiPolygon "
                         '({"type": "Polygon", "coordinates": [[[lon, lat], ...]]})') from None
    return polygons([obj], "intersects")[0]


def to_crs(geoms: list[BaseGeometry], epsg: int) -> list[BaseGeometry]:
    """Lon/lat geometries projected to ``epsg`` (a product grid's UTM zone)."""
    to_grid = transformer(4326, epsg)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))

    return list(shapely.transform(np.asarray(geoms, dtype=object), project))


def inside(geom: BaseGeometry, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pixels inside ``geom``: bool (len(ys), len(xs)), True where the centre (xs[j], ys[i]) lies in it."""
    shapely.prepare(geom)
    xx, yy = np.meshgrid(xs, ys)
    return np.asarray(shapely.contains_xy(geom, xx, yy), bool)
