"""Scrub a cube: read every stored chunk, check its checksum and shape, clean up leftovers.

``sarcube verify CUBE`` runs `verify_cube`. What it checks (docs/cube-format.md, "Integrity"):

- every SLC chunk of every committed date: it must decode with its array's codecs (zstd, and
  from format 1.1 the crc32c checksum) to its chunk shape. A bad SLC chunk cannot be
  recomputed: the report names the burst, polarization and date to restore from its SAFE;
- every ARD chunk: crc32c and shape, as the engine checks it before serving. A bad one (or one
  written before format 1.1, without a checksum) is recomputed on its next read anyway;
  ``repair`` deletes it now;
- `restore_slc` rewrites, from their SAFEs, the pixels of committed dates with bad SLC chunks
  (``sarcube verify --restore SAFE``): ingest skips a date the cube already holds;
- leftovers of killed processes: ``*.partial`` temporary files older than ``partial_age_s``
  and expired leases, reported, and removed with ``repair``. They are harmless, so they are
  not problems (exit code 0).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np
import zarr
from tqdm import tqdm
from zarr.codecs import Crc32cCodec
from zarr.core.metadata import ArrayV3Metadata

from cube.errors import ConflictError, CorruptChunkError, CubeFormatError, InputError, NotFoundError
from cube.format import CUBE_DOC, SLC_STORE, burst_group_path
from cube.materialize import ARD_STORE, LEASE_DIR, decode_block, default_lease_backend
from cube.storage import (
    LEASE_DB_NAME,
    PARTIAL_SUFFIX,
    CubeStore,
    LeaseBackend,
    exclusive,
    list_burst_groups,
    open_store,
    store_lease_backend,
)

PARTIAL_AGE_S = 15 * 60.0
"""A ``*.partial`` file older than this (s) belongs to a killed writer: no write takes so long."""
_ARD_CHUNK = re.compile(r"^(?P<array>.+)/c/(?P<i>\d+)/(?P<j>\d+)$")
_SLC_CHUNK = re.compile(r"^c(?:/\d+)+$")


@dataclass(frozen=True)
class Problem:
    """One bad chunk (or unreadable metadata).

    ``store`` is ``slc`` or ``ard``; ``path`` is relative to the cube root (SLC) or to the
    ARD store; ``action`` says what to do (or what ``repair`` did).
    """

    store: str
    path: str
    detail: str
    action: str
    burst_id: str = ""
    polarization: str = ""
    date_key: str = ""
    product_id: str = ""

    def line(self) -> str:
        """One line for the operator."""
        where = " ".join(p for p in (self.burst_id, self.polarization, self.date_key) if p)
        return f"{self.store.upper()} {where}: {self.path}: {self.detail}; {self.action}"


@dataclass
class VerifyReport:
    """What `verify_cube` read and found."""

    cube: str
    ard: str
    slc_chunks: int = 0
    slc_chunks_without_checksum: int = 0  # groups created before format 1.1: decoded only
    ard_chunks: int = 0
    problems: list[Problem] = field(default_factory=list)
    ard_chunks_deleted: int = 0
    stale_partials: list[str] = field(default_factory=list)
    partials_removed: int = 0
    expired_leases: int = 0
    leases_removed: int = 0
    repair: bool = False

    @property
    def ok(self) -> bool:
        """No bad chunk was found (leftovers do not count)."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (``sarcube verify --json``)."""
        return {**asdict(self), "ok": self.ok}

    def summary(self) -> str:
        """Several lines for the operator: the problems, then the counts."""
        lines = [p.line() for p in self.problems]
        lines.append(
            f"{self.cube}: {self.slc_chunks} SLC chunk(s) read "
            f"({self.slc_chunks_without_checksum} without checksum, written before format 1.1), "
            f"{self.ard_chunks} ARD chunk(s) read in {self.ard}"
        )
        bad_slc = sum(p.store == "slc" for p in self.problems)
        bad_ard = len(self.problems) - bad_slc
        lines.append(
            f"{bad_slc} bad SLC chunk(s) (restore the dates named above: --restore SAFE), "
            f"{bad_ard} bad ARD chunk(s) "
            + (f"({self.ard_chunks_deleted} deleted: recomputed on next read)" if self.repair
               else "(recomputed on next read; --repair deletes them now)")
        )
        verb = "removed" if self.repair else "found (--repair removes them)"
        lines.append(
            f"leftovers: {len(self.stale_partials)} stale *{PARTIAL_SUFFIX} file(s), "
            f"{self.expired_leases} expired lease(s) {verb}"
        )
        lines.append("OK" if self.ok else "PROBLEMS FOUND")
        return "\n".join(lines)


