"""Read a Sentinel-1 IW SLC product.

A ``.SAFE`` folder, a ``.zip`` (read in place, not extracted), a single-burst SAFE, or a bare
product annotation XML; local, ``s3://`` or ``https://`` through fsspec.

A product is annotation + measurement + orbit. A SAFE holds all three (the measurement TIFF of
each annotation covers its whole swath); a bare annotation XML is given its measurement
explicitly: a CInt16 TIFF holding a window of the swath, placed by its (row, column) offset
(`open_safe(..., measurement=, measurement_offset=)`). Bursts the window covers only in part
keep their annotated size, with the valid window narrowed to the covered pixels and zeros
(the cube's fill) elsewhere; bursts it does not cover have no pixels (`SafeProduct.covered`).
"""

from __future__ import annotations

import math
import posixpath
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import fsspec
from fsspec.implementations.zip import ZipFileSystem

from cube.errors import InvalidSourceError, MeasurementError, MissingElementError
from cube.format import (
    BurstMetadata,
    CalibrationVector,
    GeolocationPoint,
    NoiseAzimuthVector,
    NoiseRangeVector,
    Orbit,
    Polynomial,
    StateVector,
)
from cube.ingest._burst_id import make_burst_id, relative_orbit
from cube.ingest._orbit import orbit_for_interval, read_orbit_file
from cube.ingest._xml import Node, parse_time, parse_xml

if TYPE_CHECKING:
    import numpy as np

_T = TypeVar("_T")

# s1a-iw2-slc-vv-20250406t022010-20250406t022035-058630-07421f-005.xml
_ANNOTATION_RE = re.compile(r"^(s1[abcd])-(iw[123])-slc-(vv|vh|hh|hv)-.*\.xml$", re.IGNORECASE)


@dataclass(frozen=True)
class ManifestInfo:
    """What the manifest says about the whole product."""

    mission: str
    absolute_orbit: int
    relative_orbit_start: int
    relative_orbit_stop: int
    orbit_direction: str
    ipf_version: str | None


@dataclass(frozen=True)
class MeasurementWindow:
    """A measurement TIFF given explicitly: rows and columns of one swath, from an offset.

    ``shape``: (lines, samples) of the TIFF, read from its header; ``offset``: the swath
    (line, sample) of its pixel (0, 0), 0-based.
    """

    url: str
    fs: fsspec.AbstractFileSystem
    path: str
    offset: tuple[int, int]
    shape: tuple[int, int]

    def rows(self) -> tuple[int, int]:
        """Swath lines [first, stop) the TIFF holds."""
        return self.offset[0], self.offset[0] + self.shape[0]

    def cols(self) -> tuple[int, int]:
        """Swath samples [first, stop) the TIFF holds."""
        return self.offset[1], self.offset[1] + self.shape[1]


