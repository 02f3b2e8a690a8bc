"""The ISCE2 engine: run topsStack for one burst ID, then put its coregistered bursts on our grid.

ISCE2 (conda-forge only) runs in the worker image (``containers/worker``); everything here
except :func:`run_topsstack` also works without it.

Three parts:

- **ISCE2 image I/O** (:func:`open_isce_image`, :func:`read_isce_image`,
  :func:`read_isce_window`, :func:`write_isce_image`, :func:`write_isce_dem`): a raw
  binary raster plus the ``.xml`` header ISCE2's ``isceobj.Image.renderHdr`` writes
  (``<imageFile><property name="width"><value>…``) and the GDAL ``.vrt`` of ``renderVRT``.
  Bursts that topsStack leaves *virtual* (the reference date: a ``.vrt`` pointing into the
  SAFE's measurement TIFF, no binary) are read through GDAL (rasterio).
- **Conversion** (:func:`isce2_cslc`, :func:`convert_topsstack`): after topsStack every date
  of a burst lives in the *reference* burst's radar geometry (its lines, samples, timing and
  carrier), so its CSLC is ``geocode_slc(reference_burst, grid, window, dem, read)`` with
  ``read`` cutting the window out of the ISCE2 file. See docs/isce2.md for the carrier and the
  flattening conventions this relies on.
- **Driver** (:func:`topsstack_command`, :func:`run_topsstack`): ``stackSentinel.py -W slc``
  for one swath and a small box around one burst, then its run files in order.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cube.errors import CubeError, InputError, InvalidSourceError, NotFoundError
from cube.format import BurstMetadata
from cube.geometry import BurstGrid, Dem, burst_footprint
from cube.geometry._grid import Window
from cube.products._cslc import CslcOptions, CslcWindow, geocode_slc

log = logging.getLogger(__name__)

NO_ISCE2 = ("the isce2 engine needs ISCE2 (conda-forge isce2); use the container image "
            "containers/worker or engine='native'")


class TopsStackError(CubeError, RuntimeError):
    """A topsStack step (stackSentinel.py or one of its run files) failed or left no output."""


# ---------------------------------------------------------------------------------------------
# ISCE2 image I/O
# ---------------------------------------------------------------------------------------------

ISCE_DATA_TYPES: dict[str, str] = {
    "BYTE": "i1", "SHORT": "i2", "INT": "i4", "LONG": "i8",
    "FLOAT": "f4", "DOUBLE": "f8", "CFLOAT": "c8", "CDOUBLE": "c16",
}
"""ISCE2 ``data_type`` → numpy type (``isceobj.Image.TO_NUMPY``; LONG is 8 bytes on 64-bit Linux)."""

_ISCE_OF_NUMPY = {np.dtype(v).str[1:]: k for k, v in ISCE_DATA_TYPES.items()}
_GDAL_TYPES = {"BYTE": "Byte", "SHORT": "Int16", "INT": "Int32", "LONG": "Int64", "FLOAT": "Float32",
               "DOUBLE": "Float64", "CFLOAT": "CFloat32", "CDOUBLE": "CFloat64"}
_SCHEMES = ("BIP", "BIL", "BSQ")


def _key(name: str) -> str:
    """ISCE2's key normalisation (``DictUtils.renormalizeKey``): lower case, no white space."""
    return re.sub(r"\s+", "", name).lower()


def _properties(elem: ET.Element) -> dict[str, str]:
    """``{normalised name: text}`` of the ``<property>`` children of one element.

    ISCE2 writes ``<property name="width"><value>1500</value><doc>…</doc></property>``;
    hand-written input files also use ``<property name="WIDTH">1500</property>``.
    """
    out = {}
    for prop in elem.findall("property"):
        value = prop.find("value")
        text = value.text if value is not None else prop.text
        out[_key(prop.get("name", ""))] = (text or "").strip()
    return out


def _components(elem: ET.Element) -> dict[str, ET.Element]:
    return {_key(c.get("name", "")): c for c in elem.findall("component")}


@dataclass(frozen=True)
class IsceImage:
    """An ISCE2 raster as its ``.xml`` header describes it.

    ``path`` is the binary file (the header is ``path + ".xml"``, GDAL's ``path + ".vrt"``).
    ``data_type`` is ISCE2's name (CFLOAT, FLOAT, …), ``scheme`` BIP/BIL/BSQ, ``byte_order``
    ``"l"`` (little-endian) or ``"b"``.
    """

    path: Path
    width: int
    length: int
    bands: int
    data_type: str
    scheme: str
    byte_order: str
    image_type: str = ""

    @property
    def dtype(self) -> np.dtype:
        """numpy dtype of one sample, with the file's byte order."""
        return np.dtype(ISCE_DATA_TYPES[self.data_type]).newbyteorder("<" if self.byte_order == "l" else ">")

    @property
    def nbytes(self) -> int:
        """Size the binary file must have: width × length × bands × bytes per sample."""
        return self.width * self.length * self.bands * self.dtype.itemsize

    @property
    def xml_path(self) -> Path:
        """The ``.xml`` header."""
        return Path(f"{self.path}.xml")

    @property
    def vrt_path(self) -> Path:
        """The GDAL ``.vrt`` beside the image."""
        return Path(f"{self.path}.vrt")


def _image_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".xml", ".vrt") else p


