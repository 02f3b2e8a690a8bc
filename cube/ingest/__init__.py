"""Read Sentinel-1 SLC products and write them into the SLC cube.

The SAFE reader (:func:`open_safe`, numpy, lxml, tifffile and fsspec) imports without the writer
side (:func:`ingest`: zarr, xarray, numba, the catalog), so ``sarcube info`` stays light. Each
name is imported on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cube import lazy_names

if TYPE_CHECKING:
    from cube.ingest._burst_id import make_burst_id, relative_orbit
    from cube.ingest._ingest import BurstDate, IngestReport, ingest
    from cube.ingest._orbit import read_orbit_file
    from cube.ingest._safe import SafeProduct, open_safe, read_tiff_lines

_LAZY = {
    "BurstDate": "_ingest",
    "IngestReport": "_ingest",
    "ingest": "_ingest",
    "SafeProduct": "_safe",
    "make_burst_id": "_burst_id",
    "open_safe": "_safe",
    "read_orbit_file": "_orbit",
    "read_tiff_lines": "_safe",
    "relative_orbit": "_burst_id",
}


__getattr__ = lazy_names("cube.ingest", _LAZY)


__all__ = [
    "BurstDate",
    "IngestReport",
    "ingest",
    "SafeProduct",
    "make_burst_id",
    "open_safe",
    "read_orbit_file",
    "read_tiff_lines",
    "relative_orbit",
]