@dataclass
class SafeProduct:
    """An opened product: its files, manifest and the bursts of every annotated swath.

    ``measurement``: the explicit measurement window of a bare annotation (None: the SAFE's
    own ``measurement/`` TIFFs, each covering its whole swath).
    """

    source: str
    product_id: str
    fs: fsspec.AbstractFileSystem
    root: str
    annotation_paths: list[str]
    manifest: ManifestInfo | None
    orbit: Orbit | None = None
    measurement: MeasurementWindow | None = None
    _bursts: dict[str, list[BurstMetadata]] = field(default_factory=dict, repr=False)

    def swaths(self) -> list[tuple[str, str]]:
        """(swath, polarization) pairs present, e.g. [('IW1', 'VV'), ...]."""
        return sorted({_swath_pol(p) for p in self.annotation_paths})

    def bursts(
        self, swaths: list[str] | None = None, polarizations: list[str] | None = None
    ) -> list[BurstMetadata]:
        """Metadata of every burst, optionally only of some swaths and polarizations."""
        out = []
        for path in sorted(self.annotation_paths):
            swath, pol = _swath_pol(path)
            if swaths and swath not in {s.upper() for s in swaths}:
                continue
            if polarizations and pol not in {p.upper() for p in polarizations}:
                continue
            if path not in self._bursts:
                self._bursts[path] = _read_swath(self, path)
            out.extend(self._bursts[path])
        return out

    def coverage(self, burst: BurstMetadata) -> tuple[int, int, int, int] | None:
        """Burst lines [l0, l1) and samples [s0, s1) the measurement holds; None if none.

        A SAFE's measurement covers every burst whole; an explicit window the intersection of
        its rows and columns with the burst (None if that misses the burst's valid window).
        """
        if self.measurement is None:
            return 0, burst.lines, 0, burst.samples
        r0, r1 = self.measurement.rows()
        c0, c1 = self.measurement.cols()
        l0, l1 = max(r0 - burst.line_offset, 0), min(r1 - burst.line_offset, burst.lines)
        s0, s1 = max(c0, 0), min(c1, burst.samples)
        valid_l = max(l0, burst.first_valid_line) <= min(l1 - 1, burst.last_valid_line)
        valid_s = max(s0, burst.first_valid_sample) <= min(s1 - 1, burst.last_valid_sample)
        return (l0, l1, s0, s1) if valid_l and valid_s else None

    def covered(self, burst: BurstMetadata) -> BurstMetadata | None:
        """The burst as its pixels are stored (None if the measurement does not cover it).

        Its valid window is the annotated one narrowed to the pixels the measurement holds;
        a SAFE's bursts are returned as annotated.
        """
        window = self.coverage(burst)
        if window is None or self.measurement is None:
            return None if window is None else burst
        l0, l1, s0, s1 = window
        return burst.model_copy(update={
            "first_valid_line": max(burst.first_valid_line, l0),
            "last_valid_line": min(burst.last_valid_line, l1 - 1),
            "first_valid_sample": max(burst.first_valid_sample, s0),
            "last_valid_sample": min(burst.last_valid_sample, s1 - 1),
        })

    def read_burst(self, burst: BurstMetadata) -> np.ndarray:
        """Pixels of one burst as int16 (lines, samples, 2): real and imaginary parts, lossless.

        Outside the measurement's window (an explicit crop) the pixels are 0, the cube's fill.
        """
        return self._read(burst, check_only=False)

    def check_measurement(self, burst: BurstMetadata) -> None:
        """Raise MeasurementError if the burst's pixels cannot be read (empty, truncated file)."""
        self._read(burst, check_only=True)

    def _read(self, burst: BurstMetadata, check_only: bool) -> np.ndarray:
        m = self.measurement
        if m is None:
            if burst.measurement_file is None:
                raise MeasurementError(
                    f"{self.source}: no measurement TIFF for {burst.swath} {burst.polarization}: "
                    "give it with --measurement TIFF --measurement-offset ROW,COL (a crop of the "
                    "swath), or ingest the whole SAFE"
                )
            path = posixpath.join(self.root, burst.measurement_file)
            return read_tiff_lines(self.fs, path, burst.line_offset, burst.lines, burst.samples,
                                   check_only=check_only)
        window = self.coverage(burst)
        if window is None:
            raise MeasurementError(
                f"{m.url}: holds no valid pixel of burst {burst.burst_index} ({burst.burst_id}) "
                f"of {self.source}"
            )
        l0, l1, s0, s1 = window
        first = burst.line_offset + l0 - m.offset[0]
        block = read_tiff_lines(m.fs, m.path, first, l1 - l0, m.shape[1], check_only=check_only)
        if check_only:
            return block
        import numpy as np

        out = np.zeros((burst.lines, burst.samples, 2), np.int16)
        out[l0:l1, s0:s1] = block[:, s0 - m.offset[1] : s1 - m.offset[1]]
        return out

    @cached_property
    def date(self) -> datetime:
        """Start of the product (first line of the first annotation)."""
        return min(b.sensing_start for b in self.bursts())


