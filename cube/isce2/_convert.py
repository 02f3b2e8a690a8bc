"""topsStack's output on our grid: its burst products (``IW<n>.xml``) and its coregistered bursts → CSLC.

After topsStack every date of a burst lives in the *reference* burst's radar geometry (its
lines, samples, timing and carrier), so its CSLC is ``geocode_slc(reference_burst, grid,
window, dem, read)`` with ``read`` cutting the window out of the ISCE2 file. See
docs/isce2.md for the carrier and flattening conventions this relies on.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from cube.errors import InputError, InvalidSourceError, NotFoundError
from cube.format import BurstMetadata
from cube.geometry import BurstGrid, Dem, Window
from cube.isce2._image import _key, _properties, open_isce_image, read_isce_window
from cube.products import CslcOptions, CslcWindow, geocode_slc

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
    """The topsStack directory of a date: named by the SAFE's start day (a burst may start after midnight)."""
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
