"""Append burst dates to the SLC cube, atomically per burst date.

Order of writes for a new date at time index n of a burst group:
1. pixel chunks at index n (invisible: every array's shape still says n dates);
2. the date's full metadata JSON (outside the zarr hierarchy);
3. each array's own ``zarr.json`` with the new shape;
4. the group's ``zarr.json`` with consolidated metadata and the ``dates`` attribute:
   one atomic write that makes the date visible.
A process killed before step 4 leaves the cube as it was; a rerun writes the date again.

Many writers: each append holds the burst group's writer lease (`cube.storage.exclusive`;
SQLite in ``<cube>/.leases`` locally, one object per lease under ``<cube>/.leases/`` on S3,
renewed while the append runs) and step 4 is a compare-and-swap (`CubeStore.write_if`:
``If-Match`` on S3, an exclusive file lock locally). A writer whose lease expired stops
before its next write; if another writer committed in the meantime, the commit fails and the
append starts again at the new time index. No date is lost and none is written twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import cast

import numpy as np
import zarr
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec
from zarr.core.array import Array, AsyncArray
from zarr.core.buffer import default_buffer_prototype
from zarr.errors import ContainsArrayError

from cube import __version__
from cube.errors import BusyError, ConflictError, CubeFormatError
from cube.format import (
    CUBE_DOC,
    FORMAT_VERSION,
    SLC_STORE,
    BurstMetadata,
    burst_group_path,
    date_metadata_path,
)
from cube.storage import (
    CubeStore,
    HeldLease,
    LeaseBackend,
    LeaseLostError,
    exclusive,
    store_lease_backend,
)

SLC_CHUNKS = (1, 512, 4096, 2)  # time, line, sample, part: 16 MiB raw int16 per full chunk
TIME_CHUNK = 4096  # dates per chunk of the per-date 1-D arrays: all of them in one chunk
_PER_DATE = {
    # name: (dtype, units, description)
    "slant_range_first_sample": ("float64", "m", "one-way slant range of sample 0"),
    "azimuth_time_interval": ("float64", "s", "time between lines"),
    "lines": ("int32", "1", "lines of this date's burst"),
    "samples": ("int32", "1", "samples of this date's burst"),
    "first_valid_line": ("int32", "1", "0-based, within the burst"),
    "last_valid_line": ("int32", "1", "0-based, inclusive"),
    "first_valid_sample": ("int32", "1", "0-based, within the burst"),
    "last_valid_sample": ("int32", "1", "0-based, inclusive"),
    "absolute_orbit": ("int32", "1", "absolute orbit number"),
}
_NS = np.timedelta64(1, "ns")
#: Where the cube's writer leases live (SQLite locally, one object per lease on S3).
LEASE_DIR = ".leases"
log = logging.getLogger(__name__)


def ensure_cube(store: CubeStore) -> None:
    """Create the cube's root document if absent; check its format version if present."""
    if store.exists(CUBE_DOC):
        doc = store.read_json(CUBE_DOC)
        major = str(doc.get("format_version", "0")).split(".")[0]
        if doc.get("format") != "sarcube-cube" or major != FORMAT_VERSION.split(".")[0]:
            raise CubeFormatError(
                f"{store.child_url(CUBE_DOC)}: format {doc.get('format')} "
                f"{doc.get('format_version')} is not sarcube-cube {FORMAT_VERSION}"
            )
        return
    doc = {
        "format": "sarcube-cube",
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(),
        "software": f"sarcube {__version__}",
    }
    if not store.write_if(CUBE_DOC, json.dumps(doc, indent=1).encode(), None):
        return ensure_cube(store)  # another writer created the cube just now: check its version
    zarr.open_group(store.zarr_store(SLC_STORE), mode="a", zarr_format=3)


def open_burst_group(store: CubeStore, burst_id: str, polarization: str) -> zarr.Group | None:
    """The committed burst group (consolidated view), or None if it does not exist yet."""
    root = store.zarr_store(SLC_STORE)
    try:
        return zarr.open_consolidated(root, path=burst_group_path(burst_id, polarization), mode="r")
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return None


def committed_dates(group: zarr.Group | None) -> list[dict]:
    """The ``dates`` attribute of a burst group: one record per visible time index."""
    return [] if group is None else list(cast("list[dict]", group.attrs.get("dates", [])))


