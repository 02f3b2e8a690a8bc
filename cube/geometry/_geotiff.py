"""GeoTIFF/COG reading for DEMs and geoid grids: the first band, its georeference, a window.

Local files are read directly; remote ones (any fsspec URL) through small read-ahead blocks, so
a COG window costs its header and the tiles it touches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import fsspec
import numpy as np
import tifffile

from cube.errors import CubeError, InvalidSourceError, NotFoundError
from cube.geometry._grid import transformer

VERTICAL_EPSG = {5773: "egm96", 3855: "egm2008", 4979: "ellipsoid"}
#: Horizontal-CRS codes that carry a vertical datum: compound CRSs and WGS 84 3-D.
COMPOUND_EPSG = {9707: (4326, "egm96"), 9518: (4326, "egm2008"), 4979: (4326, "ellipsoid")}


@dataclass
class Raster:
    """A GeoTIFF band (or a window of it) with its georeference."""

    values: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: int
    vertical: str | None
    nodata: float | None


REMOTE_BLOCK_BYTES = 1 << 16
"""Read-ahead of remote GeoTIFF reads: a COG window costs its header and the tiles it touches."""


def open_file(path: str, storage_options: dict):
    """A binary file object of a local path or fsspec URL (remote ones read in small blocks)."""
    fs, inner = fsspec.core.url_to_fs(path, **storage_options)
    if "file" in fs.protocol:
        return fs.open(inner, "rb")
    return fs.open(inner, "rb", block_size=REMOTE_BLOCK_BYTES, cache_type="readahead")


def geotiff_error(path: str, exc: Exception) -> CubeError:
    """The error of a GeoTIFF that cannot be opened or read: missing, or not a readable GeoTIFF."""
    if isinstance(exc, FileNotFoundError):
        return NotFoundError(f"{path}: DEM file not found; check the path or URL of the GeoTIFF/COG "
                             "(or use the Copernicus DEM: `sarcube dem CUBE cop30`)")
    return InvalidSourceError(f"{path}: cannot read GeoTIFF ({exc})")


def raster_bounds(transform: tuple[float, ...], shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the outer pixel edges of a (rows, cols) raster, in its CRS units."""
    x0, dx, _, y0, _, dy = transform
    rows, cols = shape
    xs = (x0, x0 + cols * dx)
    ys = (y0, y0 + rows * dy)
    return min(xs), min(ys), max(xs), max(ys)


def read_geotiff(path: str, bbox, storage_options: dict, margin: int = 2, count_bytes: bool = False):
    """The first band of a GeoTIFF (or its window over ``bbox``) with its georeferencing.

    With ``count_bytes`` also the bytes the storage layer fetched: ``(raster, nbytes)``.
    """
    try:
        with open_file(path, storage_options) as fh, tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            geo = tif.geotiff_metadata or {}
            transform, crs, vertical = georeference(page, geo, path)
            nodata = _nodata(page)
            rows, cols = page.shape[:2]
            if bbox is None:
                r0, r1, c0, c1 = 0, rows, 0, cols
            else:
                r0, r1, c0, c1 = _window(transform, crs, (rows, cols), bbox, margin, path)
            values = _read_window(fh, page, r0, r1, c0, c1, path)
            cache = getattr(fh, "cache", None)
            nbytes = int(getattr(cache, "total_requested_bytes", 0) or 0) if cache is not None else 0
    except CubeError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise geotiff_error(path, exc) from exc
    x0, dx, _, y0, _, dy = transform
    window_transform = (x0 + c0 * dx, dx, 0.0, y0 + r0 * dy, 0.0, dy)
    raster = Raster(values, window_transform, crs, vertical, nodata)
    return (raster, nbytes) if count_bytes else raster


