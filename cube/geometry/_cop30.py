"""The Copernicus DEM GLO-30 (COP30) read from its public bucket: only the tiles and windows needed.

The public bucket (anonymous S3, ``s3://copernicus-dem-30m``, eu-central-1) holds one Cloud
Optimized GeoTIFF per 1° cell, named by the cell's south-west corner::

    Copernicus_DSM_COG_10_N41_00_E012_00_DEM/Copernicus_DSM_COG_10_N41_00_E012_00_DEM.tif

float32 heights above **EGM2008**, 1" in latitude (3600 rows), 1" to 10" in longitude by
latitude band, pixel centres on whole arc-seconds (the tile of N41 E012 spans 41°–42° N,
12°–13° E shifted by half a pixel). Cells over open sea have no tile: their heights are sea
level (0 m above the geoid). ``read_cop30(bbox)`` reads the window of ``bbox`` from each tile
that touches it (a few range requests per tile: COG tiles of 1024², never the whole file) and
mosaics them on the grid of the tiles. Any bucket laid out the same way serves (``url`` and
fsspec ``storage_options``, e.g. an S3 endpoint on loopback for tests).
"""

from __future__ import annotations

import io
import math

import numpy as np
import tifffile

from cube.errors import NotFoundError
from cube.geometry._dem import Dem, _bilinear_array, to_ellipsoidal
from cube.geometry._geoid import GeoidGrid
from cube.geometry._geotiff import read_geotiff

COP30_PUBLIC_URL = "s3://copernicus-dem-30m"
COP30_PUBLIC_OPTIONS = {"anon": True, "client_kwargs": {"region_name": "eu-central-1"}}
COP30_DATUM = "egm2008"
_EDGE = 1.0 / 3600.0  # one pixel: a cell's tile reaches half a pixel past the cell


def cop30_tile_name(lat_cell: int, lon_cell: int) -> str:
    """The COP30 tile name of a 1° cell, e.g. ``Copernicus_DSM_COG_10_N41_00_E012_00_DEM``.

    The cell's south-west corner is (``lat_cell``, ``lon_cell``) degrees.
    """
    ns = "N" if lat_cell >= 0 else "S"
    ew = "E" if lon_cell >= 0 else "W"
    return f"Copernicus_DSM_COG_10_{ns}{abs(lat_cell):02d}_00_{ew}{abs(lon_cell):03d}_00_DEM"


def cop30_tiles(bbox: tuple[float, float, float, float]) -> list[tuple[int, int, str]]:
    """(lat_cell, lon_cell, object key) of every tile that may hold pixels of ``bbox``."""
    west, south, east, north = bbox
    lats = range(math.floor(south - _EDGE), math.floor(north + _EDGE) + 1)
    lons = range(math.floor(west - _EDGE), math.floor(east + _EDGE) + 1)
    out = []
    for la in lats:
        for lo in lons:
            if -90 <= la < 90:
                name = cop30_tile_name(la, (lo + 180) % 360 - 180)
                out.append((la, lo, f"{name}/{name}.tif"))
    return out


def cop30_orthometric(
    bbox: tuple[float, float, float, float],
    url: str = COP30_PUBLIC_URL,
    storage_options: dict | None = None,
    margin_pixels: int = 2,
    stats: dict | None = None,
) -> tuple[np.ndarray, tuple[float, float, float, float, float, float], str]:
    """COP30 heights above EGM2008 over ``bbox`` (west, south, east, north; degrees).

    Returns ``(heights, transform, source)``: float32 (rows, cols) m above EGM2008 (0 in cells
    that have no tile: open sea), the GDAL-order transform (EPSG:4326) and a description naming
    the tiles read. ``stats``, if given, gets ``tiles`` (keys read), ``missing`` (keys absent)
    and ``bytes_fetched`` (bytes the storage layer transferred).

    Raises ``NotFoundError`` when no tile under ``url`` touches ``bbox``.
    """
    options = storage_options if storage_options is not None else (
        COP30_PUBLIC_OPTIONS if url == COP30_PUBLIC_URL else {})
    base = url.rstrip("/")
    parts, missing = [], []
    fetched = 0
    for _, _, key in cop30_tiles(bbox):
        tile_url = f"{base}/{key}"
        try:
            raster, nbytes = read_geotiff(tile_url, bbox, options, margin_pixels, count_bytes=True)
        except NotFoundError as exc:
            if "not found" in str(exc):
                missing.append(key)
                continue
            raise
        fetched += nbytes
        values = raster.values.astype(np.float32)
        if raster.nodata is not None:
            values[raster.values == raster.nodata] = np.nan
        parts.append((key, values, raster.transform))
    if stats is not None:
        stats.update(tiles=[p[0] for p in parts], missing=missing, bytes_fetched=fetched)
    if not parts:
        raise NotFoundError(
            f"{base}: no Copernicus DEM tile covers {tuple(round(v, 5) for v in bbox)} (looked for "
            f"{', '.join(missing)}); check the bucket URL, or record another DEM with `sarcube dem`"
        )
    heights, transform = _mosaic(parts, missing)
    source = f"cop30:{base} ({', '.join(p[0].split('/')[0] for p in parts)})"
    return heights, transform, source


