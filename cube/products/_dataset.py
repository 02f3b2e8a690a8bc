"""A product window as an xarray Dataset: map coordinates, CRS and provenance."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr
from pyproj import CRS

from cube import __version__
from cube.geometry._grid import Window
from cube.products._options import ProductOptions
from cube.products._stack import BurstStack, _window_bounds, get_product


def product_dataset(stack: BurstStack, product: str, date_keys: list[str], window: Window | None = None,
                    options: ProductOptions | None = None) -> xr.Dataset:
    """One product window with ``x``/``y`` (m, pixel centres) and ``spatial_ref`` (CF grid mapping).

    The variable is named after the product; its attrs hold the provenance (product, options,
    algorithm version, software, dates, burst ID, the DEM: its source, the vertical datum of its
    heights and the geoid grid applied, which names EGM96 standing in for a missing EGM2008).
    """
    spec = get_product(product)
    opts = options if options is not None else spec.options()
    data = stack.compute(product, date_keys, window, opts)
    ly, lx = opts.looks
    g = stack.grid
    rows, cols = stack.shape(product, opts)
    r0, r1, c0, c1 = _window_bounds(window, rows, cols)
    x = g.x0 + (np.arange(c0, c1) + 0.5) * g.dx * lx
    y = g.y0 - (np.arange(r0, r1) + 0.5) * g.dy * ly
    crs = CRS.from_epsg(g.epsg)
    attrs = {
        "product": product,
        "options": json.dumps(opts.model_dump(mode="json"), sort_keys=True),
        "algorithm_version": spec.version,
        "software": f"sarcube {__version__}",
        "burst_id": stack.burst_id,
        "polarization": stack.polarization,
        "dates": ",".join(date_keys),
        "dem": stack.dem.source,
        "dem_vertical_datum": stack.dem.vertical_datum,
        "geoid": stack.dem.geoid or "none (ellipsoidal heights)",
        "units": spec.units,
        "long_name": spec.title,
        "grid_mapping": "spatial_ref",
    }
    if np.iscomplexobj(data):
        variables = {f"{product}_real": (("y", "x"), data.real), f"{product}_imag": (("y", "x"), data.imag)}
    else:
        variables = {product: (("y", "x"), data)}
    ds = xr.Dataset(
        {k: xr.DataArray(v[1], dims=v[0], attrs=attrs) for k, v in variables.items()},
        coords={
            "x": ("x", x, {"units": "m", "standard_name": "projection_x_coordinate"}),
            "y": ("y", y, {"units": "m", "standard_name": "projection_y_coordinate"}),
            "spatial_ref": ((), 0, {**crs.to_cf(), "spatial_ref": crs.to_wkt(),
                                    "GeoTransform": " ".join(str(v) for v in (
                                        g.x0 + c0 * g.dx * lx, g.dx * lx, 0, g.y0 - r0 * g.dy * ly, 0,
                                        -g.dy * ly))}),
        },
        attrs={k: attrs[k] for k in ("product", "options", "algorithm_version", "software", "burst_id",
                                      "polarization", "dates", "dem", "dem_vertical_datum", "geoid")},
    )
    return ds
