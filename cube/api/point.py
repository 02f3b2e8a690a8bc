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
from cube.api._plan import POINT_VALUE_BYTES, ZONAL_RESULT_BYTES, Cost, admit
from cube.errors import InputError
from cube.geometry import transformer
from cube.materialize import select

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
    """The value of the product's pixel that holds (lon, lat), per date.

    Pair products give every pair of the pair rule (consecutive dates, or ≤ 48 days apart); a
    per-burst product (velocity) one value, at the top level of the JSON (one CSV row). A
    product's companion variables (components, velocity_std…) come beside ``value`` under
    their names. Other query parameters are the product's options. Complex values come as
    ``{re, im, abs, phase}``.
    """
    engine = engine_of(request)
    variant = variant_from(product, option_params(product, dict(request.query_params)))
    pol = pol.upper()
    selection = select(engine, variant, burst_id, polarization=pol, point=(lon, lat), datetime=datetime,
                       all_pairs=True)
    burst_id, pol = selection.burst_id, selection.polarization
    n = len(selection.date_sets)
    started = admit(request, [selection], Cost(f"/point {product}", 1, n, n * POINT_VALUE_BYTES))
    if started is not None:
        return started
    metric = variant.spec.units in ("m", "m/yr")  # displacement, velocity: millimetres beside SI
    series = []
    for k, label in enumerate(selection.labels()):
        entry: dict[str, Any] = dict(label)
        for var in variant.variables:
            ref = selection.at(var.var.name).arrays[k]
            value = _value(engine.read(ref, selection.window)[0, 0])
            if var.var.name == variant.product:
                entry["value"] = value
                if metric:
                    entry["value_mm"] = None if value is None else 1e3 * value
            else:
                entry[var.var.name] = int(value) if var.dtype.kind in "iu" and value is not None else value
        series.append(entry)
    x, y = engine.product_grid(burst_id, pol, variant).project(lon, lat)
    row, col = selection.window[0].start, selection.window[1].start
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
    where = series[0] if variant.spec.dateless else {"series": series}
    return JSONResponse(
        {
            "product": product,
            "variant": variant.key,
            "options": variant.options.key_values(),
            "burst_id": burst_id,
            "polarization": pol,
            "units": variant.spec.units,
            **({"units_mm": variant.spec.units.replace("m", "mm", 1)} if metric else {}),
            **({"variable_units": {v.name: v.units for v in variant.spec.companions}}
               if variant.spec.companions else {}),
            "lon": lon,
            "lat": lat,
            "x": x,
            "y": y,
            "row": row,
            "col": col,
            **where,
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
    """Per parcel and date (or pair): the mean, median and count of the valid pixels inside.

    A pixel is inside when its centre falls inside the parcel. Parcels are identified by their
    ``id`` (or their index).
    """
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
    centre = None
    if not body.burst_id:  # the parcels' union is costly (0.5 s for 2,000): only to find the burst
        centroid = shapely.union_all(geoms).centroid
        centre = (centroid.x, centroid.y)
    west, south, east, north = (float(b) for b in shapely.total_bounds(geoms))
    bbox = (west, south, east, north)  # = the union's bounds
    selection = select(engine, variant, body.burst_id, polarization=body.polarization, point=centre,
                       bbox=bbox, datetime=body.datetime, all_pairs=True)
    grid = engine.product_grid(selection.burst_id, selection.polarization, variant)
    xs, ys = grid.xy(selection.window)  # pixel centres of the window, in the grid's CRS (m)
    to_grid = transformer(4326, grid.epsg)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_grid.transform(xy[:, 0], xy[:, 1]))

    parcels = parcel_masks(shapely.transform(np.asarray(geoms, dtype=object), project), xs, ys)
    n = len(selection.date_sets)
    cost = Cost(
        f"/zonal {body.product}",
        selection.pixels,
        n,
        len(geoms) * n * ZONAL_RESULT_BYTES,
        parcels=len(geoms),
        parcel_pixels=sum(m.size for _, _, m in parcels),
    )
    started = admit(request, [selection], cost)
    if started is not None:
        return started
    results = []
    for label, ref in zip(selection.labels(), selection.arrays, strict=True):
        values = engine.read(ref, selection.window)  # the window once per date
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
            "burst_id": selection.burst_id,
            "polarization": selection.polarization,
            "units": variant.spec.units,
            **({"units_mm": variant.spec.units.replace("m", "mm", 1)}
               if variant.spec.units in ("m", "m/yr") else {}),
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