def open_safe(
    source: str,
    orbit_file: str | None = None,
    storage_options: dict | None = None,
    measurement: str | None = None,
    measurement_offset: tuple[int, int] = (0, 0),
) -> SafeProduct:
    """Open a product from a path or fsspec URL (.SAFE folder, .zip, or annotation .xml).

    ``orbit_file`` is an optional POEORB/RESORB ``.EOF`` used in place of the annotation orbit.
    Reads the manifest and lists the annotations; bursts are parsed on demand.

    ``measurement``: with a bare annotation XML, its pixels: a CInt16 TIFF (path or URL) whose
    pixel (0, 0) is swath line and sample ``measurement_offset`` (0-based). Its header is read
    and the window checked against the swath here.
    """
    storage_options = storage_options or {}
    src = source.rstrip("/")
    try:
        if src.lower().endswith(".zip"):
            fs, root = _open_zip(src, storage_options)
        else:
            fs, root = fsspec.core.url_to_fs(src, **storage_options)
            if not fs.exists(root):
                raise InvalidSourceError(f"{source}: no such file or folder; check the path (a .SAFE "
                                         "folder, a .zip or an annotation XML; local, s3:// or https://)")
    except (FileNotFoundError, PermissionError) as exc:
        raise InvalidSourceError(f"{source}: cannot open ({exc})") from exc

    if root.lower().endswith(".xml") and fs.isfile(root):
        # a bare product annotation, as ESA ships inside annotation/
        name = posixpath.basename(root)
        if not _ANNOTATION_RE.match(name):
            raise InvalidSourceError(
                f"{source}: not a Sentinel-1 IW SLC product annotation (expected a name like "
                "s1a-iw1-slc-vv-....xml, a .SAFE folder or a .zip)"
            )
        product_id = posixpath.splitext(name)[0]
        product = SafeProduct(source, product_id, fs, posixpath.dirname(root), [name], None)
    else:
        if not fs.isdir(root) or not fs.exists(posixpath.join(root, "manifest.safe")):
            raise InvalidSourceError(
                f"{source}: not a Sentinel-1 SAFE (no manifest.safe): pass a .SAFE folder, "
                "a .zip of one, or a product annotation XML"
            )
        manifest = _read_manifest(fs, posixpath.join(root, "manifest.safe"), source)
        annotations = [
            posixpath.relpath(p, root)
            for p in fs.glob(posixpath.join(root, "annotation", "*.xml"))
            if _ANNOTATION_RE.match(posixpath.basename(p))
        ]
        if not annotations:
            raise InvalidSourceError(f"{source}: the SAFE holds no IW SLC annotation XML")
        product_id = posixpath.basename(root).removesuffix(".SAFE").removesuffix(".safe")
        product = SafeProduct(source, product_id, fs, root, annotations, manifest)
    if orbit_file:
        product.orbit = read_orbit_file(orbit_file, storage_options)
    if measurement is not None:
        if product.manifest is not None:
            raise InvalidSourceError(
                f"{source}: --measurement goes with a bare product annotation XML; a SAFE has its "
                "own measurement/ TIFFs"
            )
        product.measurement = _open_measurement(measurement, measurement_offset, storage_options)
        _check_window(product)
    return product


def _open_measurement(url: str, offset: tuple[int, int], storage_options: dict) -> MeasurementWindow:
    """The explicit measurement TIFF: its header read (shape, CInt16), nothing else."""
    import tifffile

    row, col = offset
    if row < 0 or col < 0:
        raise InvalidSourceError(
            f"--measurement-offset {row},{col}: must be the 0-based swath line and sample of the "
            "TIFF's first pixel (non-negative)"
        )
    try:
        fs, path = fsspec.core.url_to_fs(url, **storage_options)
        with fs.open(path, "rb") as fh, tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            shape = (int(page.shape[0]), int(page.shape[1]))
            kind = (page.sampleformat, page.bitspersample, len(page.shape))
    except FileNotFoundError as exc:
        raise MeasurementError(f"{url}: measurement TIFF not found") from exc
    except (tifffile.TiffFileError, ValueError, EOFError, OSError) as exc:
        raise MeasurementError(f"{url}: cannot read measurement TIFF ({exc})") from exc
    if kind != (5, 32, 2):
        raise MeasurementError(
            f"{url}: not a single-band CInt16 TIFF (sampleformat {kind[0]}, {kind[1]} bits, "
            f"shape {page.shape}); Sentinel-1 SLC pixels are complex int16"
        )
    return MeasurementWindow(url, fs, path, (int(row), int(col)), shape)


