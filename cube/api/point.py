"""``/point`` (a pixel's time series) and ``/zonal`` (statistics per parcel and date)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Literal

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cube.api._common import POL_PATTERN, engine_of, option_params, variant_from
from cube.api._plan import (
    POINT_VALUE_BYTES,
    ZONAL_RESULT_BYTES,
    Cost,
    Plan,
    admit,
    bbox_window,
    date_sets,
    find_burst,
)
from cube.errors import InputError
from cube.geometry._grid import _transformer
from cube.materialize import read_pixels

router = APIRouter(tags=["analysis"])


def _value(x: complex | float) -> Any:
    if isinstance(x, complex | np.complexfloating):
        if not np.isfinite(x):
            return None
        return {"re": float(x.real), "im": float(x.imag), "abs": float(abs(x)), "phase": float(np.angle(x))}
    return None if not math.isfinite(float(x)) else float(x)


@router.get("/point", summary="Time series of a product at a point, for every date (or pair)")
def point(
    request: Request,
    lon: float = Query(..., ge=-180, le=180),
    lat: float = Query(..., ge=-90, le=90),
    product: str = Query("backscatter"),
    burst_id: str | None = Query(None, description="default: the first covering burst"),
    datetime: str | None = Query(None, description="restrict to dates (instant, day, a/b)"),
    pol: str = Query("VV", pattern=POL_PATTERN),
    format: Literal["json", "csv"] = Query("json"),
) -> Response:
    """The value of the product's pixel that holds (lon, lat), per date; pair products give every
    pair of the pair rule (consecutive dates, or ≤ 48 days apart). Other query parameters are the
    product's options. Complex values come as ``{re, im, abs, phase}``."""
    engine = engine_of(request)
    variant = variant_from(product, option_params(product, dict(request.query_params)))
    pol = pol.upper()
    burst_id = burst_id or find_burst(engine, lon, lat)
    g = engine.stack(burst_id, pol).grid
    ly, lx = variant.options.looks
    x, y = _transformer(4326, g.epsg).transform(lon, lat)
    rows, cols = engine.shape(burst_id, pol, variant)
    far = not (math.isfinite(x) and math.isfinite(y))  # PROJ gives inf far outside the UTM zone
    row = -1 if far else math.floor((g.y0 - y) / (g.dy * ly))
    col = -1 if far else math.floor((x - g.x0) / (g.dx * lx))
    if not (0 <= row < rows and 0 <= col < cols):
        raise InputError(
            f"lon={lon}, lat={lat} is outside burst {burst_id}; omit burst_id to find the covering burst"
        )
    plan = Plan(
        burst_id,
        pol,
        variant,
        date_sets(engine, burst_id, pol, variant, datetime=datetime, all_pairs=True),
        (slice(row, row + 1), slice(col, col + 1)),
    )
    n = len(plan.date_sets)
    started = admit(request, [plan], Cost(f"/point {product}", 1, n, n * POINT_VALUE_BYTES))
    if started is not None:
        return started
    at_row, at_col = np.array([row]), np.array([col])
    series = [
        {**label, "value": _value(read_pixels(engine, burst_id, pol, variant, dates, at_row, at_col)[0])}
        for label, dates in zip(plan.labels(), plan.date_sets, strict=True)
    ]
    if format == "csv":
        out = io.StringIO()
        keys = list(series[0]) if series else ["datetime", "value"]
        writer = csv.DictWriter(out, fieldnames=keys)
        writer.writeheader()
        for s in series:
            writer.writerow(
                {**s, "value": s["value"]["phase"] if isinstance(s["value"], dict) else s["value"]}
            )
        return Response(out.getvalue(), media_type="text/csv")
    return JSONResponse(
        {
            "product": product,
            "variant": variant.key,
            "options": variant.options.model_dump(mode="json"),
            "burst_id": burst_id,
            "polarization": pol,
            "units": variant.spec.units,
            "lon": lon,
            "lat": lat,
            "x": x,
            "y": y,
            "row": row,
            "col": col,
            "series": series,
        }
    )


class ZonalRequest(BaseModel):
    """Parcels (a GeoJSON FeatureCollection in lon/lat) and the product to summarise over them."""

    model_config = ConfigDict(extra="forbid")

    product: str = "backscatter"
    options: dict[str, Any] = Field(default_factory=dict, description="the product's options")
    burst_id: str | None = Field(None, description="default: the burst covering the first parcel's centroid")
    polarization: Literal["VV", "VH", "HH", "HV"] = "VV"
    datetime: str | None = Field(
        None, description="restrict to dates (instant, day, a/b); pairs: their reference"
    )
    features: dict[str, Any] = Field(description="GeoJSON FeatureCollection of (Multi)Polygons, lon/lat")