def open_isce_image(path: str | os.PathLike) -> IsceImage:
    """Read the ``.xml`` header of an ISCE2 image (``path`` is the image or its ``.xml``).

    Property names are matched as ISCE2 matches them (case and white space ignored), so the
    headers of every ISCE2 version (``WIDTH`` … in 2.0, ``width`` … since) are read. The binary
    is the file beside the header, whatever ``file_name`` says (headers keep absolute paths of
    the machine that wrote them).

    Raises
    ------
    InvalidSourceError
        The header is missing or unparsable, lacks width/length/data_type, or names a data
        type, scheme or byte order this reader does not support.
    """
    image = _image_path(path)
    xml = Path(f"{image}.xml")
    if not xml.is_file():
        raise InvalidSourceError(
            f"{xml}: no ISCE2 header for {image}; an ISCE2 image needs its .xml (width, length, "
            "data type) beside it"
        )
    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as exc:
        raise InvalidSourceError(f"{xml}: not an ISCE2 image header ({exc})") from exc
    props = _properties(root)
    comps = _components(root)

    def integer(name: str, coordinate: str | None = None, default: int | None = None) -> int:
        text = props.get(name)
        if not text and coordinate and coordinate in comps:
            text = _properties(comps[coordinate]).get("size")
        if not text:
            if default is not None:
                return default
            raise InvalidSourceError(f"{xml}: the ISCE2 header has no {name!r}")
        try:
            return int(float(text))
        except ValueError:
            raise InvalidSourceError(f"{xml}: {name} = {text!r} is not a number") from None

    width = integer("width", "coordinate1")
    length = integer("length", "coordinate2")
    bands = integer("number_bands", default=1)
    data_type = props.get("data_type", "").upper()
    if not data_type:
        raise InvalidSourceError(f"{xml}: the ISCE2 header has no 'data_type'")
    if data_type not in ISCE_DATA_TYPES:
        raise InvalidSourceError(
            f"{xml}: data type {data_type!r} is not supported (supported: {', '.join(ISCE_DATA_TYPES)})"
        )
    scheme = (props.get("scheme") or "BIP").upper()
    if scheme not in _SCHEMES:
        raise InvalidSourceError(f"{xml}: interleaving scheme {scheme!r} is not BIP, BIL or BSQ")
    order = (props.get("byte_order") or "l").lower()[:1]
    if order not in ("l", "b"):
        raise InvalidSourceError(f"{xml}: byte order {props.get('byte_order')!r} is not l or b")
    if min(width, length, bands) <= 0:
        raise InvalidSourceError(f"{xml}: width {width}, length {length}, bands {bands} must be > 0")
    return IsceImage(image, width, length, bands, data_type, scheme, order, props.get("image_type", ""))


def _memmap(info: IsceImage) -> np.ndarray:
    """The whole binary as a read-only memmap, (length, width) or (bands, length, width)."""
    size = info.path.stat().st_size
    if size != info.nbytes:
        raise InvalidSourceError(
            f"{info.path}: {size} bytes, but {info.xml_path} says {info.length} lines × {info.width} "
            f"samples × {info.bands} band(s) × {info.dtype.itemsize} bytes ({info.data_type}) = "
            f"{info.nbytes}; the file is truncated or the header is not its own"
        )
    shape = {"BIP": (info.length, info.width, info.bands), "BIL": (info.length, info.bands, info.width),
             "BSQ": (info.bands, info.length, info.width)}[info.scheme]
    raw = np.memmap(info.path, dtype=info.dtype, mode="r", shape=shape)
    arr = {"BIP": raw.transpose(2, 0, 1), "BIL": raw.transpose(1, 0, 2), "BSQ": raw}[info.scheme]
    return arr[0] if info.bands == 1 else arr


def _read_gdal(vrt: Path, window: tuple[int, int, int, int] | None, band: int | None) -> np.ndarray:
    """Pixels of a GDAL-readable file (an ISCE2 burst .vrt into a SAFE TIFF), through rasterio."""
    try:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.windows import Window as RioWindow
    except ImportError:  # pragma: no cover - rasterio comes with titiler
        raise InputError(f"{vrt}: reading a virtual ISCE2 image needs rasterio (GDAL)") from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            with rasterio.open(vrt) as ds:
                win = None if window is None else RioWindow(window[2], window[0], window[3] - window[2],
                                                            window[1] - window[0])
                indexes = None if band is None else band + 1
                return ds.read(indexes, window=win)
        except rasterio.errors.RasterioIOError as exc:
            raise InvalidSourceError(f"{vrt}: GDAL cannot read this ISCE2 image ({exc})") from exc


def read_isce_image(path: str | os.PathLike) -> np.ndarray:
    """All pixels of an ISCE2 image: a read-only ``np.memmap`` of the binary.

    Returns shape (length, width) for one band, (bands, length, width) otherwise, in the
    file's dtype (byte order included), whatever the interleaving. An image with only a
    ``.vrt`` beside its header (topsStack's virtual reference bursts) is read through GDAL
    into an ndarray instead.

    Raises
    ------
    InvalidSourceError
        See :func:`open_isce_image`; also when the binary's size is not width × length ×
        bands × bytes per sample, or neither the binary nor a ``.vrt`` exists.
    """
    info = open_isce_image(path)
    if info.path.is_file():
        return _memmap(info)
    if info.vrt_path.is_file():
        arr = _read_gdal(info.vrt_path, None, None)
        return arr[0] if info.bands == 1 else arr
    raise InvalidSourceError(f"{info.path}: the ISCE2 header exists but neither the image nor its .vrt does")


def read_isce_window(path: str | os.PathLike, l0: int, l1: int, s0: int, s1: int,
                     band: int = 0) -> np.ndarray:
    """Lines [l0, l1) × samples [s0, s1) of one band, in native byte order (a copy).

    Only that window is read: from the memmapped binary, or through GDAL for a virtual image.
    """
    info = open_isce_image(path)
    if not (0 <= l0 < l1 <= info.length and 0 <= s0 < s1 <= info.width and 0 <= band < info.bands):
        raise InputError(
            f"{info.path}: window lines {l0}:{l1}, samples {s0}:{s1}, band {band} is outside the "
            f"image ({info.length} × {info.width}, {info.bands} band(s))"
        )
    if info.path.is_file():
        arr = _memmap(info)
        arr = arr if info.bands == 1 else arr[band]
        return np.ascontiguousarray(arr[l0:l1, s0:s1], dtype=info.dtype.newbyteorder("="))
    if info.vrt_path.is_file():
        return _read_gdal(info.vrt_path, (l0, l1, s0, s1), band).astype(info.dtype.newbyteorder("="))
    raise InvalidSourceError(f"{info.path}: the ISCE2 header exists but neither the image nor its .vrt does")