#: Attempts at one append when the conditional commit finds that another writer committed.
COMMIT_ATTEMPTS = 5


def append_date(
    store: CubeStore,
    burst: BurstMetadata,
    pixels: np.ndarray,
    chunks: tuple = SLC_CHUNKS,
    *,
    leases: LeaseBackend | None = None,
    lease_ttl_s: float = 60.0,
) -> bool:
    """Append one burst date; return False if the cube already holds that date.

    ``pixels``: int16 (lines, samples, 2), the burst as read from the SAFE.

    Many writers may append to one burst group at once: each append holds the group's writer
    lease (``leases``, default beside the cube: SQLite locally, S3 conditional writes) and
    commits with a compare-and-swap of the group's ``zarr.json``. If the lease was lost and
    another writer committed first, the append starts again on the new state.
    """
    if pixels.shape != (burst.lines, burst.samples, 2) or pixels.dtype != np.int16:
        raise ValueError(
            f"pixels for {burst.burst_id} must be int16 ({burst.lines}, {burst.samples}, 2), "
            f"got {pixels.dtype} {pixels.shape}"
        )
    path = burst_group_path(burst.burst_id, burst.polarization)
    leases = leases or store_lease_backend(store, LEASE_DIR)
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            with exclusive(leases, f"{SLC_STORE}/{path}", ttl_s=lease_ttl_s) as held:
                return _append_held(store, burst, pixels, chunks, held)
        except (_CommitConflict, LeaseLostError) as exc:
            log.warning("%s %s: %s (attempt %d); starting again on the group's new state",
                        path, burst.date_key, exc, attempt + 1)
    raise BusyError(
        f"{path}: could not commit {burst.date_key} after {COMMIT_ATTEMPTS} attempts: other writers "
        "keep committing to this burst group; rerun the ingest"
    )


class _CommitConflict(Exception):
    """The group's zarr.json changed since this writer read it."""

    def __str__(self) -> str:
        return f"{self.args[0]}: another writer committed first"


def _read_group_doc(store: CubeStore, path: str) -> tuple[dict | None, str | None]:
    """The group's ``zarr.json`` (None if absent) and its version tag."""
    raw, version = store.read_versioned(f"{SLC_STORE}/{path}/zarr.json")
    return (json.loads(raw) if raw is not None else None), version


def _append_held(
    store: CubeStore, burst: BurstMetadata, pixels: np.ndarray, chunks: tuple, held: HeldLease
) -> bool:
    """`append_date` while holding the group's writer lease."""
    path = burst_group_path(burst.burst_id, burst.polarization)
    doc, version = _read_group_doc(store, path)
    committed = doc is not None and doc.get("consolidated_metadata") is not None
    dates = list(doc["attributes"].get("dates", [])) if doc is not None and committed else []
    if any(d["date_key"] == burst.date_key for d in dates):
        return False
    n = len(dates)
    root = zarr.open_group(store.zarr_store(SLC_STORE), mode="a", zarr_format=3)
    held.check()
    if not committed:
        # a group never committed (first ingest killed early) holds nothing visible: (re)make it
        _create_group(store, root, path, burst, chunks, held)
        doc, version = _read_group_doc(store, path)
    if doc is None:  # another writer removed the group just made
        raise _CommitConflict(path)
    if committed and doc["attributes"].get("swath") != burst.swath:
        raise ConflictError(f"{path}: holds swath {doc['attributes'].get('swath')}, not {burst.swath}")
    group = _group(root, path)
    arrays = {name: _array(group, name) for name in ["slc", "time", "slant_range", *_PER_DATE]}
    lines = max(arrays["slc"].shape[1], burst.lines)
    samples = max(arrays["slc"].shape[2], burst.samples)

    # 1. chunks of index n, written through a view whose shape already includes it
    slc_view = _view(arrays["slc"], (n + 1, lines, samples, 2))
    step = arrays["slc"].chunks[1]
    for r0 in range(0, lines, step):  # one row of chunks at a time, the lease checked before each
        held.check()
        r1 = min(r0 + step, lines)
        block = np.zeros((r1 - r0, samples, 2), np.int16)
        if r0 < burst.lines:  # a smaller date is padded with the fill value
            block[: min(r1, burst.lines) - r0, : burst.samples] = pixels[r0:r1]
        slc_view[n, r0:r1] = block
    time_values = np.append(
        np.asarray(arrays["time"][:n]) if n else np.array([], "int64"),
        (np.datetime64(burst.sensing_start, "ns") - np.datetime64(0, "ns")) // _NS,
    )
    held.check()
    _view(arrays["time"], (n + 1,))[:] = time_values
    values = _per_date_values(burst)
    for name in _PER_DATE:
        _view(arrays[name], (n + 1,))[n] = values[name]
    attrs = dict(doc["attributes"])
    first = attrs.get("reference", {})
    slant_range = first.get("slant_range_first_sample", burst.slant_range_first_sample_m) + (
        np.arange(samples) * first.get("range_pixel_spacing", burst.range_pixel_spacing_m)
    )
    _view(arrays["slant_range"], (samples,))[:] = slant_range

    # 2. the date's full metadata
    held.check()
    store.write_bytes(
        date_metadata_path(burst.burst_id, burst.polarization, burst.date_key),
        burst.model_dump_json().encode(),
    )

    # 3. each array's own metadata, then 4. the group's consolidated metadata (the commit)
    held.check()
    arrays["slc"].resize((n + 1, lines, samples, 2))
    arrays["slant_range"].resize((samples,))
    for name in ["time", *_PER_DATE]:
        arrays[name].resize((n + 1,))
    attrs["dates"] = [*dates, {"index": n, "date_key": burst.date_key, "product_id": burst.product_id}]
    attrs.setdefault(
        "reference",
        {
            "slant_range_first_sample": burst.slant_range_first_sample_m,
            "range_pixel_spacing": burst.range_pixel_spacing_m,
        },
    )
    held.check()
    if not _commit(store, path, attrs, arrays, version, held.check):
        raise _CommitConflict(path)
    return True


