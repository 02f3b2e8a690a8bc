"""Read Sentinel-1 orbit files (POEORB / RESORB ``.EOF``) and keep the part covering a burst."""

from __future__ import annotations

from datetime import datetime, timedelta

import fsspec

from cube.errors import InvalidSourceError, OrbitCoverageError
from cube.format import Orbit, StateVector
from cube.ingest._xml import Node, parse_xml

MARGIN_S = 60.0  # state vectors kept on each side of a burst, s


def read_orbit_file(url: str, storage_options: dict | None = None) -> Orbit:
    """Read every state vector of an ``.EOF`` orbit file (local path or fsspec URL)."""
    name = url.rsplit("/", 1)[-1]
    try:
        with fsspec.open(url, "rb", **(storage_options or {})) as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise InvalidSourceError(f"{url}: orbit file not found; check the path of the POEORB/RESORB "
                                 ".EOF file (or leave --orbit out to use the annotation's orbit)") from exc
    root = Node(parse_xml(data, url), url)
    if root.element.tag != "Earth_Explorer_File":
        raise InvalidSourceError(f"{url}: not an orbit file (root element {root.element.tag})")
    kind = root.text("Earth_Explorer_Header/Fixed_Header/File_Type").removeprefix("AUX_")
    vectors = []
    for osv in root.findall("Data_Block/List_of_OSVs/OSV"):
        vectors.append(
            StateVector(
                time=osv.time("UTC"),
                position=(osv.float("X"), osv.float("Y"), osv.float("Z")),
                velocity=(osv.float("VX"), osv.float("VY"), osv.float("VZ")),
            )
        )
    if not vectors:
        raise InvalidSourceError(f"{url}: orbit file holds no state vectors (Data_Block/List_of_OSVs)")
    vectors.sort(key=lambda sv: sv.time)
    return Orbit(source=f"{kind}:{name}", state_vectors=vectors)


def orbit_for_interval(orbit: Orbit, start: datetime, stop: datetime) -> Orbit:
    """The state vectors covering [start, stop] with a margin; error if the file does not cover it."""
    margin = timedelta(seconds=MARGIN_S)
    svs = orbit.state_vectors
    if svs[0].time > start - timedelta(seconds=10) or svs[-1].time < stop + timedelta(seconds=10):
        raise OrbitCoverageError(
            f"orbit {orbit.source} covers {svs[0].time.isoformat()}..{svs[-1].time.isoformat()}, "
            f"not the acquisition {start.isoformat()}..{stop.isoformat()}: "
            "pass an orbit file whose validity period covers it"
        )
    kept = [sv for sv in svs if start - margin <= sv.time <= stop + margin]
    return Orbit(source=orbit.source, state_vectors=kept)
