"""Digital elevation models: GeoTIFF/COG reader, geoid → ellipsoid heights, synthetic DEMs.

Every ``Dem`` this module returns holds heights above the **WGS84 ellipsoid** (what the
radar geometry needs), float32, NaN where there is no data. A DEM whose GeoTIFF says its
heights are EGM96 (EPSG:5773, e.g. EPSG:9707 = WGS84 + EGM96) or EGM2008 (EPSG:3855) is
converted with ``h = H + N``, N the geoid undulation of that model.

Geoid models (no download here)
-------------------------------
``load_geoid`` reads a geoid grid from, in this order: an explicit ``path`` (a GeoTIFF
grid such as PROJ's ``us_nga_egm96_15.tif`` / ``us_nga_egm08_25.tif``, or an ``.npz``
as shipped by the ``egm96`` PyPI package), the ``egm96`` package if it is installed
(versions ≥ 0.2 ship the 5' EGM96 grid, but need Python ≥ 3.12), then PROJ's data
directories. Without any, it raises ``NotFoundError`` saying what to install.

Pixel convention: ``transform = (x0, dx, 0, y0, 0, dy)`` (GDAL order) gives the outer
corner of pixel (0, 0); pixel centres sit at ``x0 + (col + 0.5) dx``, ``y0 + (row + 0.5) dy``
(``dy < 0`` for north-up rasters). GeoTIFFs tagged PixelIsPoint are shifted by half a pixel
on reading, as GDAL does.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import fsspec
import numba
import numpy as np
import tifffile

from cube.errors import CubeError, InvalidSourceError, NotFoundError

VERTICAL_EPSG = {5773: "egm96", 3855: "egm2008", 4979: "ellipsoid"}
COMPOUND_EPSG = {9707: (4326, "egm96"), 9518: (4326, "egm2008")}
_NODATA = -32768.0


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
        x0, dx, _, y0, _, dy = self.transform
        rows, cols = self.heights.shape
        xs = (x0, x0 + cols * dx)
        ys = (y0, y0 + rows * dy)
        return min(xs), min(ys), max(xs), max(ys)

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
        x, y = _transformer(4326, self.crs).transform(np.asarray(lon), np.asarray(lat))
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
# geoid


@dataclass(frozen=True)
class GeoidGrid:
    """Geoid undulation N (m, geoid above the WGS84 ellipsoid) on a regular lat/lon grid.

    ``values[i, j]`` is at latitude ``lat0 + i * dlat`` and longitude ``lon0 + j * dlon``
    (degrees). Longitudes wrap modulo 360.
    """

    values: np.ndarray
    lat0: float
    lon0: float
    dlat: float
    dlon: float
    name: str = ""

    def undulation(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Bilinear undulation (m) at latitudes/longitudes (degrees)."""
        lat, lon = np.broadcast_arrays(np.asarray(lat, np.float64), np.asarray(lon, np.float64))
        out = np.empty(lat.shape)
        _undulation_array(self.values, self.lat0, self.lon0, self.dlat, self.dlon,
                          np.ascontiguousarray(lat.ravel()), np.ascontiguousarray(lon.ravel()),
                          out.reshape(-1))
        return out


@numba.njit(cache=True)
def _undulation_array(values, lat0, lon0, dlat, dlon, lat, lon, out):
    rows, cols = values.shape
    period = 360.0 / abs(dlon)
    for k in range(lat.size):
        fi = (lat[k] - lat0) / dlat
        fi = min(max(fi, 0.0), rows - 1.0)
        fj = (lon[k] - lon0) / dlon
        if fj < 0.0:
            fj += period
        elif fj > cols - 1.0:
            fj -= period
        fj = min(max(fj, 0.0), cols - 1.0)
        i0 = min(int(fi), rows - 2)
        j0 = min(int(fj), cols - 2)
        di = fi - i0
        dj = fj - j0
        out[k] = ((1.0 - di) * ((1.0 - dj) * values[i0, j0] + dj * values[i0, j0 + 1])
                  + di * ((1.0 - dj) * values[i0 + 1, j0] + dj * values[i0 + 1, j0 + 1]))