def _group(root: zarr.Group, path: str) -> zarr.Group:
    """The group at ``path`` under ``root``; CubeFormatError if an array is there instead."""
    node = root[path]
    if not isinstance(node, zarr.Group):
        raise CubeFormatError(f"{SLC_STORE}/{path} is an array, expected a burst group")
    return node


def _array(group: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` of a burst group; CubeFormatError if a group is there instead."""
    node = group[name]
    if not isinstance(node, zarr.Array):
        raise CubeFormatError(f"{group.path}/{name} is a group, expected an array of the burst")
    return node


def _view(array: zarr.Array, shape: tuple[int, ...]) -> zarr.Array:
    """The same array with another shape, in memory only: writing chunks, not metadata."""
    meta = dataclasses.replace(array.metadata, shape=shape)
    inner = array._async_array
    return Array(AsyncArray(metadata=meta, store_path=inner.store_path, config=inner.config))


def _commit(
    store: CubeStore,
    path: str,
    attrs: dict,
    arrays: dict[str, zarr.Array],
    version: str | None,
    guard: Callable[[], None],
) -> bool:
    """Write the group's zarr.json atomically if it is still at ``version``.

    The new zarr.json holds ``attributes`` and the consolidated metadata. False (nothing
    written) if another writer changed it.

    This single object write is what makes a new date visible.
    """
    prefix = f"{SLC_STORE}/{path}"
    members = {name: _metadata_json(array) for name, array in arrays.items()}
    doc = {
        "attributes": attrs,
        "zarr_format": 3,
        "node_type": "group",
        "consolidated_metadata": {
            "kind": "inline",
            "must_understand": False,
            "metadata": members,
        },
    }
    body = json.dumps(doc, indent=1, default=str).encode()
    return store.write_if(f"{prefix}/zarr.json", body, version, guard)


def _metadata_json(array: zarr.Array) -> dict:
    """The array's ``zarr.json`` as this writer last wrote it (its shape after the resize)."""
    buffers = array.metadata.to_buffer_dict(default_buffer_prototype())
    return json.loads(buffers["zarr.json"].to_bytes())


def _create_group(
    store: CubeStore, root: zarr.Group, path: str, burst: BurstMetadata, chunks: tuple, held: HeldLease
) -> None:
    """Make ``path`` a burst group with no date.

    Writes its attributes, then each array it lacks (shape 0 along time).

    Safe against a writer that took the group over meanwhile: the attributes are written
    with a compare-and-swap that fails (`_CommitConflict`) once any date is committed, and
    arrays are only ever added, never overwritten or deleted (those of a killed writer are
    reused: they hold nothing visible).
    """
    root.require_group(path)
    doc, version = _read_group_doc(store, path)
    if doc is None or doc.get("consolidated_metadata") is not None:
        raise _CommitConflict(path)
    attrs = {
        "sarcube_format_version": FORMAT_VERSION,
        "burst_id": burst.burst_id,
        "swath": burst.swath,
        "polarization": burst.polarization,
        "relative_orbit": burst.relative_orbit,
        "orbit_direction": burst.orbit_direction,
        "wavelength_m": burst.wavelength_m,
        "dates": [],
    }
    body = {"attributes": attrs, "zarr_format": 3, "node_type": "group"}
    group_doc = f"{SLC_STORE}/{path}/zarr.json"
    if not store.write_if(group_doc, json.dumps(body, indent=1).encode(), version, guard=held.check):
        raise _CommitConflict(path)
    group = _group(root, path)
    have = set(group.array_keys())
    for name, spec in _array_specs(burst, chunks).items():
        if name not in have:
            with contextlib.suppress(ContainsArrayError):  # another writer added it just now
                group.create_array(name, **spec)


def _array_specs(burst: BurstMetadata, chunks: tuple) -> dict[str, dict]:
    """The arrays of a burst group: name → `zarr.Group.create_array` arguments."""
    # crc32c last: every chunk carries a checksum of its stored bytes, checked on every read
    compressors = [ZstdCodec(level=1), Crc32cCodec()]
    per_date = {
        "shape": (0,), "chunks": (TIME_CHUNK,), "compressors": compressors, "dimension_names": ["time"]
    }
    specs: dict[str, dict] = {
        "slc": {
            "shape": (0, burst.lines, burst.samples, 2),
            "chunks": (1, min(chunks[1], burst.lines), min(chunks[2], burst.samples), 2),
            "dtype": "int16",
            "fill_value": 0,
            "compressors": compressors,
            "serializer": BytesCodec(),
            "dimension_names": ["time", "line", "sample", "part"],
            "attributes": {
                "long_name": "single look complex burst, as in the SAFE",
                "units": "1",
                "description": "complex int16 samples: part 0 is the real, part 1 the imaginary "
                "component; pixels outside the valid window are 0",
                "coordinates": " ".join(["slant_range", *_PER_DATE]),
            },
        },
        "time": {
            **per_date,
            "dtype": "int64",
            "fill_value": 0,
            "attributes": {
                "standard_name": "time",
                "long_name": "zero-Doppler azimuth time of the burst's first line (UTC)",
                "units": "nanoseconds since 1970-01-01",
                "calendar": "proleptic_gregorian",
            },
        },
        "slant_range": {
            "shape": (0,),
            "chunks": (1 << 16,),
            "dtype": "float64",
            "fill_value": 0.0,
            "compressors": compressors,
            "dimension_names": ["sample"],
            "attributes": {
                "long_name": "one-way slant range of each sample, for the group's first date",
                "units": "m",
                "description": "per-date offsets: slant_range_first_sample",
            },
        },
    }
    for name, (dtype, units, description) in _PER_DATE.items():
        specs[name] = {**per_date, "dtype": dtype, "fill_value": 0,
                       "attributes": {"units": units, "long_name": description}}
    return specs


def _per_date_values(burst: BurstMetadata) -> dict[str, float | int]:
    return {
        "slant_range_first_sample": burst.slant_range_first_sample_m,
        "azimuth_time_interval": burst.azimuth_time_interval,
        "lines": burst.lines,
        "samples": burst.samples,
        "first_valid_line": burst.first_valid_line,
        "last_valid_line": burst.last_valid_line,
        "first_valid_sample": burst.first_valid_sample,
        "last_valid_sample": burst.last_valid_sample,
        "absolute_orbit": burst.absolute_orbit,
    }


def iter_new(store: CubeStore, bursts: Iterable[BurstMetadata]) -> list[BurstMetadata]:
    """The bursts whose dates the cube does not hold yet."""
    out = []
    for b in bursts:
        keys = {d["date_key"] for d in committed_dates(open_burst_group(store, b.burst_id, b.polarization))}
        if b.date_key not in keys:
            out.append(b)
    return out