def _check_window(product: SafeProduct) -> None:
    """InvalidSourceError unless the measurement window lies inside the swath and meets a burst."""
    m = product.measurement
    assert m is not None
    bursts = product.bursts()
    swath_lines = max(b.line_offset + b.lines for b in bursts)
    swath_samples = bursts[0].samples
    (r0, r1), (c0, c1) = m.rows(), m.cols()
    where = (f"--measurement {m.url} ({m.shape[0]} x {m.shape[1]} pixels) at "
             f"--measurement-offset {r0},{c0}")
    if r0 >= swath_lines or c0 >= swath_samples:
        raise InvalidSourceError(
            f"{where}: the offset lies outside the swath of {product.source} ({swath_lines} lines "
            f"x {swath_samples} samples); give the 0-based swath line,sample of the TIFF's first pixel"
        )
    if r1 > swath_lines or c1 > swath_samples:
        raise InvalidSourceError(
            f"{where}: the TIFF reaches line {r1 - 1}, sample {c1 - 1}, past the swath of "
            f"{product.source} ({swath_lines} lines x {swath_samples} samples): is it a crop of this "
            "annotation's swath, and is the offset right?"
        )
    if not any(product.coverage(b) for b in bursts):
        raise InvalidSourceError(
            f"{where}: covers no valid pixel of any burst of {product.source} (only the bursts' "
            "invalid margins); check the offset"
        )


def _open_zip(url: str, storage_options: dict) -> tuple[fsspec.AbstractFileSystem, str]:
    """A zip filesystem over the archive (read with range requests, never extracted)."""
    try:
        protocol = fsspec.core.split_protocol(url)[0] or "file"
        fs = ZipFileSystem(fo=url, target_protocol=protocol, target_options=storage_options)
    except zipfile.BadZipFile as exc:
        raise InvalidSourceError(f"{url}: not a readable zip archive ({exc}); download it again") from exc
    except FileNotFoundError as exc:
        raise InvalidSourceError(f"{url}: no such file") from exc
    manifests = [p for p in fs.find("") if posixpath.basename(p) == "manifest.safe"]
    if len(manifests) != 1:
        raise InvalidSourceError(
            f"{url}: expected one manifest.safe in the zip, found {len(manifests)}"
        )
    return fs, posixpath.dirname(manifests[0])


def _read_bytes(fs: fsspec.AbstractFileSystem, path: str, source: str) -> bytes:
    try:
        with fs.open(path, "rb") as f:
            return f.read()
    except FileNotFoundError as exc:
        raise InvalidSourceError(f"{source}: missing {path}") from exc
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise InvalidSourceError(f"{source}: cannot read {path} ({exc})") from exc


def _xpath_text(root, name: str, **attrs: str) -> str | None:
    cond = "".join(f"[@{k}='{v}']" for k, v in attrs.items())
    found = root.xpath(f".//*[local-name()='{name}']{cond}")
    return found[0].text.strip() if found and found[0].text else None


def _read_manifest(fs, path: str, source: str) -> ManifestInfo:
    name = f"{source}/manifest.safe"
    root = parse_xml(_read_bytes(fs, path, source), name)
    family = _xpath_text(root, "familyName") or ""
    number = _xpath_text(root, "number") or ""
    abs_orbit = _xpath_text(root, "orbitNumber", type="start") or ""
    rel_start = _xpath_text(root, "relativeOrbitNumber", type="start") or ""
    rel_stop = _xpath_text(root, "relativeOrbitNumber", type="stop") or rel_start
    direction = _xpath_text(root, "pass") or ""
    versions = root.xpath(".//*[local-name()='software']/@version")
    software = versions if isinstance(versions, list) else []
    missing = [
        n
        for n, v in [("familyName", family), ("number", number), ("orbitNumber", abs_orbit),
                     ("relativeOrbitNumber", rel_start), ("pass", direction)]
        if not v
    ]
    if missing or not family.upper().startswith("SENTINEL-1"):
        raise MissingElementError(
            f"{name}: not a Sentinel-1 manifest (missing {', '.join(missing) or 'familyName'})"
        )
    return ManifestInfo(
        mission=f"S1{number.upper()}",
        absolute_orbit=int(abs_orbit),
        relative_orbit_start=int(rel_start),
        relative_orbit_stop=int(rel_stop),
        orbit_direction=direction.lower(),
        ipf_version=str(software[0]) if software else None,
    )