_GEOID_FILES = {
    "egm96": ("us_nga_egm96_15.tif", "egm96_15.tif"),
    "egm2008": ("us_nga_egm08_25.tif", "egm08_25.tif"),
}


def load_geoid(model: Literal["egm96", "egm2008"] = "egm96", path: str | None = None) -> GeoidGrid:
    """Load a geoid undulation grid (see the module docstring for where it is looked for).

    Parameters
    ----------
    model : "egm96" or "egm2008"
    path : str, optional
        A GeoTIFF geoid grid (geographic, undulations in m) or an ``.npz`` with
        ``latitudes``, ``longitudes`` and ``undulation`` (m) or ``undulation_d2`` (int16
        centimetre second differences, the ``egm96`` package's format).
    """
    if model not in _GEOID_FILES:
        raise ValueError(f"geoid model must be 'egm96' or 'egm2008', not {model!r}")
    if path is not None:
        return _load_geoid_file(str(path), model)
    for candidate in _geoid_candidates(model):
        return _load_geoid_file(candidate, model)
    raise NotFoundError(
        f"no {model.upper()} geoid grid available offline: pass load_geoid(path=...) a "
        f"GeoTIFF grid ({_GEOID_FILES[model][0]} from PROJ-data) or the egm96 package's "
        "egm96-5.npz, or install a package that ships one (egm96>=0.2 needs Python 3.12)"
    )


def _geoid_candidates(model: str) -> list[str]:
    found = []
    if model == "egm96" and importlib.util.find_spec("egm96") is not None:
        try:
            ref = importlib.resources.files("egm96").joinpath("data", "egm96-5.npz")
            if ref.is_file():
                found.append(str(ref))
        except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - odd installs
            pass
    try:
        import pyproj.datadir

        dirs = [pyproj.datadir.get_data_dir(), pyproj.datadir.get_user_data_dir()]
    except Exception:  # pragma: no cover - pyproj without data dir
        dirs = []
    for d in dirs:
        for part in str(d).split(":"):
            for name in _GEOID_FILES[model]:
                p = Path(part) / name
                if p.is_file():
                    found.append(str(p))
    return found


@functools.lru_cache(maxsize=4)
def _load_geoid_file(path: str, model: str) -> GeoidGrid:
    if path.lower().endswith(".npz"):
        try:
            data = np.load(path)
        except (OSError, ValueError) as exc:
            raise InvalidSourceError(f"{path}: not a readable geoid .npz ({exc})") from exc
        lats = np.asarray(data["latitudes"], np.float64)
        lons = np.asarray(data["longitudes"], np.float64)
        if "undulation" in data.files:
            values = np.asarray(data["undulation"], np.float32)
        elif "undulation_d2" in data.files:
            # centimetres, differenced along longitude then latitude: undo both
            cm = np.cumsum(np.asarray(data["undulation_d2"], np.int32), axis=0)
            cm = np.cumsum(cm, axis=1)
            values = (cm / 100.0).astype(np.float32)
        else:
            raise InvalidSourceError(f"{path}: geoid .npz needs 'undulation' or 'undulation_d2'")
        return GeoidGrid(values=np.ascontiguousarray(values), lat0=float(lats[0]),
                         lon0=float(lons[0]), dlat=float(lats[1] - lats[0]),
                         dlon=float(lons[1] - lons[0]), name=f"{model}:{Path(path).name}")
    raster = _read_geotiff(path, None, {})
    if raster.crs not in (4326, 4979):
        raise InvalidSourceError(f"{path}: a geoid grid must be geographic (EPSG:4326)")
    x0, dx, _, y0, _, dy = raster.transform
    return GeoidGrid(
        values=np.ascontiguousarray(raster.values.astype(np.float32)),
        lat0=y0 + 0.5 * dy, lon0=x0 + 0.5 * dx, dlat=dy, dlon=dx,
        name=f"{model}:{Path(path).name}",
    )