_DOCS = {
    "access_mode": "Image access mode.", "byte_order": "Endianness of the image.",
    "data_type": "Image data type.", "extra_file_name": "For example name of vrt metadata.",
    "family": "Instance family name", "file_name": "Name of the image file.",
    "image_type": "Image type used for displaying.", "length": "Image length",
    "name": "Instance name", "number_bands": "Number of image bands.",
    "scheme": "Interleaving scheme of the image.", "width": "Image width",
    "xmax": "Maximum range value", "xmin": "Minimum range value",
    "reference": "Geodetic datum of the heights.",
}
_COORD_DOCS = {"delta": "Coordinate quantization.", "endingvalue": "Ending value of the coordinate.",
               "family": "Instance family name", "name": "Instance name", "size": "Coordinate size.",
               "startingvalue": "Starting value of the coordinate."}


def _fmt(value: object) -> str:
    return repr(float(value)) if isinstance(value, float | np.floating) else str(value)


def _add_property(parent: ET.Element, name: str, value: object, doc: str | None) -> None:
    prop = ET.SubElement(parent, "property", name=name)
    ET.SubElement(prop, "value").text = _fmt(value)
    if doc:
        ET.SubElement(prop, "doc").text = doc


def _indent(elem: ET.Element, level: int = 0) -> None:
    pad = "\n" + "    " * level
    if len(elem):
        elem.text = pad + "    "
        for child in elem:
            _indent(child, level + 1)
        child.tail = pad
    if level:
        elem.tail = pad


def _isce_header(info: IsceImage, coordinates: tuple[tuple[float, float], tuple[float, float]],
                 extra: Mapping[str, object]) -> str:
    """The .xml text, laid out as ISCE2's XmlDumper writes it (keys sorted, 4-space indents)."""
    family = {"slc": "slcimage", "dem": "demimage"}.get(info.image_type, "image")
    props: dict[str, object] = {
        "ISCE_VERSION": "written by sarcube in ISCE2's image format",
        "access_mode": "read", "byte_order": info.byte_order, "data_type": info.data_type,
        "extra_file_name": info.vrt_path.name, "family": family, "file_name": info.path.name,
        "length": info.length, "name": f"{family}_name", "number_bands": info.bands,
        "scheme": info.scheme, "width": info.width, "xmin": 0, "xmax": info.width,
    }
    if info.image_type:
        props["image_type"] = info.image_type
    props.update(extra)
    root = ET.Element("imageFile")
    entries: dict[str, object] = dict(props)
    entries["coordinate1"] = (coordinates[0], info.width, "First coordinate of a 2D image (width).")
    entries["coordinate2"] = (coordinates[1], info.length, "Second coordinate of a 2D image (length).")
    for key in sorted(entries):
        if key.startswith("coordinate"):
            (start, delta), size, doc = entries[key]  # type: ignore[misc]
            comp = ET.SubElement(root, "component", name=key)
            ET.SubElement(comp, "factorymodule").text = "isceobj.Image"
            ET.SubElement(comp, "factoryname").text = "createCoordinate"
            ET.SubElement(comp, "doc").text = doc
            values = {"delta": delta, "endingvalue": start + size * delta, "family": "imagecoordinate",
                      "name": "imagecoordinate_name", "size": size, "startingvalue": start}
            for name in sorted(values):
                _add_property(comp, name, values[name], _COORD_DOCS[name])
        else:
            _add_property(root, key, entries[key], _DOCS.get(key))
    _indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _vrt(info: IsceImage, geotransform: tuple[float, ...] | None) -> str:
    """The GDAL VRT of a raw ISCE2 image (``VRTRawRasterBand`` per band, as ``renderVRT``)."""
    root = ET.Element("VRTDataset", rasterXSize=str(info.width), rasterYSize=str(info.length))
    if geotransform is not None:
        ET.SubElement(root, "SRS").text = "EPSG:4326"
        ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in geotransform)
    n = info.dtype.itemsize
    for band in range(info.bands):
        b = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[info.data_type], band=str(band + 1),
                          subClass="VRTRawRasterBand")
        ET.SubElement(b, "SourceFilename", relativeToVRT="1").text = info.path.name
        ET.SubElement(b, "ByteOrder").text = "LSB" if info.byte_order == "l" else "MSB"
        offsets = {"BIP": (band * n, info.bands * n, info.bands * info.width * n),
                   "BIL": (band * info.width * n, n, info.bands * info.width * n),
                   "BSQ": (band * info.width * info.length * n, n, info.width * n)}[info.scheme]
        for tag, value in zip(("ImageOffset", "PixelOffset", "LineOffset"), offsets, strict=True):
            ET.SubElement(b, tag).text = str(value)
    _indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def write_isce_image(
    path: str | os.PathLike,
    array: np.ndarray,
    *,
    scheme: Literal["BIP", "BIL", "BSQ"] = "BIP",
    byte_order: Literal["l", "b"] = "l",
    image_type: str | None = None,
    coordinates: tuple[tuple[float, float], tuple[float, float]] | None = None,
    extra: Mapping[str, object] | None = None,
) -> IsceImage:
    """Write ``array`` as an ISCE2 image: the raw binary, its ``.xml`` and its ``.vrt``.

    Parameters
    ----------
    path : the binary file (e.g. ``coreg_secondarys/20240118/IW2/burst_01.slc``).
    array : (length, width) or (bands, length, width); int8/16/32/64, float32/64,
        complex64/128 (ISCE2's BYTE … CDOUBLE).
    scheme, byte_order : interleaving and endianness of the binary.
    image_type : ISCE2's ``image_type`` (default "slc" for complex data, none otherwise).
    coordinates : ((first x, Δx), (first y, Δy)) of the pixel *centres* (ISCE2's
        ``coordinate1``/``coordinate2`` ``startingvalue``/``delta``); default (0, 1) each, a
        radar image. If given, the .vrt carries EPSG:4326 and the corner geotransform.
    extra : more ``<property>`` entries for the header (e.g. ``{"reference": "WGS84"}``).

    The header is laid out as ISCE2 2.x writes it (names lower case and sorted, each value
    in ``<value>`` with a ``<doc>``); ``file_name`` is the bare file name. Unlike ISCE2's
    ``renderVRT``, which writes the first pixel *centre* as the GDAL origin, the .vrt's
    geotransform starts at the pixel corner, as GDAL defines it.

    Raises
    ------
    InputError
        For an array of another dtype or dimension.
    """
    arr = np.asarray(array)
    if arr.ndim not in (2, 3) or 0 in arr.shape:
        raise InputError(f"{path}: an ISCE2 image is (length, width) or (bands, length, width), "
                         f"got {arr.shape}")
    data_type = _ISCE_OF_NUMPY.get(arr.dtype.str[1:])
    if data_type is None:
        raise InputError(
            f"{path}: dtype {arr.dtype} has no ISCE2 data type (use one of "
            f"{', '.join(str(np.dtype(v)) for v in ISCE_DATA_TYPES.values())})"
        )
    if scheme not in _SCHEMES or byte_order not in ("l", "b"):
        raise InputError(f"{path}: scheme must be BIP/BIL/BSQ and byte_order l or b")
    bands_first = arr if arr.ndim == 3 else arr[None]
    bands, length, width = bands_first.shape
    kind = image_type if image_type is not None else ("slc" if arr.dtype.kind == "c" and bands == 1 else "")
    info = IsceImage(_image_path(path), width, length, bands, data_type, scheme, byte_order, kind)
    info.path.parent.mkdir(parents=True, exist_ok=True)
    order = {"BIP": (1, 2, 0), "BIL": (1, 0, 2), "BSQ": (0, 1, 2)}[scheme]
    np.ascontiguousarray(bands_first.transpose(order), dtype=info.dtype).tofile(info.path)
    coords = coordinates or ((0.0, 1.0), (0.0, 1.0))
    info.xml_path.write_text(_isce_header(info, coords, extra or {}))
    geotransform = None
    if coordinates is not None:
        (x0, dx), (y0, dy) = coordinates
        geotransform = (x0 - dx / 2, dx, 0.0, y0 - dy / 2, 0.0, dy)
    info.vrt_path.write_text(_vrt(info, geotransform))
    return info