def verify_cube(
    cube: CubeStore,
    ard: CubeStore | None = None,
    leases: LeaseBackend | None = None,
    *,
    repair: bool = False,
    partial_age_s: float = PARTIAL_AGE_S,
    progress: bool = False,
) -> VerifyReport:
    """Read every SLC and ARD chunk of ``cube`` and check it.

    With ``repair`` delete bad ARD chunks, stale ``*.partial`` files and expired leases.

    Parameters
    ----------
    cube : the SLC cube (NotFoundError if it has no cube.json).
    ard : the ARD store (default ``<cube>/ard.zarr``; absent is fine).
    leases : the lease backend (default: beside the ARD store, as the engine uses it).
    repair : delete what can be deleted safely (never an SLC chunk).
    partial_age_s : age (s) from which a ``*.partial`` file counts as left by a killed writer.
    progress : a tqdm bar on stderr.
    """
    if not cube.exists(CUBE_DOC):
        raise NotFoundError(f"{cube.url}: not a sarcube cube (no {CUBE_DOC}); check the path")
    ard = ard or open_store(cube.child_url(ARD_STORE), cube.storage_options)
    report = VerifyReport(cube=cube.url, ard=ard.url, repair=repair)
    slc = list(_slc_work(cube, report))
    ard_chunks = _ard_work(ard)
    with tqdm(total=len(slc) + len(ard_chunks), unit="chunk", desc="verify", disable=not progress) as bar:
        for check in slc:
            check(report)
            bar.update()
        for rel, meta in ard_chunks:
            _check_ard_chunk(ard, rel, meta, report)
            bar.update()
    _partials(cube, ard, report, partial_age_s)
    _leases(ard, leases, report)
    _leases(cube, None, report)  # the ingest writers' leases, beside the cube
    return report


