"""``/ard``: download a product subset as COG GeoTIFF, NetCDF or zipped zarr."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Literal

import numpy as np
import xarray as xr
from fastapi import APIRouter, Query, Request, Response
from pyproj import CRS

from cube import __version__
from cube.api._common import POL_PATTERN, engine_of, option_params, variant_from
from cube.api._plan import Cost, Plan, admit, bbox_window, date_sets, parse_bbox
from cube.materialize import ArdEngine

router = APIRouter(tags=["ard"])
SUFFIX = {"tif": "tif", "nc": "nc", "zarr": "zarr.zip"}

MEDIA = {
    "tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    "nc": "application/x-netcdf",
    "zarr": "application/zip",
}


@router.get(
    "/ard/{product}",
    summary="Download a product subset (COG, NetCDF or zipped zarr)",
    responses={200: {"content": {m: {} for m in MEDIA.values()}}, 202: {"description": "a job was started"}},
)
def ard(
    product: str,
    request: Request,
    burst_id: str = Query(..., description="ESA burst ID, e.g. t071_151200_iw3"),
    bbox: str | None = Query(None, description="west,south,east,north (degrees); default the whole burst"),
    datetime: str | None = Query(None, description="instant, day or interval a/b (per-date products)"),
    reference: str | None = Query(None, description="reference date (pair products)"),
    secondary: str | None = Query(None, description="secondary date (pair products)"),
    pol: str = Query("VV", pattern=POL_PATTERN),
    format: Literal["tif", "nc", "zarr"] = Query("tif"),
) -> Response:
    """The product over ``bbox`` for the dates asked, with CRS, transform and provenance.

    Other query parameters are the product's options (``multilook=2x4``, ``db=true``...).
    """
    engine = engine_of(request)
    variant = variant_from(product, option_params(product, dict(request.query_params)))
    pol = pol.upper()
    window = bbox_window(engine, burst_id, pol, variant, parse_bbox(bbox))
    plan = Plan(
        burst_id,
        pol,
        variant,
        date_sets(
            engine, burst_id, pol, variant, datetime=datetime, reference=reference, secondary=secondary
        ),
        window,
    )
    started = admit(request, [plan], Cost.of_values(f"/ard/{product}", plan))
    if started is not None:
        return started
    ds = plan_dataset(engine, plan)
    name = f"{product}_{burst_id}_{'_'.join('-'.join(d) for d in plan.date_sets[:1])}"
    body = {"tif": to_cog, "nc": to_netcdf, "zarr": to_zipped_zarr}[format](ds)
    return Response(
        body,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{SUFFIX[format]}"'},
    )


def plan_dataset(engine: ArdEngine, plan: Plan) -> xr.Dataset:
    """The plan's values as a Dataset: (time|pair, y, x), x/y in m, CF ``spatial_ref``, provenance."""
    v = plan.variant
    data = np.stack(
        [engine.read(plan.burst_id, plan.polarization, v, d, plan.window) for d in plan.date_sets]
    )
    g = engine.stack(plan.burst_id, plan.polarization).grid
    ly, lx = v.options.looks
    (r0, r1), (c0, c1) = (
        (plan.window[0].start, plan.window[0].stop),
        (plan.window[1].start, plan.window[1].stop),
    )
    crs = CRS.from_epsg(g.epsg)
    transform = (g.x0 + c0 * g.dx * lx, g.dx * lx, 0.0, g.y0 - r0 * g.dy * ly, 0.0, -g.dy * ly)
    attrs = {
        "product": v.product,
        "options": json.dumps(v.options.model_dump(mode="json"), sort_keys=True),
        "algorithm_version": v.spec.version,
        "variant": v.key,
        "software": f"sarcube {__version__}",
        "burst_id": plan.burst_id,
        "polarization": plan.polarization,
    }
    labels = plan.labels()
    if v.spec.pair:
        coords = {
            "reference_time": ("pair", np.array([lab["reference"][:-1] for lab in labels], "datetime64[us]")),
            "secondary_time": ("pair", np.array([lab["secondary"][:-1] for lab in labels], "datetime64[us]")),
        }
        dim = "pair"
    else:
        coords = {"time": ("time", np.array([lab["datetime"][:-1] for lab in labels], "datetime64[us]"))}
        dim = "time"
    var_attrs = {"long_name": v.spec.title, "units": v.spec.units, "grid_mapping": "spatial_ref"}
    ds = xr.Dataset(
        {v.product: ((dim, "y", "x"), data, var_attrs)},
        coords={
            **coords,
            "x": (
                "x",
                transform[0] + (np.arange(c1 - c0) + 0.5) * transform[1],
                {"units": "m", "standard_name": "projection_x_coordinate"},
            ),
            "y": (
                "y",
                transform[3] + (np.arange(r1 - r0) + 0.5) * transform[5],
                {"units": "m", "standard_name": "projection_y_coordinate"},
            ),
            "spatial_ref": (
                (),
                0,
                {**crs.to_cf(), "spatial_ref": crs.to_wkt(), "GeoTransform": " ".join(map(str, transform))},
            ),
        },
        attrs=attrs,
    )
    return ds