def _swath_pol(path: str) -> tuple[str, str]:
    m = _ANNOTATION_RE.match(posixpath.basename(path))
    assert m is not None
    return m.group(2).upper(), m.group(3).upper()


def _near(items: list[_T], key: Callable[[_T], Any], lo: datetime | int, hi: datetime | int) -> list[_T]:
    """Items whose time lies in [lo, hi], plus the nearest one on each side."""
    items = sorted(items, key=key)
    inside = [i for i, it in enumerate(items) if lo <= key(it) <= hi]
    before = [i for i, it in enumerate(items) if key(it) < lo][-1:]
    after = [i for i, it in enumerate(items) if key(it) > hi][:1]
    return [items[i] for i in sorted(set(before + inside + after))]


def _read_swath(product: SafeProduct, rel_path: str) -> list[BurstMetadata]:
    """Parse one product annotation (+ its calibration and noise) into burst metadata."""
    fs, root, source = product.fs, product.root, product.source
    name = f"{source}/{rel_path}" if product.manifest else source
    ann = Node(parse_xml(_read_bytes(fs, posixpath.join(root, rel_path), source), name), name)
    if ann.element.tag != "product":
        raise InvalidSourceError(f"{name}: not a product annotation (root {ann.element.tag})")
    swath, pol = _swath_pol(rel_path)
    stem = posixpath.splitext(posixpath.basename(rel_path))[0]

    header = ann.find("adsHeader")
    mission = header.text("missionId").upper()
    absolute_orbit = header.int("absoluteOrbitNumber")
    info = ann.find("generalAnnotation/productInformation")
    image = ann.find("imageAnnotation/imageInformation")
    timing = ann.find("swathTiming")
    proc = ann.find("imageAnnotation/processingInformation/swathProcParamsList/swathProcParams")

    manifest = product.manifest
    if manifest:
        rel_start, rel_stop = manifest.relative_orbit_start, manifest.relative_orbit_stop
        direction, ipf = manifest.orbit_direction, manifest.ipf_version
    else:
        rel_start = rel_stop = relative_orbit(mission, absolute_orbit)
        direction, ipf = info.text("pass").lower(), None

    lines_per_burst = timing.int("linesPerBurst")
    samples = timing.int("samplesPerBurst")
    dt = image.float("azimuthTimeInterval")
    anx_time = image.time("ascendingNodeTime")

    if product.orbit is not None:
        orbit_all = product.orbit
    else:
        svs = [
            StateVector(
                time=o.time("time"),
                position=(o.float("position/x"), o.float("position/y"), o.float("position/z")),
                velocity=(o.float("velocity/x"), o.float("velocity/y"), o.float("velocity/z")),
            )
            for o in ann.findall("generalAnnotation/orbitList/orbit")
        ]
        if not svs:
            raise MissingElementError(f"{name}: missing generalAnnotation/orbitList/orbit")
        orbit_all = Orbit(source="annotation", state_vectors=sorted(svs, key=lambda s: s.time))

    dc = [
        Polynomial(azimuth_time=e.time("azimuthTime"), t0=e.float("t0"),
                   coefficients=e.floats("dataDcPolynomial"))
        for e in ann.findall("dopplerCentroid/dcEstimateList/dcEstimate")
    ]
    fm = [
        Polynomial(azimuth_time=e.time("azimuthTime"), t0=e.float("t0"),
                   coefficients=_fm_coefficients(e))
        for e in ann.findall("generalAnnotation/azimuthFmRateList/azimuthFmRate")
    ]
    grid = ann.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    cal_vectors, cal_constant = _read_calibration(product, stem, swath, pol)
    noise_range, noise_azimuth = _read_noise(product, stem)
    if product.measurement is not None:
        measurement: str | None = product.measurement.url
    else:
        measurement = f"measurement/{stem}.tiff" if product.manifest else None

    bursts = []
    for index, b in enumerate(timing.findall("burstList/burst")):
        start = b.time("azimuthTime")
        stop = start + timedelta(seconds=dt * (lines_per_burst - 1))
        first_valid = b.ints("firstValidSample")
        last_valid = b.ints("lastValidSample")
        valid_lines = [k for k, v in enumerate(first_valid) if v >= 0]
        if not valid_lines:
            raise InvalidSourceError(f"{name}: burst {index} has no valid line")
        first_line, last_line = int(valid_lines[0]), int(valid_lines[-1])
        offset = index * lines_per_burst
        burst_elem = b.maybe("burstId")
        sensing = b.time("sensingTime")
        burst_id, number = make_burst_id(sensing, anx_time, rel_start, swath, rel_stop)
        orbit = orbit_for_interval(orbit_all, start, stop) if product.orbit else orbit_all

        def in_burst(line: int, lo=offset, hi=offset + lines_per_burst) -> bool:
            return lo <= line <= hi

        bursts.append(
            BurstMetadata(
                burst_id=burst_id,
                esa_burst_number=number,
                annotated_burst_number=burst_elem.int() if burst_elem else None,
                swath=swath,
                polarization=pol,
                burst_index=index,
                product_id=product.product_id,
                mission=mission,
                absolute_orbit=absolute_orbit,
                relative_orbit=int(burst_id[1:4]),
                orbit_direction=direction,
                ascending_node_time=anx_time,
                ipf_version=ipf,
                sensing_start=start,
                sensing_time=sensing,
                azimuth_anx_time=b.float("azimuthAnxTime"),
                azimuth_time_interval=dt,
                lines=lines_per_burst,
                samples=samples,
                line_offset=offset,
                first_valid_line=first_line,
                last_valid_line=last_line,
                first_valid_sample=int(max(first_valid[first_line], first_valid[last_line])),
                last_valid_sample=int(min(last_valid[first_line], last_valid[last_line])),
                slant_range_time=image.float("slantRangeTime"),
                range_sampling_rate=info.float("rangeSamplingRate"),
                range_pixel_spacing_m=image.float("rangePixelSpacing"),
                azimuth_pixel_spacing_m=image.float("azimuthPixelSpacing"),
                radar_frequency=info.float("radarFrequency"),
                azimuth_steering_rate=math.radians(info.float("azimuthSteeringRate")),
                azimuth_frequency=image.float("azimuthFrequency"),
                range_bandwidth=proc.float("rangeProcessing/processingBandwidth"),
                azimuth_bandwidth=proc.float("azimuthProcessing/processingBandwidth"),
                range_window=proc.text("rangeProcessing/windowType"),
                range_window_coefficient=proc.float("rangeProcessing/windowCoefficient"),
                azimuth_window=proc.text("azimuthProcessing/windowType"),
                azimuth_window_coefficient=proc.float("azimuthProcessing/windowCoefficient"),
                incidence_angle_mid_swath=image.float("incidenceAngleMidSwath"),
                platform_heading=info.float("platformHeading"),
                measurement_file=measurement,
                orbit=orbit,
                doppler_centroid=_near(dc, lambda p: p.azimuth_time, start, stop),
                azimuth_fm_rate=_near(fm, lambda p: p.azimuth_time, start, stop),
                calibration=[
                    v.model_copy(update={"line": v.line - offset})
                    for v in _near(cal_vectors, lambda v: v.line, offset, offset + lines_per_burst)
                ],
                absolute_calibration_constant=cal_constant,
                noise_range=[
                    v.model_copy(update={"line": v.line - offset})
                    for v in _near(noise_range, lambda v: v.line, offset, offset + lines_per_burst)
                ],
                noise_azimuth=_clip_noise_azimuth(noise_azimuth, offset, lines_per_burst),
                geolocation_grid=[
                    _grid_point(p, offset) for p in grid if in_burst(p.int("line"))
                ],
            )
        )
    return bursts