def read_cop30(
    bbox: tuple[float, float, float, float],
    url: str = COP30_PUBLIC_URL,
    storage_options: dict | None = None,
    geoid: GeoidGrid | None = None,
    margin_pixels: int = 2,
) -> Dem:
    """COP30 over ``bbox`` as heights above WGS84 (EGM2008 applied).

    EGM96 stands in for a missing EGM2008 grid with a ``GeoidStandInWarning``, named in
    ``Dem.geoid``.
    """
    heights, transform, source = cop30_orthometric(bbox, url, storage_options, margin_pixels)
    return to_ellipsoidal(heights, transform, 4326, COP30_DATUM, source, geoid)


def _mosaic(parts, missing) -> tuple[np.ndarray, tuple[float, float, float, float, float, float]]:
    """Paste tile windows on one grid: the finest posting, aligned to the first window."""
    x0s = [t[0] for _, _, t in parts]
    dx = min(t[1] for _, _, t in parts)
    dy = -min(abs(t[5]) for _, _, t in parts)
    west = min(x0s)
    east = max(t[0] + v.shape[1] * t[1] for _, v, t in parts)
    north = max(t[3] for _, _, t in parts)
    south = min(t[3] + v.shape[0] * t[5] for _, v, t in parts)
    ref = parts[0][2]
    west = ref[0] + math.floor((west - ref[0]) / dx + 1e-6) * dx
    north = ref[3] + math.floor((north - ref[3]) / dy + 1e-6) * dy
    cols = int(round((east - west) / dx))
    rows = int(round((south - north) / dy))
    x = west + (np.arange(cols) + 0.5) * dx
    y = north + (np.arange(rows) + 0.5) * dy
    out = np.full((rows, cols), np.nan, np.float32)
    for _, values, t in parts:
        c = np.nonzero((x >= t[0]) & (x < t[0] + values.shape[1] * t[1]))[0]
        r = np.nonzero((y <= t[3]) & (y > t[3] + values.shape[0] * t[5]))[0]
        if c.size == 0 or r.size == 0:
            continue
        col = (x[c] - t[0]) / t[1] - 0.5
        row = (y[r] - t[3]) / t[5] - 0.5
        rr, cc = np.meshgrid(row, col, indexing="ij")
        sampled = np.empty(rr.size)
        _bilinear_array(values, rr.ravel(), cc.ravel(), sampled)
        out[np.ix_(r, c)] = sampled.reshape(rr.shape)
    if missing:  # open sea: cells without a tile are at the geoid
        lat_cell = np.floor(y - 1e-9).astype(int)[:, None]
        lon_cell = np.floor(x + 1e-9).astype(int)[None, :]
        names = {k.split("/")[0] for k in missing}
        sea = np.zeros(out.shape, bool)
        for la in np.unique(lat_cell):
            for lo in np.unique(lon_cell):
                if cop30_tile_name(int(la), int((lo + 180) % 360 - 180)) in names:
                    sea |= (lat_cell == la) & (lon_cell == lo)
        out[sea & np.isnan(out)] = 0.0
    return out, (float(west), float(dx), 0.0, float(north), 0.0, float(dy))


def dem_geotiff_bytes(heights: np.ndarray, transform, datum: str = COP30_DATUM) -> bytes:
    """A tiled, deflated float32 GeoTIFF of ``heights`` (rows, cols), as ``read_dem`` reads it back.

    Its CRS is EPSG:4326 + the vertical CRS of ``datum``. This is how a cube caches its COP30
    windows.
    """
    vertical = {"egm96": 5773, "egm2008": 3855, "ellipsoid": 4979}[datum]
    x0, dx, _, y0, _, dy = transform
    geokeys = (1, 1, 0, 4, 1024, 0, 1, 2, 1025, 0, 1, 1, 2048, 0, 1, 4326, 4096, 0, 1, vertical)
    extratags = [
        (33550, "d", 3, (dx, -dy, 0.0), True),
        (33922, "d", 6, (0.0, 0.0, 0.0, x0, y0, 0.0), True),
        (34735, "H", len(geokeys), geokeys, True),
    ]
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(heights, np.float32), tile=(256, 256),
                     compression="zlib", photometric="minisblack", metadata=None,
                     extratags=extratags)
    return buf.getvalue()


__all__ = ["COP30_DATUM", "COP30_PUBLIC_OPTIONS", "COP30_PUBLIC_URL", "cop30_orthometric",
           "cop30_tile_name", "cop30_tiles", "dem_geotiff_bytes", "read_cop30"]
