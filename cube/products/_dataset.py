"""The one builder of product datasets, and their encodings (NetCDF, COG, zipped zarr).

Every product value sarcube hands out as a file or a zarr store carries the same attributes:
CF coordinates ``x``/``y`` (m, pixel centres) and ``time`` (or ``reference_time`` and
``secondary_time`` of each pair), the CF grid mapping ``spatial_ref``, the variable's
``long_name`` and ``units``, and the provenance (product, options, algorithm version, variant,
software, burst ID, polarization). ``/ard``, ``sarcube product`` and the zarr stores of
``/zarr`` (:class:`~cube.materialize.ProductStore`, from the same attribute functions) agree.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING

from cube import __version__
from cube.products._address import Selection, Variant

if TYPE_CHECKING:  # the attribute functions (the API's zarr metadata) need neither xarray, numpy nor numba
    import numpy as np
    import xarray as xr

    from cube.geometry import Dem, ProductGrid

X_ATTRS = {"units": "m", "standard_name": "projection_x_coordinate", "long_name": "x of the pixel centre"}
Y_ATTRS = {"units": "m", "standard_name": "projection_y_coordinate", "long_name": "y of the pixel centre"}


def provenance(burst_id: str, polarization: str, variant: Variant) -> dict[str, str]:
    """What made a product value: product, options (JSON), algorithm version, variant, software."""
    return {
        "product": variant.product,
        "options": json.dumps(variant.options.key_values(), sort_keys=True),
        "algorithm_version": variant.spec.version,
        "variant": variant.key,
        "software": f"sarcube {__version__}",
        "burst_id": burst_id,
        "polarization": polarization,
    }


def dem_provenance(dem: Dem) -> dict[str, str]:
    """The DEM a product was geocoded with.

    Its source, the vertical datum of its heights and the geoid grid applied (which names EGM96
    standing in for a missing EGM2008).
    """
    return {"dem": dem.source, "dem_vertical_datum": dem.vertical_datum,
            "geoid": dem.geoid or "none (ellipsoidal heights)"}


def variable_attrs(variant: Variant) -> dict[str, str]:
    """CF attributes of a product variable: long name, units, grid mapping."""
    var = variant.var
    long_name = variant.spec.title if var.name == variant.product else var.long_name
    return {"long_name": long_name, "units": var.units, "grid_mapping": "spatial_ref"}


def time_attrs(dim: str) -> dict[str, str]:
    """CF attributes of a time coordinate (``time``, ``reference_time``, ``secondary_time``)."""
    return {"standard_name": "time", "long_name": f"{dim.replace('_', ' ')} (burst sensing start)"}


def product_dataset(selection: Selection, grid: ProductGrid, data: np.ndarray | dict[str, np.ndarray],
                    dem: Dem | None = None) -> xr.Dataset:
    """A selection's values as a Dataset.

    ``data``: (date sets, rows, cols) over ``selection.window`` of ``grid``, of the product's
    dtype, or a dict of such arrays by variable name (the product's own and its companions,
    each of its variable's dtype); ``dem``: the DEM it was geocoded with (its provenance goes
    into the attributes).

    Dims ``(time, y, x)``, ``(pair, y, x)`` with ``reference_time`` and ``secondary_time``
    along ``pair``, or ``(y, x)`` for a per-burst product (its one date set dropped); complex
    products stay complex (:func:`split_complex` for formats that cannot hold them).
    """
    v = selection.variant
    labels = selection.labels()
    arrays = data if isinstance(data, dict) else {v.product: data}
    coords: dict[str, tuple]
    if v.spec.dateless:
        dims: tuple[str, ...] = ("y", "x")
        arrays = {k: a[0] for k, a in arrays.items()}
        coords = {}
    elif v.spec.pair:
        dims = ("pair", "y", "x")
        coords = {f"{k}_time": ("pair", _times([lab[k] for lab in labels]), time_attrs(f"{k}_time"))
                  for k in ("reference", "secondary")}
    else:
        dims = ("time", "y", "x")
        coords = {"time": ("time", _times([lab["datetime"] for lab in labels]), time_attrs("time"))}
    import xarray as xr

    x, y = grid.xy(selection.window)
    return xr.Dataset(
        {name: (dims, a, variable_attrs(v.at(name))) for name, a in arrays.items()},
        coords={
            **coords,
            "x": ("x", x, X_ATTRS),
            "y": ("y", y, Y_ATTRS),
            "spatial_ref": ((), 0, grid.cf_attrs(selection.window)),
        },
        attrs={**provenance(selection.burst_id, selection.polarization, v),
               **(dem_provenance(dem) if dem is not None else {}), "Conventions": "CF-1.8"},
    )


def _times(stamps: list[str]) -> np.ndarray:
    import numpy as np

    return np.array([s.removesuffix("Z") for s in stamps], "datetime64[us]")


def split_complex(ds: xr.Dataset) -> xr.Dataset:
    """Complex variables as ``<name>_real`` and ``<name>_imag`` (NetCDF readers handle complex poorly)."""
    import numpy as np

    out = ds.copy()
    for name, da in ds.data_vars.items():
        if np.iscomplexobj(da):
            out = out.drop_vars([name])
            out[f"{name}_real"] = da.real.assign_attrs(da.attrs)
            out[f"{name}_imag"] = da.imag.assign_attrs(da.attrs)
    return out


def to_netcdf(ds: xr.Dataset) -> bytes:
    """NetCDF-4 (h5netcdf) bytes; complex values split into _real/_imag."""
    return bytes(split_complex(ds).to_netcdf(engine="h5netcdf"))  # xarray gives a memoryview


def to_cog(ds: xr.Dataset) -> bytes:
    """Cloud-optimized GeoTIFF.

    One band per date (or pair) of the product's own variable, CFloat32 for complex products;
    a per-burst product (no time axis): one float32 band per variable, named after it.
    """
    import numpy as np
    import rasterio
    import xarray as xr
    from rasterio.io import MemoryFile
    from rasterio.transform import Affine

    name = ds.attrs["product"]
    da = ds[name]
    if da.dims == ("y", "x"):  # per burst: its variables as bands
        da = xr.concat([ds[v].astype("float32") for v in ds.data_vars], dim="variable")
        da = da.assign_coords(variable=("variable", list(ds.data_vars)))
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
                stamp = {str(c): str(da[c].values[b]) for c in da.coords if da[c].dims == (dims,)}
                dst.update_tags(b + 1, **stamp)
                dst.set_band_description(b + 1, " ".join(stamp.values()))
        return mem.read()


def to_zipped_zarr(ds: xr.Dataset) -> bytes:
    """A zarr v3 store (consolidated) in a zip file, as ``zarr.storage.ZipStore`` reads it."""
    with tempfile.TemporaryDirectory() as tmp:
        ds.to_zarr(os.path.join(tmp, "store"), zarr_format=3, consolidated=True)
        archive = shutil.make_archive(os.path.join(tmp, "out"), "zip", os.path.join(tmp, "store"))
        with open(archive, "rb") as f:
            return f.read()


ENCODERS: dict[str, Callable[[xr.Dataset], bytes]] = {"tif": to_cog, "nc": to_netcdf, "zarr": to_zipped_zarr}
"""Bytes of a product dataset by format name (``/ard?format=``)."""
