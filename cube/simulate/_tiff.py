"""CInt16 GeoTIFF writer laid out like ESA's IW SLC measurement files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

SAMPLE_FORMAT_COMPLEX_INT = 5

# WGS 84 geographic GeoKeys, as in ESA measurement TIFFs (GCPs in lon/lat/height)
_GEOKEYS = (1, 1, 0, 7, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 2049, 34737, 7, 0,
            2054, 0, 1, 9102, 2057, 34736, 1, 1, 2059, 34736, 1, 0)


def write_cint16_tiff(path: Path, pairs: np.ndarray, gcps: np.ndarray, description: str,
                      software: str, datetime_str: str) -> list[int]:
    """Write ``pairs`` (lines, samples, 2) int16 (real, imaginary) as a CInt16 GeoTIFF.

    Uncompressed, one row per strip, with GCPs ``gcps`` (n, 5) = pixel, line, lon, lat, height.

    Returns the byte offset of every row. tifffile has no complex-int dtype, so the rows are
    written as int32 (same 32-bit layout, little endian: real in the low half) and the
    SampleFormat tag is then patched from 2 (signed int) to 5 (complex signed int).
    """
    lines, samples, _ = pairs.shape
    tiepoints = np.zeros((len(gcps), 6))
    tiepoints[:, 0], tiepoints[:, 1] = gcps[:, 0], gcps[:, 1]
    tiepoints[:, 3], tiepoints[:, 4], tiepoints[:, 5] = gcps[:, 2], gcps[:, 3], gcps[:, 4]
    extratags = [
        (33922, "d", tiepoints.size, tuple(tiepoints.ravel()), True),
        (34735, "H", len(_GEOKEYS), _GEOKEYS, True),
        (34736, "d", 2, (298.257223563, 6378137.0), True),
        (34737, "s", 0, "WGS 84|", True),
    ]
    data = np.ascontiguousarray(pairs).view("<i4")[..., 0]
    tifffile.imwrite(path, data, rowsperstrip=1, photometric="minisblack", compression=None,
                     description=description, software=software, datetime=datetime_str,
                     metadata=None, extratags=extratags, byteorder="<")
    with tifffile.TiffFile(path, mode="r+") as tif:  # binary: tifffile adds the "b"
        page = tif.pages.first
        page.tags["SampleFormat"].overwrite(SAMPLE_FORMAT_COMPLEX_INT)
        offsets = list(page.dataoffsets)
    assert len(offsets) == lines
    return offsets


def write_dem_geotiff(path: Path, lat: np.ndarray, lon: np.ndarray, height: np.ndarray,
                      vertical_epsg: int = 4979) -> None:
    """Write a DEM as a float32 GeoTIFF (EPSG:4326, north up).

    ``lat`` (ny,) and ``lon`` (nx,) are increasing pixel-centre axes (degrees, uniform
    spacing), ``height`` (ny, nx) metres above the vertical CRS ``vertical_epsg``, declared in
    VerticalCSTypeGeoKey: 4979 (WGS 84 3-D: heights above the ellipsoid) or 5773 (EGM96 height).
    """
    dlat, dlon = float(lat[1] - lat[0]), float(lon[1] - lon[0])
    west, north = float(lon[0]) - 0.5 * dlon, float(lat[-1]) + 0.5 * dlat
    geokeys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 4096, 0, 1, vertical_epsg)
    extratags = [
        (33550, "d", 3, (dlon, dlat, 0.0), True),
        (33922, "d", 6, (0.0, 0.0, 0.0, west, north, 0.0), True),
        (34735, "H", len(geokeys), geokeys, True),
    ]
    tifffile.imwrite(path, np.ascontiguousarray(height[::-1], dtype=np.float32),
                     photometric="minisblack", compression=None, metadata=None,
                     extratags=extratags, byteorder="<")