# ---------------------------------------------------------------------------------------
# GeoTIFF reading


@dataclass
class _Raster:
    values: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: int
    vertical: str | None
    nodata: float | None


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
        What the file's heights are. "auto" takes it from the GeoTIFF
        (VerticalCSTypeGeoKey / compound CRS); a file that does not say raises
        ``InvalidSourceError`` asking for it.
    geoid : GeoidGrid, optional
        Geoid to convert EGM heights with; by default ``load_geoid(model)``.

    Returns
    -------
    Dem with float32 heights above WGS84 (NaN = no data).
    """
    raster = _read_geotiff(path_or_url, bbox, storage_options or {}, margin_pixels)
    datum = raster.vertical if vertical_datum == "auto" else vertical_datum
    if datum is None:
        raise InvalidSourceError(
            f"{path_or_url}: the GeoTIFF does not say what its heights are relative to; "
            "pass vertical_datum='egm96', 'egm2008' or 'ellipsoid'"
        )
    if datum not in ("ellipsoid", "egm96", "egm2008"):
        raise InvalidSourceError(f"{path_or_url}: unsupported vertical datum {datum!r}")
    heights = raster.values.astype(np.float32)
    if raster.nodata is not None:
        heights[raster.values == raster.nodata] = np.nan
    geoid_name = None
    if datum != "ellipsoid":
        grid = geoid if geoid is not None else load_geoid(datum)  # type: ignore[arg-type]
        lon, lat = _pixel_lonlat(raster.transform, heights.shape, raster.crs)
        heights = (heights + grid.undulation(lat, lon)).astype(np.float32)
        geoid_name = grid.name or datum
    return Dem(heights=heights, transform=raster.transform, crs=raster.crs,
               vertical_datum=datum, source=str(path_or_url), geoid=geoid_name)


def _pixel_lonlat(transform, shape, crs):
    x0, dx, _, y0, _, dy = transform
    rows, cols = shape
    x = x0 + (np.arange(cols) + 0.5) * dx
    y = y0 + (np.arange(rows) + 0.5) * dy
    if crs == 4326:
        return np.broadcast_arrays(x[None, :], y[:, None])
    xx, yy = np.meshgrid(x, y)
    return _transformer(crs, 4326).transform(xx, yy)


@functools.lru_cache(maxsize=32)
def _transformer(src: int, dst: int):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def _read_geotiff(path: str, bbox, storage_options: dict, margin: int = 2) -> _Raster:
    try:
        with fsspec.open(path, "rb", **storage_options) as fh, tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            geo = tif.geotiff_metadata or {}
            transform, crs, vertical = _georeference(page, geo, path)
            nodata = _nodata(page)
            rows, cols = page.shape[:2]
            if bbox is None:
                r0, r1, c0, c1 = 0, rows, 0, cols
            else:
                r0, r1, c0, c1 = _window(transform, crs, (rows, cols), bbox, margin, path)
            values = _read_window(fh, page, r0, r1, c0, c1, path)
    except CubeError:
        raise
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path}: DEM file not found") from exc
    except (tifffile.TiffFileError, ValueError, OSError) as exc:
        raise InvalidSourceError(f"{path}: cannot read GeoTIFF ({exc})") from exc
    x0, dx, _, y0, _, dy = transform
    window_transform = (x0 + c0 * dx, dx, 0.0, y0 + r0 * dy, 0.0, dy)
    return _Raster(values, window_transform, crs, vertical, nodata)


def _georeference(page, geo: dict, path: str):
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
        xmin, ymin, xmax, ymax = _transformer(4326, crs).transform_bounds(west, south, east, north)
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


__all__ = ["Dem", "GeoidGrid", "bilinear_height", "load_geoid", "make_synthetic_dem", "read_dem"]