def write_isce_dem(path: str | os.PathLike, dem: Dem) -> IsceImage:
    """Write a DEM for ISCE2's topo: FLOAT heights above WGS84 on a lon/lat grid, ``reference`` WGS84.

    ``dem`` holds ellipsoidal heights (as every :class:`cube.geometry.Dem`). A DEM in another
    CRS is resampled (bilinear) onto a lon/lat grid of about the same pixel size. NaN (no
    data) is written as 0 m: ISCE2's topo has no no-data value.
    """
    if dem.crs == 4326:
        heights = np.asarray(dem.heights, dtype=np.float32)
        x0, dx, _, y0, _, dy = dem.transform
    else:
        xmin, ymin, xmax, ymax = dem.bounds
        from cube.geometry._grid import _transformer

        xs = np.array([xmin, xmax, xmin, xmax, 0.5 * (xmin + xmax)])
        ys = np.array([ymin, ymin, ymax, ymax, 0.5 * (ymin + ymax)])
        lon, lat = _transformer(dem.crs, 4326).transform(xs, ys)
        lat_c = np.radians(lat[-1])
        step = abs(dem.transform[1]) / 111_320.0
        dx, dy = step / max(np.cos(lat_c), 0.1), -step
        x0, y0 = float(lon.min()), float(lat.max())
        cols = max(int(np.ceil((lon.max() - x0) / dx)), 1)
        rows = max(int(np.ceil((y0 - lat.min()) / -dy)), 1)
        glon, glat = np.meshgrid(x0 + (np.arange(cols) + 0.5) * dx, y0 + (np.arange(rows) + 0.5) * dy)
        heights = dem.sample_lonlat(glon, glat).astype(np.float32)
    heights = np.where(np.isfinite(heights), heights, 0.0).astype(np.float32)
    return write_isce_image(path, heights, image_type="dem",
                            coordinates=((x0 + dx / 2, dx), (y0 + dy / 2, dy)), extra={"reference": "WGS84"})


# ---------------------------------------------------------------------------------------------
# topsStack's burst products (reference/IW<n>.xml, coreg_secondarys/<date>/IW<n>.xml)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IsceBurst:
    """One burst of a topsStack swath product (``IW<n>.xml``), valid window in *our* convention.

    ``number`` is the N of ``burst_NN.slc`` (1-based, after topsStack's crop); the valid
    window is 0-based, last line/sample **inclusive** (ISCE2 stores first + count).
    """

    number: int
    sensing_start: datetime
    lines: int
    samples: int
    first_valid_line: int
    last_valid_line: int
    first_valid_sample: int
    last_valid_sample: int


