"""``/ard``: download a product subset as COG GeoTIFF, NetCDF or zipped zarr."""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from fastapi import APIRouter, Query, Request, Response

from cube.api._common import POL_PATTERN, engine_of, option_params, variant_from
from cube.api._plan import Cost, admit, parse_bbox
from cube.materialize import ArdEngine, select
from cube.products import ENCODERS, Selection, product_dataset

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
    reference: str | None = Query(None, description="reference date (pair products); per-burst products "
                                  "(velocity) take no date: they cover every date"),
    secondary: str | None = Query(None, description="secondary date (pair products)"),
    pol: str = Query("VV", pattern=POL_PATTERN),
    format: Literal["tif", "nc", "zarr"] = Query("tif"),
) -> Response:
    """The product over ``bbox`` for the dates asked, with CRS, transform and provenance.

    Other query parameters are the product's options (``multilook=2x4``, ``db=true``...).
    """
    engine = engine_of(request)
    variant = variant_from(product, option_params(product, dict(request.query_params)))
    selection = select(engine, variant, burst_id, polarization=pol, bbox=parse_bbox(bbox), datetime=datetime,
                       reference=reference, secondary=secondary)
    started = admit(request, [selection], Cost.of_values(f"/ard/{product}", selection))
    if started is not None:
        return started
    ds = selection_dataset(engine, selection)
    name = "_".join([product, burst_id, *("-".join(d) for d in selection.date_sets[:1] if d)])
    return Response(
        ENCODERS[format](ds),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{SUFFIX[format]}"'},
    )


def selection_dataset(engine: ArdEngine, selection: Selection) -> xr.Dataset:
    """The selection's values as a Dataset.

    Dims (time|pair, y, x), or (y, x) for a per-burst product; every variable of the product;
    x/y in m, CF ``spatial_ref``, provenance.
    """
    data = {v.var.name: np.stack([engine.read(ref, selection.window)
                                  for ref in selection.at(v.var.name).arrays])
            for v in selection.variant.variables}
    grid = engine.product_grid(selection.burst_id, selection.polarization, selection.variant)
    dem = engine.stack(selection.burst_id, selection.polarization).dem
    return product_dataset(selection, grid, data, dem)