# -- SLC ----------------------------------------------------------------------------------------
def _slc_work(cube: CubeStore, report: VerifyReport):
    """One callable per stored SLC chunk of a committed date (and a problem per unreadable group)."""
    root = cube.zarr_store(SLC_STORE, read_only=True)
    for burst_id, pol in list_burst_groups(cube):
        path = burst_group_path(burst_id, pol)
        try:
            group = zarr.open_consolidated(root, path=path, mode="r")
            dates = list(cast("list[dict[str, Any]]", group.attrs.get("dates", [])))
            arrays = dict(group.arrays())
        except Exception as exc:  # any parse failure of the group's zarr.json
            report.problems.append(Problem(
                "slc", f"{SLC_STORE}/{path}/zarr.json", f"group metadata unreadable ({exc})",
                "every date of this burst group is unreadable: restore the file from a backup, or "
                "move the group away and re-ingest its dates from their SAFEs", burst_id, pol,
            ))
            continue
        for name, array in arrays.items():
            codecs = array.metadata.codecs if isinstance(array.metadata, ArrayV3Metadata) else ()
            has_crc = any(isinstance(c, Crc32cCodec) for c in codecs)
            grid = [-(-s // c) for s, c in zip(array.shape, array.chunks, strict=True)]
            prefix = f"{SLC_STORE}/{path}/{name}"
            for key in _chunk_keys(cube, prefix):
                index = tuple(int(p) for p in key.split("/")[1:])
                if len(index) != len(grid) or any(k >= n for k, n in zip(index, grid, strict=True)):
                    continue  # beyond the committed shape: a date not committed yet (rewritten by ingest)
                date = dates[index[0]] if name == "slc" and index[0] < len(dates) else {}
                yield _SlcCheck(array, f"{prefix}/{key}", index, has_crc, burst_id, pol, date)


def _chunk_keys(store: CubeStore, prefix: str) -> list[str]:
    """Chunk keys (``c/0/1/...``) stored under an array's folder."""
    return [key for rel in store.find(f"{prefix}/c") if _SLC_CHUNK.match(key := f"c/{rel}")]


@dataclass(frozen=True)
class _SlcCheck:
    array: zarr.Array
    path: str
    index: tuple[int, ...]
    has_crc: bool
    burst_id: str
    polarization: str
    date: dict

    def __call__(self, report: VerifyReport) -> None:
        report.slc_chunks += 1
        report.slc_chunks_without_checksum += not self.has_crc
        try:
            block = np.asarray(self.array.get_block_selection(self.index))
            sizes = zip(self.index, self.array.chunks, self.array.shape, strict=True)
            expected = tuple(min(c, s - k * c) for k, c, s in sizes)
            if block.shape != expected:
                raise ValueError(f"decoded to shape {block.shape}, expected {expected}")
        except Exception as exc:  # zarr raises ValueError (checksum), RuntimeError (zstd), ...
            date_key = self.date.get("date_key", "")
            if date_key:
                action = (f"the SLC cannot be recomputed: restore date {date_key} of {self.burst_id} "
                          f"{self.polarization} from its SAFE {self.date.get('product_id', '')} "
                          "(sarcube verify CUBE --restore SAFE)")
            else:
                action = (f"this chunk holds values of every date of {self.burst_id} {self.polarization}: "
                          "move the group away and re-ingest its dates from their SAFEs")
            report.problems.append(Problem(
                "slc", self.path, _short(exc), action, self.burst_id, self.polarization, date_key,
                self.date.get("product_id", ""),
            ))


def restore_slc(
    cube: CubeStore, sources: Iterable[str], problems: Iterable[Problem], *,
    measurement: str | None = None, measurement_offset: tuple[int, int] = (0, 0),
) -> list[Problem]:
    """Rewrite the pixels of every committed date that has a bad SLC chunk from its SAFE in ``sources``.

    Returns the problems restored (a chunk then holds what ingest wrote).

    Only the pixel chunks of that date's time index are written, with the array's own codecs,
    each atomically; metadata and the other dates are untouched. A bad chunk of a per-date
    array (``time``, ``lines`` ...) is not restored here. A date ingested from a crop
    (``measurement``, ``measurement_offset``: one annotation XML and the window of the swath its
    TIFF holds, as ingest took them) is restored from the same crop: a source whose valid window
    differs from the one stored is refused (ConflictError) before anything is written.
    """
    from cube.ingest import open_safe

    sources = list(sources)
    if measurement is not None and len(sources) != 1:
        raise InputError(f"--measurement {measurement}: give exactly one annotation XML with it, "
                         f"not {len(sources)} sources")
    wanted: dict[tuple[str, str, str], list[Problem]] = {}
    for p in problems:
        if p.store == "slc" and p.date_key:
            wanted.setdefault((p.burst_id, p.polarization, p.date_key), []).append(p)
    done: list[Problem] = []
    for source in sources:
        product = open_safe(source, measurement=measurement, measurement_offset=measurement_offset)
        for burst in product.bursts():
            key = (burst.burst_id, burst.polarization, burst.date_key)
            if key not in wanted:
                continue
            stored = product.covered(burst)
            if stored is None:
                raise InputError(f"{measurement}: does not cover {burst.burst_id} {burst.polarization} "
                                 f"{burst.date_key} (burst index {burst.burst_index}); give the TIFF and "
                                 "--measurement-offset that date was ingested with")
            _rewrite_pixels(cube, stored, functools.partial(product.read_burst, burst), source)
            done += wanted.pop(key)
    return done


def _rewrite_pixels(cube: CubeStore, burst, pixels: Callable[[], np.ndarray], source: str) -> None:
    path = burst_group_path(burst.burst_id, burst.polarization)
    with exclusive(store_lease_backend(cube, LEASE_DIR), f"{SLC_STORE}/{path}") as held:
        held.check()  # the group's writer lease, as ingest takes it: no append runs meanwhile
        _rewrite_held(cube, burst, pixels, path, source)


#: The per-date arrays that say which pixels of a date hold data (its valid window).
_VALID_WINDOW = ("first_valid_line", "last_valid_line", "first_valid_sample", "last_valid_sample")


def _rewrite_held(cube: CubeStore, burst, read: Callable[[], np.ndarray], path: str, source: str) -> None:
    """Write the pixels ``read()`` gives (int16, (lines, samples, 2)) over the date ``burst``.

    First checks that ``burst`` (as it would be stored: its valid window) is the date the cube holds.
    """
    group = zarr.open_consolidated(cube.zarr_store(SLC_STORE), path=path, mode="r+")
    dates = cast("list[dict[str, Any]]", group.attrs["dates"])
    record = next(d for d in dates if d["date_key"] == burst.date_key)
    slc = group["slc"]  # the committed shape: writes cannot reach a date not committed yet
    if not isinstance(slc, zarr.Array):
        raise CubeFormatError(f"{SLC_STORE}/{path}/slc is a group, expected the burst's SLC array")
    lines, samples = slc.shape[1:3]
    if record.get("product_id") not in (None, burst.product_id) or burst.lines > lines \
            or burst.samples > samples:
        raise ConflictError(
            f"{burst.burst_id} {burst.polarization} {burst.date_key}: the cube holds it from "
            f"{record.get('product_id')} ({lines} x {samples}), not {burst.product_id} "
            f"({burst.lines} x {burst.samples})"
        )
    held = tuple(int(np.asarray(group[name][record["index"]])) for name in _VALID_WINDOW)
    given = tuple(int(getattr(burst, name)) for name in _VALID_WINDOW)
    if held != given:
        raise ConflictError(
            f"{burst.burst_id} {burst.polarization} {burst.date_key}: the cube holds valid lines "
            f"{held[0]}..{held[1]}, samples {held[2]}..{held[3]} of it, {source} gives lines "
            f"{given[0]}..{given[1]}, samples {given[2]}..{given[3]}: restore it with the "
            "--measurement TIFF and --measurement-offset of its ingest (none for a date ingested from "
            "its SAFE); this date was not written"
        )
    pixels = read()
    full = np.zeros(slc.shape[1:], slc.dtype)  # pixels beyond the date's burst are 0, as ingest pads
    full[: pixels.shape[0], : pixels.shape[1]] = pixels
    slc[record["index"]] = full


# -- ARD ----------------------------------------------------------------------------------------
def _ard_work(ard: CubeStore) -> list[tuple[str, dict | None]]:
    """(chunk path, its array's zarr.json or None) of every stored ARD chunk."""
    metas: dict[str, dict | None] = {}
    out = []
    for rel in ard.find():
        m = _ARD_CHUNK.match(rel)
        if not m:
            continue
        array = m["array"]
        if array not in metas:
            try:
                metas[array] = ard.read_json(f"{array}/zarr.json")
            except (NotFoundError, ValueError):
                metas[array] = None
        out.append((rel, metas[array]))
    return out


def _check_ard_chunk(ard: CubeStore, rel: str, meta: dict | None, report: VerifyReport) -> None:
    report.ard_chunks += 1
    try:
        raw = ard.read_bytes(rel)
    except NotFoundError:
        return  # deleted meanwhile (the engine replaced it)
    try:
        if meta is None:
            raise CorruptChunkError("its array has no readable zarr.json")
        decode_block(raw, meta["data_type"], tuple(meta["chunk_grid"]["configuration"]["chunk_shape"]))
    except (CorruptChunkError, KeyError, TypeError) as exc:
        parts = rel.split("/")
        if report.repair:
            ard.delete(rel)
            report.ard_chunks_deleted += 1
            action = "deleted: recomputed on next read"
        else:
            action = "recomputed on its next read; --repair deletes it now"
        report.problems.append(Problem(
            "ard", rel, _short(exc), action, parts[0], parts[1].upper() if len(parts) > 1 else "",
            _date_of(parts),
        ))


def _date_of(parts: list[str]) -> str:
    """The date (pair, or ``all_dates``) segment of an ARD chunk path: the one before ``c``.

    ``<burst>/<pol>/<product>/<version>[/<variable>]/<dates>/c/<i>/<j>``
    """
    return parts[-4] if len(parts) >= 7 and parts[-3] == "c" else ""


# -- leftovers ----------------------------------------------------------------------------------
def _partials(cube: CubeStore, ard: CubeStore, report: VerifyReport, age_s: float) -> None:
    """Stale ``*.partial`` files under the cube and the ARD store.

    Local stores only: object stores publish with one PUT and leave none.
    """
    inside = ard.root.startswith(cube.root.rstrip("/") + "/")
    for store in (cube,) if inside else (cube, ard):  # the ARD store lies inside the cube
        for path in store.stale_partials(age_s):
            report.stale_partials.append(path)
            if report.repair:
                try:
                    store.fs.rm_file(path)
                except FileNotFoundError:
                    continue  # renamed or removed meanwhile
                report.partials_removed += 1


def _leases(ard: CubeStore, leases: LeaseBackend | None, report: VerifyReport) -> None:
    """Expired leases of the backend (``purge_expired``); the default local backend only if it exists."""
    if leases is None:
        if ard.is_local and not ard.exists(f"{LEASE_DIR}/{LEASE_DB_NAME}"):
            return
        leases = default_lease_backend(ard)
    purge = getattr(leases, "purge_expired", None)
    if purge is None:  # DynamoDB: its TTL sweeper deletes expired lease items
        return
    expired = purge(dry_run=not report.repair)
    report.expired_leases += expired
    if report.repair:
        report.leases_removed += expired


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def _json_default(obj: object) -> object:
    return obj.tolist() if isinstance(obj, np.ndarray) else str(obj)


def report_json(report: VerifyReport) -> str:
    """The report as indented JSON."""
    return json.dumps(report.as_dict(), indent=1, default=_json_default)