def georeference(page, geo: dict, path: str):
    tags = page.tags
    if "ModelTransformationTag" in tags:
        m = np.asarray(tags["ModelTransformationTag"].value, np.float64).reshape(4, 4)
        if m[0, 1] != 0.0 or m[1, 0] != 0.0:
            raise InvalidSourceError(f"{path}: rotated GeoTIFFs are not supported")
        x0, dx, y0, dy = m[0, 3], m[0, 0], m[1, 3], m[1, 1]
    elif "ModelPixelScaleTag" in tags and "ModelTiepointTag" in tags:
        sx, sy = tags["ModelPixelScaleTag"].value[:2]
        tie = tags["ModelTiepointTag"].value
        i, j, x, y = tie[0], tie[1], tie[3], tie[4]
        dx, dy = float(sx), -float(sy)
        x0, y0 = x - i * dx, y - j * dy
    else:
        raise InvalidSourceError(f"{path}: not a GeoTIFF (no ModelPixelScale/Tiepoint tags)")
    raster_type = geo.get("GTRasterTypeGeoKey")
    if raster_type is not None and int(raster_type) == 2:  # PixelIsPoint
        x0 -= 0.5 * dx
        y0 -= 0.5 * dy
    crs = None
    vertical = None
    for key in ("ProjectedCSTypeGeoKey", "GeographicTypeGeoKey"):
        code = geo.get(key)
        if code is not None and int(code) not in (0, 32767):
            crs = int(code)
            break
    if crs in COMPOUND_EPSG:
        crs, vertical = COMPOUND_EPSG[crs]
    if crs is None:
        raise InvalidSourceError(
            f"{path}: the GeoTIFF names no EPSG horizontal CRS (user-defined CRSs are not read)"
        )
    vcode = geo.get("VerticalCSTypeGeoKey") or geo.get("VerticalGeoKey")
    if vcode is not None and int(vcode) not in (0, 32767):
        vertical = VERTICAL_EPSG.get(int(vcode), f"EPSG:{int(vcode)}")
    return (float(x0), float(dx), 0.0, float(y0), 0.0, float(dy)), crs, vertical


def _nodata(page) -> float | None:
    tag = page.tags.get("GDAL_NODATA")
    if tag is None:
        return None
    try:
        return float(str(tag.value).strip().strip("\x00"))
    except ValueError:
        return None


def _window(transform, crs, shape, bbox, margin, path):
    west, south, east, north = bbox
    if not (west < east and south < north):
        raise ValueError(f"bbox must be (west, south, east, north) with west<east, south<north: {bbox}")
    if crs != 4326:
        xmin, ymin, xmax, ymax = transformer(4326, crs).transform_bounds(west, south, east, north)
    else:
        xmin, ymin, xmax, ymax = west, south, east, north
    x0, dx, _, y0, _, dy = transform
    cols = sorted(((xmin - x0) / dx, (xmax - x0) / dx))
    rows = sorted(((ymin - y0) / dy, (ymax - y0) / dy))
    c0 = max(int(math.floor(cols[0])) - margin, 0)
    c1 = min(int(math.ceil(cols[1])) + margin, shape[1])
    r0 = max(int(math.floor(rows[0])) - margin, 0)
    r1 = min(int(math.ceil(rows[1])) + margin, shape[0])
    if c0 >= c1 or r0 >= r1:
        raise NotFoundError(f"{path}: the DEM does not cover bbox {bbox}")
    return r0, r1, c0, c1


def _read_window(fh, page, r0, r1, c0, c1, path: str) -> np.ndarray:
    """Pixels [r0:r1, c0:c1] of the first band, decoding only the tiles/strips touched."""
    rows, cols = page.shape[:2]
    if page.is_tiled:
        th, tw = page.tilelength, page.tilewidth
    else:
        th, tw = page.rowsperstrip or rows, cols
        th = min(th, rows)
    tiles_across = -(-cols // tw)
    out = np.empty((r1 - r0, c1 - c0), dtype=page.dtype)
    offsets, counts = page.dataoffsets, page.databytecounts
    for tr in range(r0 // th, (r1 - 1) // th + 1):
        for tc in range(c0 // tw, (c1 - 1) // tw + 1):
            index = tr * tiles_across + tc
            if counts[index] == 0:
                raise InvalidSourceError(f"{path}: GeoTIFF tile {index} is empty (sparse COG)")
            fh.seek(int(offsets[index]))
            segment, _, _ = page.decode(fh.read(int(counts[index])), index)
            seg = np.asarray(segment)
            seg = seg.reshape(seg.shape[-3], seg.shape[-2], -1)[..., 0]
            # the segment's place in the raster
            ys, xs = tr * th, tc * tw
            a0, a1 = max(r0, ys), min(r1, ys + seg.shape[0], rows)
            b0, b1 = max(c0, xs), min(c1, xs + seg.shape[1], cols)
            out[a0 - r0:a1 - r0, b0 - c0:b1 - c0] = seg[a0 - ys:a1 - ys, b0 - xs:b1 - xs]
    return out


# ---------------------------------------------------------------------------------------
# synthetic DEMs