def _parse_time(text: str, where: Path) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidSourceError(f"{where}: {text!r} is not a time") from None


def read_topsstack_bursts(xml_path: str | os.PathLike) -> list[IsceBurst]:
    """The bursts of a topsStack swath product ``IW<n>.xml`` (ISCE2's ProductManager dump).

    A burst is the component (``productmanager_name/instance/bursts/burstK``) that holds the
    BurstSLC properties ``burstnumber``, ``sensingstart``, ``numberoflines``,
    ``firstvalidline``, ``numberofvalidlines``, ... The ``reference`` and ``source`` components
    of a coregistered product (the stack reference and the secondary before resampling) are
    skipped, so a ``coreg_secondarys/<date>/IW<n>.xml`` gives its own (reference-geometry)
    bursts with their adjusted valid windows.
    """
    path = Path(xml_path)
    if not path.is_file():
        raise NotFoundError(f"{path}: no topsStack swath product (IW<n>.xml); did topsStack run?")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise InvalidSourceError(f"{path}: not an ISCE2 product ({exc})") from exc
    out: list[IsceBurst] = []

    def walk(elem: ET.Element) -> None:
        props = _properties(elem)
        if "burstnumber" in props and "sensingstart" in props:
            try:
                first_line = int(props["firstvalidline"])
                first_sample = int(props["firstvalidsample"])
                out.append(IsceBurst(
                    number=int(props["burstnumber"]),
                    sensing_start=_parse_time(props["sensingstart"], path),
                    lines=int(props["numberoflines"]),
                    samples=int(props["numberofsamples"]),
                    first_valid_line=first_line,
                    last_valid_line=first_line + int(props["numberofvalidlines"]) - 1,
                    first_valid_sample=first_sample,
                    last_valid_sample=first_sample + int(props["numberofvalidsamples"]) - 1,
                ))
            except KeyError as exc:
                raise InvalidSourceError(
                    f"{path}: burst {props['burstnumber']} has no {exc.args[0]!r}") from None
            except ValueError as exc:
                raise InvalidSourceError(f"{path}: burst {props['burstnumber']}: {exc}") from None
            return
        for comp in elem.findall("component"):
            if _key(comp.get("name", "")) not in ("reference", "source"):
                walk(comp)

    walk(root)
    if not out:
        raise InvalidSourceError(f"{path}: no bursts (components with burstnumber and sensingstart)")
    return sorted(out, key=lambda b: b.number)


def _match_burst(bursts: Sequence[IsceBurst], reference: BurstMetadata, where: Path) -> IsceBurst:
    """The burst of a swath product whose first line is the reference burst's (to half a line)."""
    tol = 0.5 * reference.azimuth_time_interval
    for b in bursts:
        if abs((b.sensing_start - reference.sensing_start).total_seconds()) <= tol:
            if b.lines != reference.lines or b.samples < reference.samples:
                raise InvalidSourceError(
                    f"{where}: burst {b.number} starts with {reference.burst_id} "
                    f"({reference.sensing_start.isoformat()}) but is {b.lines} × {b.samples}, "
                    f"not {reference.lines} × {reference.samples}"
                )
            return b
    have = ", ".join(f"{b.number}: {b.sensing_start.isoformat()}" for b in bursts)
    raise NotFoundError(
        f"{where}: no burst starts at {reference.sensing_start.isoformat()} ({reference.burst_id}); "
        f"bursts: {have}. Was topsStack run with this reference date and a box over the burst?"
    )


def burst_file(workdir: str | os.PathLike, swath: int, number: int, date: str | None = None) -> Path:
    """``reference/IW<n>/burst_NN.slc`` (date None) or ``coreg_secondarys/<date>/IW<n>/burst_NN.slc``."""
    base = Path(workdir) / ("reference" if date is None else f"coreg_secondarys/{date}")
    return base / f"IW{swath}" / f"burst_{number:02d}.slc"


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------

def _swath_number(burst: BurstMetadata) -> int:
    m = re.fullmatch(r"IW([123])", burst.swath.upper())
    if not m:
        raise InputError(f"{burst.burst_id}: swath {burst.swath!r} is not IW1, IW2 or IW3 "
                         "(topsStack is IW only)")
    return int(m.group(1))


def _with_valid(burst: BurstMetadata, valid: tuple[int, int, int, int] | None) -> BurstMetadata:
    """The burst with its valid window intersected with ``valid`` (first/last line, first/last sample)."""
    if valid is None:
        return burst
    fl, ll, fs, ls = valid
    update = {
        "first_valid_line": max(burst.first_valid_line, fl),
        "last_valid_line": min(burst.last_valid_line, ll),
        "first_valid_sample": max(burst.first_valid_sample, fs),
        "last_valid_sample": min(burst.last_valid_sample, ls),
    }
    if (update["first_valid_line"] > update["last_valid_line"]
            or update["first_valid_sample"] > update["last_valid_sample"]):
        raise InputError(f"{burst.burst_id}: the valid window {valid} does not overlap the burst's")
    return burst.model_copy(update=update)