@router.post("/zonal", summary="Mean, median and count of a product per parcel and date")
def zonal(body: ZonalRequest, request: Request) -> Response:
    """Per parcel and date (or pair): the mean, median and count of valid pixels whose centres
    fall inside the parcel. Parcels are identified by their ``id`` (or their index)."""
    engine = engine_of(request)
    variant = variant_from(body.product, body.options)
    feats = body.features.get("features") if body.features.get("type") == "FeatureCollection" else None
    if not feats:
        raise InputError("features must be a GeoJSON FeatureCollection with at least one feature")
    try:
        geoms = [shapely.geometry.shape(f["geometry"]) for f in feats]
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise InputError(f"features: a feature has no valid geometry ({exc})") from None
    if any(g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty for g in geoms):
        raise InputError("features: every geometry must be a non-empty Polygon or MultiPolygon (lon/lat)")
    for i, g in enumerate(geoms):
        lon, lat = shapely.get_coordinates(g).T
        if not (np.isfinite(lon).all() and np.isfinite(lat).all() and (abs(lon) <= 180).all()
                and (abs(lat) <= 90).all()):
            raise InputError(f"features[{i}]: coordinates must be finite lon/lat degrees "
                             "(|lon| ≤ 180, |lat| ≤ 90)")
        if not g.is_valid:
            raise InputError(f"features[{i}]: not a valid polygon ({shapely.is_valid_reason(g)}); "
                             "fix its rings")
    ids = [f.get("id", i) for i, f in enumerate(feats)]
    if body.burst_id:
        burst_id = body.burst_id
    else:  # the parcels' union is costly (0.5 s for 2,000): only to find the burst
        centroid = shapely.union_all(geoms).centroid
        burst_id = find_burst(engine, centroid.x, centroid.y)
    pol = body.polarization
    west, south, east, north = (float(b) for b in shapely.total_bounds(geoms))  # = the union's bounds
    window = bbox_window(engine, burst_id, pol, variant, (west, south, east, north))
    plan = Plan(
        burst_id,
        pol,
        variant,
        date_sets(engine, burst_id, pol, variant, datetime=body.datetime, all_pairs=True),
        window,
    )
    g = engine.stack(burst_id, pol).grid
    ly, lx = variant.options.looks
    (r0, r1), (c0, c1) = (window[0].start, window[0].stop), (window[1].start, window[1].stop)
    # pixel centres of the window, in the grid's CRS (m)
    xs = g.x0 + (np.arange(c0, c1) + 0.5) * g.dx * lx
    ys = g.y0 - (np.arange(r0, r1) + 0.5) * g.dy * ly
    to_grid = _transformer(4326, g.epsg)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))

    parcels = parcel_masks(shapely.transform(np.asarray(geoms, dtype=object), project), xs, ys)
    n = len(plan.date_sets)
    cost = Cost(
        f"/zonal {body.product}",
        plan.pixels,
        n,
        len(geoms) * n * ZONAL_RESULT_BYTES,
        parcels=len(geoms),
        parcel_pixels=sum(m.size for _, _, m in parcels),
    )
    started = admit(request, [plan], cost)
    if started is not None:
        return started
    results = []
    for label, dates in zip(plan.labels(), plan.date_sets, strict=True):
        values = engine.read(burst_id, pol, variant, dates, window)  # the window once per date
        if np.iscomplexobj(values):
            values = np.angle(values)  # complex products: statistics of the phase
        for fid, (rows, cols, mask) in zip(ids, parcels, strict=True):
            v = values[rows, cols][mask]
            v = v[np.isfinite(v)]
            results.append(
                {
                    "id": fid,
                    **label,
                    "count": int(v.size),
                    "mean": float(v.mean()) if v.size else None,
                    "median": float(np.median(v)) if v.size else None,
                }
            )
    return JSONResponse(
        {
            "product": body.product,
            "variant": variant.key,
            "burst_id": burst_id,
            "polarization": pol,
            "units": variant.spec.units,
            "results": results,
        }
    )


def parcel_masks(
    geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> list[tuple[slice, slice, np.ndarray]]:
    """Each parcel's pixels: (rows, cols, mask) over the parcel's own bounding box.

    ``geoms`` are parcels in the grid's CRS; ``xs`` (ascending) and ``ys`` (descending) are the
    pixel centres of a window, m. ``rows``/``cols`` index the window and ``mask`` (bool, the
    box's shape) is True where a pixel centre lies inside the parcel. The work follows the
    parcels' area, not the window's: a parcel outside the window gets an empty box.
    """
    out = []
    for geom in geoms:
        shapely.prepare(geom)
        x0, y0, x1, y1 = geom.bounds
        # the centres within the parcel's bounds (exact comparisons: contains_xy is False outside)
        a, b = int(np.searchsorted(xs, x0)), int(np.searchsorted(xs, x1, side="right"))
        c, d = int(np.searchsorted(-ys, -y1)), int(np.searchsorted(-ys, -y0, side="right"))
        if b <= a or d <= c:
            out.append((slice(0, 0), slice(0, 0), np.zeros((0, 0), bool)))
            continue
        xx, yy = np.meshgrid(xs[a:b], ys[c:d])
        out.append((slice(c, d), slice(a, b), shapely.contains_xy(geom, xx, yy)))
    return out
