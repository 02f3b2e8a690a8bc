"""Digital elevation models: GeoTIFF/COG reader, vertical datums, synthetic DEMs.

Every ``Dem`` this module returns holds heights above the **WGS84 ellipsoid** (what the
radar geometry needs), float32, NaN where there is no data. The vertical datum of a file is
read from its GeoKeys (``vertical_datum_of``): a compound CRS (EPSG:9707 = WGS 84 + EGM96
height, EPSG:9518 = WGS 84 + EGM2008 height), a VerticalCSTypeGeoKey (5773 = EGM96, 3855 =
EGM2008, 4979 = the ellipsoid) or a geographic 3-D CRS (EPSG:4979). Geoid heights are
converted with ``h = H + N`` (cube.geometry._geoid: N from the EGM96/EGM2008 grids found on
the machine; EGM96 stands in for a missing EGM2008 grid, with a warning, and the ``Dem``
names the grid applied in ``geoid``).

Pixel convention: ``transform = (x0, dx, 0, y0, 0, dy)`` (GDAL order) gives the outer
corner of pixel (0, 0); pixel centres sit at ``x0 + (col + 0.5) dx``, ``y0 + (row + 0.5) dy``
(``dy < 0`` for north-up rasters). GeoTIFFs tagged PixelIsPoint are shifted by half a pixel
on reading, as GDAL does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np
import tifffile

from cube.errors import CubeError, InvalidSourceError
from cube.geometry._geoid import GeoidGrid, geoid_for_datum
from cube.geometry._geotiff import georeference, geotiff_error, open_file, raster_bounds, read_geotiff
from cube.geometry._grid import transformer

VerticalDatum = Literal["ellipsoid", "egm96", "egm2008"]
VERTICAL_DATUMS = ("ellipsoid", "egm96", "egm2008")
#: The CRS that says each datum (what ``sarcube dem`` reports).
DATUM_CRS = {"egm96": "EPSG:9707 (WGS 84 + EGM96 height)",
             "egm2008": "EPSG:9518 (WGS 84 + EGM2008 height, = EPSG:4326 + 3855)",
             "ellipsoid": "EPSG:4979 (WGS 84 ellipsoidal heights)"}


@dataclass(frozen=True)
class Dem:
    """A DEM raster: heights above the WGS84 ellipsoid.

    Attributes
    ----------
    heights : ndarray (rows, cols) float32
        Heights, m above WGS84; NaN where there is no data.
    transform : tuple of 6 floats
        ``(x0, dx, 0, y0, 0, dy)``: outer corner of pixel (0, 0) and pixel size, in ``crs``
        units (degrees for EPSG:4326).
    crs : int
        EPSG code of the horizontal CRS.
    vertical_datum : str
        What the *source* heights were ("ellipsoid", "egm96", "egm2008"); ``heights`` are
        always ellipsoidal.
    source : str
        File or description.
    """

    heights: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: int = 4326
    vertical_datum: str = "ellipsoid"
    source: str = ""
    geoid: str | None = None  # geoid model used for the conversion, if any

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.heights.shape

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the outer pixel edges, in ``crs`` units."""
        return raster_bounds(self.transform, self.heights.shape)

    def fractional_index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fractional (row, col) of points (x, y) in ``crs`` units; integers at pixel centres."""
        x0, dx, _, y0, _, dy = self.transform
        col = (np.asarray(x, np.float64) - x0) / dx - 0.5
        row = (np.asarray(y, np.float64) - y0) / dy - 0.5
        return row, col

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear heights (m, WGS84) at points (x, y) in ``crs`` units; NaN outside."""
        row, col = self.fractional_index(x, y)
        row, col = np.broadcast_arrays(row, col)
        out = np.empty(row.shape)
        _bilinear_array(self.heights, np.ascontiguousarray(row.ravel()),
                        np.ascontiguousarray(col.ravel()), out.reshape(-1))
        return out

    def sample_lonlat(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Bilinear heights (m, WGS84) at longitudes/latitudes (degrees)."""
        if self.crs == 4326:
            return self.sample(lon, lat)
        x, y = transformer(4326, self.crs).transform(np.asarray(lon), np.asarray(lat))
        return self.sample(x, y)


@numba.njit(cache=True, inline="always")
def bilinear_height(heights, row, col):
    """Bilinear interpolation of ``heights`` at fractional (row, col); NaN outside or no data.

    Pixel centres are at integer indices. Points within half a pixel outside the raster
    take the edge value (clamped), so a DEM that covers an area covers its edge pixels.
    """
    rows, cols = heights.shape
    if not (row >= -0.5 and row <= rows - 0.5 and col >= -0.5 and col <= cols - 0.5):
        return math.nan
    r = min(max(row, 0.0), rows - 1.0)
    c = min(max(col, 0.0), cols - 1.0)
    r0 = min(int(r), rows - 2) if rows > 1 else 0
    c0 = min(int(c), cols - 2) if cols > 1 else 0
    fr = r - r0
    fc = c - c0
    r1 = r0 + 1 if rows > 1 else 0
    c1 = c0 + 1 if cols > 1 else 0
    h00 = heights[r0, c0]
    h01 = heights[r0, c1]
    h10 = heights[r1, c0]
    h11 = heights[r1, c1]
    return ((1.0 - fr) * ((1.0 - fc) * h00 + fc * h01) + fr * ((1.0 - fc) * h10 + fc * h11))


@numba.njit(cache=True)
def _bilinear_array(heights, row, col, out):
    for i in range(row.size):
        out[i] = bilinear_height(heights, row[i], col[i])


# ---------------------------------------------------------------------------------------
# GeoTIFF reading


def read_dem(
    path_or_url: str,
    bbox: tuple[float, float, float, float] | None = None,
    *,
    vertical_datum: Literal["auto", "ellipsoid", "egm96", "egm2008"] = "auto",
    geoid: GeoidGrid | None = None,
    storage_options: dict | None = None,
    margin_pixels: int = 2,
) -> Dem:
    """Read a DEM GeoTIFF / COG (local path or fsspec URL) as WGS84 ellipsoidal heights.

    Parameters
    ----------
    path_or_url : str
    bbox : (west, south, east, north), degrees, optional
        Read only this area (plus ``margin_pixels``); only the tiles/strips it touches are
        read, so a remote COG costs a few range requests.
    vertical_datum : "auto" or a datum
        What the file's heights are. "auto" takes it from the GeoTIFF (``vertical_datum_of``);
        a file that does not say, or names another vertical datum, raises
        ``InvalidSourceError`` asking for it.
    geoid : GeoidGrid, optional
        Geoid to convert geoid heights with; by default ``geoid_for_datum(datum)`` (EGM96
        stands in for a missing EGM2008 grid, with a ``GeoidStandInWarning``).

    Returns
    -------
    Dem with float32 heights above WGS84 (NaN = no data); ``geoid`` names the grid applied.
    """
    raster = read_geotiff(path_or_url, bbox, storage_options or {}, margin_pixels)
    datum = check_vertical_datum(raster.vertical if vertical_datum == "auto" else vertical_datum, path_or_url)
    heights = raster.values.astype(np.float32)
    if raster.nodata is not None:
        heights[raster.values == raster.nodata] = np.nan
    return to_ellipsoidal(heights, raster.transform, raster.crs, datum, str(path_or_url), geoid)


def to_ellipsoidal(heights: np.ndarray, transform, crs: int, datum: str, source: str = "",
                   geoid: GeoidGrid | None = None) -> Dem:
    """A ``Dem`` of float32 (rows, cols) ``heights`` above ``datum``, converted to the ellipsoid."""
    geoid_name = None
    if datum != "ellipsoid":
        grid = geoid if geoid is not None else geoid_for_datum(datum)
        lon, lat = _pixel_lonlat(transform, heights.shape, crs)
        heights = (heights + grid.undulation(lat, lon)).astype(np.float32)
        geoid_name = grid.name or datum
    return Dem(heights=np.asarray(heights, np.float32), transform=tuple(transform), crs=crs,
               vertical_datum=datum, source=source, geoid=geoid_name)


def check_vertical_datum(datum: str | None, path: str) -> str:
    """``datum`` if sarcube converts it; else ``InvalidSourceError`` naming ``path`` and what to do."""
    if datum is None:
        raise InvalidSourceError(
            f"{path}: the GeoTIFF does not say what its heights are relative to (no compound or "
            "vertical CRS); pass vertical_datum (sarcube dem --vertical-datum) egm96, egm2008 or "
            "ellipsoid"
        )
    if datum not in VERTICAL_DATUMS:
        raise InvalidSourceError(
            f"{path}: unknown vertical datum {datum}: sarcube converts EGM96 (EPSG:5773), "
            "EGM2008 (EPSG:3855) or ellipsoidal heights; convert the DEM to one of them, or pass "
            "vertical_datum (sarcube dem --vertical-datum) if you know its heights are one"
        )
    return datum


@dataclass(frozen=True)
class DemInfo:
    """What a DEM file says about itself (its header only).

    EPSG ``crs``, the vertical datum (None when it does not say; ``"EPSG:nnnn"`` for one sarcube
    does not convert), outer ``bounds`` (xmin, ymin, xmax, ymax) in ``crs`` units, ``shape`` (rows,
    cols).
    """

    crs: int
    vertical_datum: str | None
    bounds: tuple[float, float, float, float]
    shape: tuple[int, int]


def dem_info(path_or_url: str, storage_options: dict | None = None) -> DemInfo:
    """Read a DEM GeoTIFF's georeferencing and vertical datum, not its pixels."""
    try:
        with open_file(path_or_url, storage_options or {}) as fh, tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            transform, crs, vertical = georeference(page, tif.geotiff_metadata or {}, path_or_url)
            rows, cols = page.shape[:2]
    except CubeError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise geotiff_error(path_or_url, exc) from exc
    return DemInfo(crs=crs, vertical_datum=vertical, bounds=raster_bounds(transform, (rows, cols)),
                   shape=(rows, cols))


def vertical_datum_of(path_or_url: str, storage_options: dict | None = None) -> str | None:
    """The vertical datum a DEM GeoTIFF names ("egm96", "egm2008", "ellipsoid", "EPSG:nnnn"), or None."""
    return dem_info(path_or_url, storage_options).vertical_datum


def _pixel_lonlat(transform, shape, crs):
    x0, dx, _, y0, _, dy = transform
    rows, cols = shape
    x = x0 + (np.arange(cols) + 0.5) * dx
    y = y0 + (np.arange(rows) + 0.5) * dy
    if crs == 4326:
        return np.broadcast_arrays(x[None, :], y[:, None])
    xx, yy = np.meshgrid(x, y)
    return transformer(crs, 4326).transform(xx, yy)


def make_synthetic_dem(
    bbox: tuple[float, float, float, float],
    posting_deg: float = 1.0 / 3600.0,
    kind: Literal["flat", "ramp", "hills", "rough"] = "hills",
    base_height: float = 100.0,
    amplitude: float = 500.0,
    wavelength_m: float = 8000.0,
    seed: int = 0,
) -> Dem:
    """A DEM on a geographic grid (EPSG:4326) with heights above WGS84, for tests and demos.

    Parameters
    ----------
    bbox : (west, south, east, north), degrees
    posting_deg : pixel size, degrees (default 1", ~30 m)
    kind : "flat" (``base_height``), "ramp" (rising ``amplitude`` m from west to east),
        "hills" (smooth sinusoidal relief of ``amplitude`` m and ``wavelength_m``),
        "rough" (hills plus ±10 % white noise, seeded).
    """
    west, south, east, north = bbox
    cols = max(int(math.ceil((east - west) / posting_deg)), 2)
    rows = max(int(math.ceil((north - south) / posting_deg)), 2)
    lon = west + (np.arange(cols) + 0.5) * posting_deg
    lat = north - (np.arange(rows) + 0.5) * posting_deg
    lon2, lat2 = np.meshgrid(lon, lat)
    if kind == "flat":
        h = np.full((rows, cols), base_height)
    elif kind == "ramp":
        h = base_height + amplitude * (lon2 - west) / max(east - west, 1e-12)
    elif kind in ("hills", "rough"):
        k = 2 * math.pi / wavelength_m
        x = (lon2 - west) * 111_320.0 * math.cos(math.radians(0.5 * (south + north)))
        y = (lat2 - south) * 110_540.0
        h = base_height + 0.5 * amplitude * (1 + np.sin(k * x) * np.cos(0.7 * k * y))
        if kind == "rough":
            rng = np.random.default_rng(seed)
            h = h + 0.1 * amplitude * rng.standard_normal(h.shape)
    else:
        raise ValueError(f"kind must be flat, ramp, hills or rough, not {kind!r}")
    return Dem(
        heights=h.astype(np.float32),
        transform=(west, posting_deg, 0.0, north, 0.0, -posting_deg),
        crs=4326, vertical_datum="ellipsoid", source=f"synthetic:{kind}",
    )


__all__ = ["DATUM_CRS", "VERTICAL_DATUMS", "Dem", "DemInfo", "bilinear_height", "check_vertical_datum",
           "dem_info",
           "make_synthetic_dem", "read_dem", "to_ellipsoidal", "vertical_datum_of"]