def _fm_coefficients(e: Node) -> list[float]:
    poly = e.maybe("azimuthFmRatePolynomial")
    if poly is not None:
        return poly.floats()
    return [e.float("c0"), e.float("c1"), e.float("c2")]  # IPF < 2.8


def _grid_point(p: Node, offset: int) -> GeolocationPoint:
    return GeolocationPoint(
        azimuth_time=p.time("azimuthTime"),
        slant_range_time=p.float("slantRangeTime"),
        line=p.int("line") - offset,
        pixel=p.int("pixel"),
        latitude=p.float("latitude"),
        longitude=p.float("longitude"),
        height=p.float("height"),
        incidence_angle=p.float("incidenceAngle"),
        elevation_angle=p.float("elevationAngle"),
    )


def _sibling(product: SafeProduct, kind: str, stem: str) -> tuple[Node, str] | None:
    path = posixpath.join(product.root, "annotation", "calibration", f"{kind}-{stem}.xml")
    if not product.manifest or not product.fs.exists(path):
        return None
    name = f"{product.source}/annotation/calibration/{kind}-{stem}.xml"
    return Node(parse_xml(_read_bytes(product.fs, path, product.source), name), name), name


def _read_calibration(product, stem, swath, pol) -> tuple[list[CalibrationVector], float]:
    found = _sibling(product, "calibration", stem)
    if found is None:
        return [], 1.0
    cal, _ = found
    vectors = [
        CalibrationVector(
            azimuth_time=v.time("azimuthTime"),
            line=v.int("line"),
            pixel=v.ints("pixel"),
            sigma_nought=v.floats("sigmaNought"),
            beta_nought=v.floats("betaNought"),
            gamma=v.floats("gamma"),
            dn=v.floats("dn"),
        )
        for v in cal.findall("calibrationVectorList/calibrationVector")
    ]
    return vectors, cal.float("calibrationInformation/absoluteCalibrationConstant")


