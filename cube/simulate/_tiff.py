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
    """Write ``pairs`` (lines, samples, 2) int16 (real, imaginary) as an uncompressed CInt16
    GeoTIFF, one row per strip, with GCPs ``gcps`` (n, 5) = pixel, line, lon, lat, height.

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
    with tifffile.TiffFile(path, mode="r+b") as tif:
        page = tif.pages[0]
        page.tags["SampleFormat"].overwrite(SAMPLE_FORMAT_COMPLEX_INT)
        offsets = list(page.dataoffsets)
    assert len(offsets) == lines
    return offsets
