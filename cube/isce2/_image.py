"""ISCE2's image format: a raw binary raster, its ``.xml`` header and GDAL ``.vrt``.

The header is what ISCE2's ``isceobj.Image.renderHdr`` writes
(``<imageFile><property name="width"><value>…``), the ``.vrt`` what ``renderVRT`` writes.
Bursts that topsStack leaves *virtual* (the reference date: a ``.vrt`` pointing into the
SAFE's measurement TIFF, no binary) are read through GDAL (rasterio).
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from cube.errors import InputError, InvalidSourceError
from cube.geometry import Dem

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
        """The numpy dtype of one sample, with the file's byte order."""
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
        "extra_file_name": str(info.vrt_path.absolute()), "family": family,
        "file_name": str(info.path.absolute()),
        "length": info.length, "name": f"{family}_name", "number_bands": info.bands,
        "scheme": info.scheme, "width": info.width, "xmin": 0, "xmax": info.width,
    }
    if info.image_type:
        props["image_type"] = info.image_type
    props.update(extra)
    root = ET.Element("imageFile")
    entries: dict[str, Any] = dict(props)
    entries["coordinate1"] = (coordinates[0], info.width, "First coordinate of a 2D image (width).")
    entries["coordinate2"] = (coordinates[1], info.length, "Second coordinate of a 2D image (length).")
    for key in sorted(entries):
        if key.startswith("coordinate"):
            (start, delta), size, doc = entries[key]
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
    in ``<value>`` with a ``<doc>``); ``file_name`` is the binary's **absolute** path, since
    ISCE2 opens it relative to its own working directory (topo run from another folder would
    not find a bare name). Unlike ISCE2's
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
        from cube.geometry import transformer

        xs = np.array([xmin, xmax, xmin, xmax, 0.5 * (xmin + xmax)])
        ys = np.array([ymin, ymin, ymax, ymax, 0.5 * (ymin + ymax)])
        lon, lat = transformer(dem.crs, 4326).transform(xs, ys)
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