def _read_noise(product, stem) -> tuple[list[NoiseRangeVector], list[NoiseAzimuthVector]]:
    found = _sibling(product, "noise", stem)
    if found is None:
        return [], []
    noise, _ = found
    old = noise.maybe("noiseRangeVectorList") is None  # IPF < 2.9: one range LUT, no azimuth LUT
    range_path, lut = (
        ("noiseVectorList/noiseVector", "noiseLut") if old
        else ("noiseRangeVectorList/noiseRangeVector", "noiseRangeLut")
    )
    ranges = [
        NoiseRangeVector(
            azimuth_time=v.time("azimuthTime"), line=v.int("line"), pixel=v.ints("pixel"),
            noise_range_lut=v.floats(lut),
        )
        for v in noise.findall(range_path)
    ]
    azimuths = [
        NoiseAzimuthVector(
            first_azimuth_line=v.int("firstAzimuthLine"),
            last_azimuth_line=v.int("lastAzimuthLine"),
            first_range_sample=v.int("firstRangeSample"),
            last_range_sample=v.int("lastRangeSample"),
            line=v.ints("line"),
            noise_azimuth_lut=v.floats("noiseAzimuthLut"),
        )
        for v in noise.findall("noiseAzimuthVectorList/noiseAzimuthVector")
    ]
    return ranges, azimuths


