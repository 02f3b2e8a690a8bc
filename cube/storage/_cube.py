"""Read side of the SLC cube: list burst groups, open one as xarray, load a date's metadata."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cube.errors import NotFoundError
from cube.format import SLC_STORE, BurstMetadata, burst_group_path, date_metadata_path
from cube.storage._store import CubeStore, storage_errors

if TYPE_CHECKING:
    import xarray as xr


def list_burst_groups(store: CubeStore) -> list[tuple[str, str]]:
    """(burst_id, polarization) of every burst group in the cube."""
    out = []
    for burst_id in store.list(SLC_STORE):
        if burst_id.startswith("t"):
            out += [(burst_id, pol.upper()) for pol in store.list(f"{SLC_STORE}/{burst_id}")
                    if pol in {"vv", "vh", "hh", "hv"}]
    return out


def open_slc(store: CubeStore, burst_id: str, polarization: str) -> xr.Dataset:
    """The burst group as a lazy dataset: dims (time, line, sample, part), one consolidated read."""
    import xarray as xr  # here, not at import: the metadata readers of a cube need no xarray

    path = burst_group_path(burst_id, polarization)
    try:
        with storage_errors(store.url):
            ds = xr.open_zarr(
                store.zarr_store(f"{SLC_STORE}/{path}", read_only=True), consolidated=True,
                zarr_format=3,
            )
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise NotFoundError(
            f"{store.url}: no burst {burst_id} {polarization.upper()} "
            f"(have: {', '.join(f'{b} {p}' for b, p in list_burst_groups(store)) or 'none'})"
        ) from exc
    return ds


def slc_complex(slc: xr.DataArray) -> xr.DataArray:
    """complex64 view (..., line, sample) of the int16 ``slc`` variable (..., part)."""
    import numpy as np  # with the arrays: the metadata readers of a cube need none

    out = slc.isel(part=0).astype(np.float32) + 1j * slc.isel(part=1).astype(np.float32)
    return out.astype(np.complex64).assign_attrs(long_name="single look complex", units="1")


def read_date_metadata(store: CubeStore, burst_id: str, polarization: str, date_key: str) -> BurstMetadata:
    """The full metadata of one burst date, as ingested."""
    raw = store.read_bytes(date_metadata_path(burst_id, polarization, date_key))
    return BurstMetadata.model_validate_json(raw)