def isce2_cslc(
    reference: BurstMetadata,
    coreg_slc_path: str | os.PathLike,
    grid: BurstGrid,
    window: Window | None,
    dem: Dem,
    options: CslcOptions | None = None,
    *,
    valid: tuple[int, int, int, int] | None = None,
) -> CslcWindow:
    """CSLC of a window of the grid from one ISCE2 coregistered burst SLC.

    Parameters
    ----------
    reference : metadata of the topsStack **reference** date's burst (every coregistered
        burst is in its radar geometry: lines, samples, timing, carrier).
    coreg_slc_path : ``coreg_secondarys/<date>/IW<n>/burst_NN.slc`` (or the reference's own
        ``reference/IW<n>/burst_NN.slc``, raw or virtual), reference lines × samples.
    grid, window, dem, options : as :func:`cube.products.geocode_slc`.
    valid : (first line, last line, first sample, last sample), inclusive: ISCE2's valid
        window of that date's burst, intersected with the reference's (pixels whose position
        falls outside are NaN).

    Returns
    -------
    CslcWindow, complex64 (rows, cols). With ``flatten`` (the default) it is that date's
    CSLC as the native engine defines it: topsStack's resampling added 4π/λ·(R_date − R_ref)
    and flattening with the reference's R removes the rest (docs/isce2.md).
    """
    info = open_isce_image(coreg_slc_path)
    if info.data_type != "CFLOAT" or info.bands != 1:
        raise InvalidSourceError(f"{info.xml_path}: a coregistered SLC is one CFLOAT band, not "
                                 f"{info.bands} × {info.data_type}")
    if info.length < reference.lines or info.width < reference.samples:
        raise InvalidSourceError(
            f"{info.path}: {info.length} × {info.width}, smaller than the reference burst "
            f"{reference.burst_id} ({reference.lines} × {reference.samples}): not this burst's file"
        )
    burst = _with_valid(reference, valid)

    def read(l0: int, l1: int, s0: int, s1: int) -> np.ndarray:
        return read_isce_window(info.path, l0, l1, s0, s1).astype(np.complex64, copy=False)

    return geocode_slc(burst, grid, window, dem, read, options)


def _secondary_dir(workdir: Path, date_key: str) -> tuple[str, Path]:
    """topsStack's directory of a date: named by the SAFE's start day (a burst may start after midnight)."""
    day = datetime.strptime(date_key[:8], "%Y%m%d")
    for candidate in (day, day - timedelta(days=1)):
        name = candidate.strftime("%Y%m%d")
        if (workdir / "coreg_secondarys" / name).is_dir():
            return name, workdir / "coreg_secondarys" / name
    raise NotFoundError(
        f"{workdir / 'coreg_secondarys'}: no coregistered date {date_key[:8]} for {date_key}; "
        "topsStack drops dates whose SAFE does not cover the box, or did not finish"
    )


def convert_topsstack(
    workdir: str | os.PathLike,
    reference: BurstMetadata,
    dates: Sequence[str],
    grid: BurstGrid,
    dem: Dem,
    write: Callable[[str, Window | None, CslcWindow], None] | None = None,
    *,
    windows: Sequence[Window] | None = None,
    options: CslcOptions | None = None,
) -> Iterator[tuple[str, CslcWindow]]:
    """CSLCs of every date of a finished topsStack run, on the burst ID's fixed grid.

    Parameters
    ----------
    workdir : the topsStack working directory (``reference/``, ``coreg_secondarys/``, ...).
    reference : metadata of the burst in the topsStack reference date (``-m``).
    dates : our date keys (``YYYYmmddTHHMMSS.ffffff``) to convert; the reference's own
        key reads ``reference/IW<n>/burst_NN.slc``, every other ``coreg_secondarys/<day>/``.
    grid, dem, options : as :func:`isce2_cslc`.
    write : called as ``write(date_key, window, cslc)`` for each result (e.g. a chunk writer).
    windows : grid windows to compute (chunks); None = the whole grid at once.

    Yields
    ------
    (date_key, CslcWindow): dates in the order given, and for each date its windows in the
    order given.
    """
    work = Path(workdir)
    swath = _swath_number(reference)
    ref_xml = work / "reference" / f"IW{swath}.xml"
    ref_burst = _match_burst(read_topsstack_bursts(ref_xml), reference, ref_xml)
    for date_key in dates:
        if date_key == reference.date_key:
            path, isce = burst_file(work, swath, ref_burst.number), ref_burst
        else:
            day, folder = _secondary_dir(work, date_key)
            coreg_xml = folder / f"IW{swath}.xml"
            if coreg_xml.is_file():
                isce = _match_burst(read_topsstack_bursts(coreg_xml), reference, coreg_xml)
            else:  # pragma: no cover - topsStack always writes it; tolerate hand-made trees
                isce = ref_burst
            path = burst_file(work, swath, isce.number, day)
        valid = (isce.first_valid_line, isce.last_valid_line, isce.first_valid_sample, isce.last_valid_sample)
        for window in windows if windows is not None else [None]:
            cslc = isce2_cslc(reference, path, grid, window, dem, options, valid=valid)
            if write is not None:
                write(date_key, window, cslc)
            yield date_key, cslc


# ---------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------

DEFAULT_SKIP = ("merge_reference_secondary_slc", "grid_baseline")
"""Run files of ``-W slc`` that the conversion does not need (it reads the bursts, not merged swaths)."""