def _clip_noise_azimuth(
    blocks: list[NoiseAzimuthVector], offset: int, lines: int
) -> list[NoiseAzimuthVector]:
    """Azimuth noise blocks overlapping the burst, with lines made burst-relative."""
    out = []
    for blk in blocks:
        if blk.last_azimuth_line < offset or blk.first_azimuth_line >= offset + lines:
            continue
        line = blk.line
        keep = [k for k, v in enumerate(line) if offset <= v < offset + lines]
        lo = max(keep[0] - 1, 0) if keep else 0
        hi = min(keep[-1] + 2, len(line)) if keep else len(line)
        out.append(
            NoiseAzimuthVector(
                first_azimuth_line=max(blk.first_azimuth_line, offset) - offset,
                last_azimuth_line=min(blk.last_azimuth_line, offset + lines - 1) - offset,
                first_range_sample=blk.first_range_sample,
                last_range_sample=blk.last_range_sample,
                line=[int(v) - offset for v in line[lo:hi]],
                noise_azimuth_lut=blk.noise_azimuth_lut[lo:hi],
            )
        )
    return out


def read_tiff_lines(
    fs: fsspec.AbstractFileSystem,
    path: str,
    first_line: int,
    lines: int,
    samples: int,
    check_only: bool = False,
) -> np.ndarray:
    """Read lines [first_line, first_line + lines) of a CInt16 TIFF as int16 (lines, samples, 2).

    Reads only the strips it needs. An empty, truncated or mis-sized file raises
    MeasurementError naming the file. ``check_only`` stops after those checks (empty result).
    """
    import numpy as np
    import tifffile  # about 0.5 s to import: metadata-only reads (``sarcube info``) never need it

    try:
        size = fs.size(path)
    except FileNotFoundError as exc:
        raise MeasurementError(f"{path}: measurement TIFF is missing") from exc
    if not size:
        raise MeasurementError(
            f"{path}: measurement TIFF is empty (0 bytes); pixel ingest needs the real file "
            "(metadata-only commands such as `sarcube info` work without it)"
        )
    try:
        with fs.open(path, "rb") as fh, tifffile.TiffFile(fh) as tif:
            page = tif.pages.first
            if page.sampleformat != 5 or page.bitspersample != 32:
                raise MeasurementError(f"{path}: not a CInt16 TIFF (sampleformat {page.sampleformat})")
            if page.shape[1] != samples or page.shape[0] < first_line + lines:
                raise MeasurementError(
                    f"{path}: TIFF is {page.shape[0]} x {page.shape[1]}, the annotation needs "
                    f"lines {first_line}..{first_line + lines - 1} of {samples} samples"
                )
            rows = page.rowsperstrip or page.shape[0]
            s0, s1 = first_line // rows, (first_line + lines - 1) // rows + 1
            offsets = np.asarray(page.dataoffsets[s0:s1], dtype=np.int64)
            counts = np.asarray(page.databytecounts[s0:s1], dtype=np.int64)
            if (offsets + counts).max() > size:
                raise MeasurementError(
                    f"{path}: TIFF is truncated ({size} bytes, strips reach "
                    f"{int((offsets + counts).max())}); download the product again"
                )
            if check_only:
                return np.empty((0, samples, 2), np.int16)
            dtype = np.dtype(tif.byteorder + "i2")
            if page.compression == 1 and np.all(offsets[1:] == offsets[:-1] + counts[:-1]):
                fh.seek(int(offsets[0]))
                raw = fh.read(int(counts.sum()))
                block = np.frombuffer(raw, dtype=dtype).reshape(-1, samples, 2)
            else:
                decode = page.decode
                parts = []
                for i, (off, cnt) in enumerate(zip(offsets, counts, strict=True)):
                    fh.seek(int(off))
                    seg, _, _ = decode(fh.read(int(cnt)), s0 + i)
                    seg = np.asarray(seg).reshape(-1, samples)
                    parts.append(np.stack([seg.real, seg.imag], axis=-1).astype(np.int16))
                block = np.concatenate(parts, axis=0)
    except (tifffile.TiffFileError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MeasurementError(f"{path}: cannot read measurement TIFF ({exc})") from exc
    start = first_line - s0 * rows
    return np.ascontiguousarray(block[start : start + lines], dtype=np.int16)


__all__ = ["ManifestInfo", "MeasurementWindow", "SafeProduct", "open_safe", "parse_time", "read_tiff_lines"]