def _split_complex(ds: xr.Dataset) -> xr.Dataset:
    """NetCDF and GeoTIFF readers handle complex poorly: complex variables as _real/_imag."""
    out = ds.copy()
    for name, da in ds.data_vars.items():
        if np.iscomplexobj(da):
            out = out.drop_vars(name)
            out[f"{name}_real"] = da.real.assign_attrs(da.attrs)
            out[f"{name}_imag"] = da.imag.assign_attrs(da.attrs)
    return out


def to_netcdf(ds: xr.Dataset) -> bytes:
    """NetCDF-4 (h5netcdf) bytes; complex values split into _real/_imag."""
    return _split_complex(ds).to_netcdf(engine="h5netcdf")


def to_cog(ds: xr.Dataset) -> bytes:
    """Cloud-optimized GeoTIFF: one band per date (or pair), CFloat32 for complex products."""
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    name = ds.attrs["product"]
    da = ds[name]
    t = [float(v) for v in ds["spatial_ref"].attrs["GeoTransform"].split()]
    profile = {
        "driver": "COG",
        "width": da.sizes["x"],
        "height": da.sizes["y"],
        "count": da.shape[0],
        "dtype": "complex64" if np.iscomplexobj(da) else "float32",
        "crs": rasterio.crs.CRS.from_wkt(ds["spatial_ref"].attrs["spatial_ref"]),
        "transform": Affine(t[1], t[2], t[0], t[4], t[5], t[3]),
        "nodata": float("nan"),
        "compress": "deflate",
        "blocksize": 256,
    }
    if np.iscomplexobj(da):
        profile.pop("nodata")
        profile["overviews"] = "none"
    dims = [d for d in da.dims if d not in ("y", "x")][0]
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(da.values.astype(profile["dtype"]))
            dst.update_tags(**{k: str(v) for k, v in ds.attrs.items()})
            for b in range(da.shape[0]):
                stamp = {c: str(ds[c].values[b]) for c in ds.coords if ds[c].dims == (dims,)}
                dst.update_tags(b + 1, **stamp)
                dst.set_band_description(b + 1, " ".join(stamp.values()))
        return mem.read()


def to_zipped_zarr(ds: xr.Dataset) -> bytes:
    """A zarr v3 store (consolidated) in a zip file, as ``zarr.storage.ZipStore`` reads it."""
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        ds.to_zarr(os.path.join(tmp, "store"), zarr_format=3, consolidated=True)
        archive = shutil.make_archive(os.path.join(tmp, "out"), "zip", os.path.join(tmp, "store"))
        with open(archive, "rb") as f:
            return f.read()