class TopsStackTask(BaseModel):
    """One topsStack run: the SAFEs of every date, one swath, a box around one burst."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    burst_id: str = Field(pattern=r"^t\d{3}_\d{6}_iw[123]$", description="ESA burst ID")
    polarization: Literal["VV", "VH", "HH", "HV"] = "VV"
    safe_paths: list[str] = Field(min_length=2, description="local SAFE folders or zips, one per date")
    orbit_dir: str = Field(description="POEORB/RESORB .EOF files (else topsStack downloads them)")
    aux_dir: str = Field(description="S1 AUX_CAL files (only IPF 002.36 needs them; may be empty)")
    dem: str = Field(description="ISCE2 DEM: heights above WGS84, with its .xml (write_isce_dem)")
    reference_date: str | None = Field(None, pattern=r"^\d{8}$", description="YYYYMMDD of the reference")
    bbox: tuple[float, float, float, float] = Field(description="south, north, west, east, degrees")
    coregistration: Literal["geometry", "NESD"] = Field(
        "geometry", description="geometry alone, or geometry + network ESD (needs burst overlaps)")
    num_proc: int = Field(1, ge=1, le=64, description="processes for topo (--num_proc4topo)")

    @property
    def swath(self) -> int:
        """1, 2 or 3."""
        return int(self.burst_id[-1])


def _isce_date(burst: BurstMetadata) -> str:
    """topsStack's name of a date: the SAFE's start day (from the product name if it has one)."""
    m = re.search(r"_(\d{8})T\d{6}_\d{8}T\d{6}_", burst.product_id)
    return m.group(1) if m else burst.sensing_start.strftime("%Y%m%d")


def topsstack_task(
    reference: BurstMetadata,
    safe_paths: Sequence[str | os.PathLike],
    orbit_dir: str | os.PathLike,
    dem: str | os.PathLike,
    *,
    aux_dir: str | os.PathLike,
    coregistration: Literal["geometry", "NESD"] = "geometry",
    margin_deg: float = 0.01,
    num_proc: int = 1,
) -> TopsStackTask:
    """The topsStack task of one burst ID, its reference date being ``reference``'s.

    The box: with ``geometry``, a ``margin_deg`` square around the centre of the burst's
    valid footprint, so topsStack keeps as few bursts as possible (its crop keeps every burst
    whose full-burst lat/lon box meets ours: one or, for tilted footprints, a neighbour too).
    With ``NESD``, the burst's whole footprint (plus the margin), which meets the neighbours'
    boxes, so the run has the burst overlaps ESD needs.
    """
    lon, lat = burst_footprint(reference)
    if coregistration == "geometry":
        clat, clon = float(np.mean(lat)), float(np.mean(lon))
        bbox = (clat - margin_deg, clat + margin_deg, clon - margin_deg, clon + margin_deg)
    else:
        bbox = (float(lat.min()) - margin_deg, float(lat.max()) + margin_deg,
                float(lon.min()) - margin_deg, float(lon.max()) + margin_deg)
    return TopsStackTask(
        burst_id=reference.burst_id, polarization=reference.polarization,  # type: ignore[arg-type]
        safe_paths=[str(Path(p).absolute()) for p in safe_paths], orbit_dir=str(Path(orbit_dir).absolute()),
        aux_dir=str(Path(aux_dir).absolute()), dem=str(Path(dem).absolute()),
        reference_date=_isce_date(reference), bbox=bbox, coregistration=coregistration, num_proc=num_proc,
    )


SAFE_LIST = "sarcube_safe_list.txt"


def topsstack_command(task: TopsStackTask, workdir: str | os.PathLike) -> list[str]:
    """The ``stackSentinel.py`` command line of a task (pure: writes nothing).

    ``-s`` names a text file (``<workdir>/sarcube_safe_list.txt``, one SAFE path a line, which
    :func:`run_topsstack` writes): stackSentinel reads a file given there as the SAFE list.
    ``-W slc`` (coregistered SLC stack, no interferograms), ``-n`` the one swath, ``-b`` the
    box, ``-C`` geometry or NESD, ``-m`` the reference date, ``--num_proc 1`` (run-file lines
    run one by one) and ``--num_proc4topo`` for topo's own processes.
    """
    work = Path(workdir)
    s, n, w, e = task.bbox
    cmd = [
        "stackSentinel.py",
        "-s", str(work / SAFE_LIST),
        "-o", task.orbit_dir,
        "-a", task.aux_dir,
        "-d", task.dem,
        "-w", str(work),
        "-p", task.polarization.lower(),
        "-W", "slc",
        "-n", str(task.swath),
        "-b", f"{s:.6f} {n:.6f} {w:.6f} {e:.6f}",
        "-C", task.coregistration,
    ]
    if task.reference_date:
        cmd += ["-m", task.reference_date]
    cmd += ["--num_proc", "1", "--num_proc4topo", str(task.num_proc)]
    return cmd


def isce2_available() -> bool:
    """True where ``import isce`` works (the worker image)."""
    try:
        import isce  # type: ignore[import-not-found]  # noqa: F401
    except Exception:  # ImportError, or ISCE2's own import-time failures
        return False
    return True


def topsstack_environment(base: Mapping[str, str] | None = None, prefix: str | None = None) -> dict[str, str]:
    """The environment topsStack needs in a conda install of ISCE2.

    conda-forge's isce2 puts the stack processors in ``<prefix>/share/isce2/topsStack`` (not on
    PATH) and since 2.6.2 they import ``topsStack.*``, so ``<prefix>/share/isce2`` goes on
    PYTHONPATH; ``<isce>/applications`` (gdal2isce_xml.py, ...) goes on PATH.
    """
    env = dict(os.environ if base is None else base)
    root = Path(prefix or sys.prefix)
    stack = root / "share" / "isce2"
    paths = [str(stack / "topsStack")]
    isce_home = env.get("ISCE_HOME")
    if isce_home:
        paths.append(str(Path(isce_home) / "applications"))
    env["PATH"] = os.pathsep.join(paths + [env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(stack)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _run_logged(argv: Sequence[str], step: str, workdir: Path, env: Mapping[str, str],
                emit: Callable[[str], None]) -> None:
    """Run one command, streaming its output to ``emit`` and ``logs/<step>.log``; raise naming the step."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logfile = logs / f"{step}.log"
    tail: deque[str] = deque(maxlen=20)
    try:
        proc = subprocess.Popen(list(argv), cwd=workdir, env=dict(env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise TopsStackError(f"topsStack step {step}: cannot start {shlex.join(argv)} ({exc})") from exc
    with proc, logfile.open("a") as fh:  # closes the pipe and waits for the process
        fh.write(f"$ {shlex.join(argv)}\n")
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            tail.append(line.rstrip("\n"))
            emit(line.rstrip("\n"))
    code = proc.returncode
    if code != 0:
        last = "\n".join(tail)
        raise TopsStackError(
            f"topsStack step {step} failed (exit {code}) running `{shlex.join(argv)}`; "
            f"full log {logfile}; last lines:\n{last}"
        )


def run_files(workdir: str | os.PathLike) -> list[Path]:
    """``<workdir>/run_files/run_NN_*`` in their numbered order."""
    folder = Path(workdir) / "run_files"
    files = [p for p in folder.glob("run_*") if re.match(r"run_\d+_", p.name) and p.suffix != ".job"]
    return sorted(files, key=lambda p: int(p.name.split("_")[1]))


def _commands(run_file: Path) -> list[list[str]]:
    """The commands of a run file: one a line; ``wait`` and trailing ``&`` dropped (run in order)."""
    out = []
    for raw in run_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "wait":
            continue
        out.append(shlex.split(line.rstrip("&").strip()))
    return out


def _python_script(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """Run ISCE2's ``*.py`` scripts with this interpreter (their shebang may find another python)."""
    if argv and argv[0].endswith(".py"):
        exe = shutil.which(argv[0], path=env.get("PATH"))
        if exe is not None:
            return [sys.executable, exe, *argv[1:]]
    return argv


def execute_run_files(workdir: str | os.PathLike, env: Mapping[str, str] | None = None, *,
                      skip: Sequence[str] = DEFAULT_SKIP, emit: Callable[[str], None] | None = None,
                      check: Callable[[str], None] | None = None) -> list[str]:
    """Run every run file in order, each line after the other; return the steps run.

    A step is a run file's name without ``run_NN_``. Steps whose name is in ``skip`` are not
    run. ``check(step)`` runs after each step (raise to stop). Raises :class:`TopsStackError`
    naming the step, the command, the log file and its last lines when a command fails.
    """
    work = Path(workdir)
    env = dict(os.environ if env is None else env)
    emit = emit or log.info
    files = run_files(work)
    if not files:
        raise TopsStackError(f"{work / 'run_files'}: stackSentinel.py wrote no run files")
    done = []
    for rf in files:
        step = rf.name.split("_", 2)[2]
        if step in skip:
            emit(f"topsStack: skipping {rf.name}")
            continue
        emit(f"topsStack: {rf.name}")
        for argv in _commands(rf):
            _run_logged(_python_script(argv, env), rf.name, work, env, emit)
        if check is not None:
            check(step)
        done.append(step)
    return done


def _check_step(workdir: Path, swath: int, step: str) -> None:
    """Outputs a step must leave: topsStack's unpacking prints its errors and exits 0."""
    def per_date(folder: str) -> list[Path]:
        return [d / f"IW{swath}.xml" for d in sorted((workdir / folder).glob("*"))] or [workdir / folder]

    need: list[Path] = []
    if step == "unpack_topo_reference":
        need = [workdir / "reference" / f"IW{swath}.xml"]
    elif step == "unpack_secondary_slc":
        need = per_date("secondarys")
    elif step == "fullBurst_resample":
        need = per_date("coreg_secondarys")
    missing = [p for p in need if not p.exists()]
    if missing:
        raise TopsStackError(
            f"topsStack step {step} left no {', '.join(map(str, missing))}; see {workdir / 'logs'}"
        )


def run_topsstack(task: TopsStackTask, workdir: str | os.PathLike, *, skip: Sequence[str] = DEFAULT_SKIP,
                  emit: Callable[[str], None] | None = None, prefix: str | None = None) -> Path:
    """Run topsStack (``-W slc``) for one burst: stackSentinel.py, then its run files in order.

    ``workdir`` must not hold an earlier run (stackSentinel refuses an existing run_files/).
    Output lines go to ``emit`` (default: this module's logger) and ``<workdir>/logs/``.
    Returns ``workdir``; read it with :func:`convert_topsstack`.

    Raises
    ------
    InputError
        ISCE2 is not importable here, or an input (DEM header, SAFE) is missing.
    TopsStackError
        A step failed (the message names it, the command and its log).
    """
    if not isce2_available():
        raise InputError(NO_ISCE2)
    work = Path(workdir).absolute()
    # stackSentinel makes its paths absolute from its own working directory, which is ``work``
    task = task.model_copy(update={
        "safe_paths": [str(Path(p).absolute()) for p in task.safe_paths],
        "orbit_dir": str(Path(task.orbit_dir).absolute()), "aux_dir": str(Path(task.aux_dir).absolute()),
        "dem": str(Path(task.dem).absolute()),
    })
    if (work / "run_files").exists():
        raise InputError(f"{work}: holds an earlier topsStack run (run_files/); use an empty directory")
    if not Path(f"{task.dem}.xml").is_file():
        raise InputError(f"{task.dem}: the DEM has no ISCE2 .xml; write it with write_isce_dem")
    for safe in task.safe_paths:
        if not Path(safe).exists():
            raise InputError(f"{safe}: SAFE not found (topsStack reads local SAFE folders or zips)")
    work.mkdir(parents=True, exist_ok=True)
    Path(task.aux_dir).mkdir(parents=True, exist_ok=True)
    (work / SAFE_LIST).write_text("".join(f"{p}\n" for p in task.safe_paths))
    env = topsstack_environment(prefix=prefix)
    cmd = topsstack_command(task, work)
    if shutil.which(cmd[0], path=env["PATH"]) is None:
        raise InputError(f"{cmd[0]} is not in {env['PATH']}: is ISCE2's topsStack installed?")
    emit = emit or log.info
    _run_logged(_python_script(cmd, env), "stackSentinel", work, env, emit)
    execute_run_files(work, env, skip=skip, emit=emit,
                      check=lambda step: _check_step(work, task.swath, step))
    return work
