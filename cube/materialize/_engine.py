"""The lazy engine: a product chunk is computed the first time it is asked for, then kept.

``ArdEngine.chunk_bytes`` returns a chunk's stored bytes, computing it first if it is absent.
Concurrent callers (threads, processes, Lambdas) compute a chunk once: the computation runs
under a lease (`single_flight`) and is published with one atomic write. Products other than
``cslc`` take their pixels from the default CSLC variant's chunks, which are computed the
same way when absent, chunk by chunk.

Every chunk read is checked (crc32c, `check_chunk`): a chunk that fails is never served; it
is deleted and computed again, as if it were absent.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from cube.errors import CorruptChunkError, InputError, NotFoundError
from cube.format import BURST_ID_PATTERN
from cube.geometry._grid import Window
from cube.materialize._ard import (
    ARD_STORE,
    CODECS,
    Variant,
    array_metadata,
    array_path,
    check_chunk,
    chunk_path,
    decode_chunk,
    encode_chunk,
    group_metadata,
)
from cube.products import BurstStack, CslcOptions
from cube.products._stack import _window_bounds as _bounds
from cube.storage import (
    CubeStore,
    LeaseBackend,
    open_store,
    single_flight,
    storage_errors,
    store_lease_backend,
)

log = logging.getLogger(__name__)

ChunkState = Literal["absent", "present", "computing"]
CSLC = Variant("cslc", CslcOptions())
"""The CSLC every other product is computed from (default options)."""
LEASE_DIR = ".leases"
_ATTEMPTS = 3  # reads of a chunk that fails its check before giving up (races with other deleters)


@dataclass
class Tally:
    """What one request or job cost: chunks computed per product, hits, corrupt chunks, bytes."""

    computed: Counter = field(default_factory=Counter)
    hits: int = 0
    corrupt: int = 0  # stored chunks that failed their checksum (deleted and computed again)
    bytes_written: int = 0
    bytes_read: int = 0
    compute_s: float = 0.0

    @property
    def chunks_computed(self) -> int:
        return sum(self.computed.values())

    def add(self, other: Tally) -> None:
        self.computed.update(other.computed)
        self.hits += other.hits
        self.corrupt += other.corrupt
        self.bytes_written += other.bytes_written
        self.bytes_read += other.bytes_read
        self.compute_s += other.compute_s


def default_lease_backend(ard: CubeStore) -> LeaseBackend:
    """Leases beside the ARD store: SQLite in ``<ard>/.leases`` locally, objects on ``s3://``."""
    return store_lease_backend(ard, LEASE_DIR)


class ArdEngine:
    """Product chunks of a cube, computed on first request and stored in the ARD store.

    Parameters
    ----------
    cube : the SLC cube.
    ard : the ARD store (default ``<cube>/ard.zarr``).
    leases : lease backend for single flight (default beside the ARD store).
    lease_ttl_s : how long a crashed computation blocks others, s.
    wait_s : how long a request waits for another worker's computation before BusyError, s.
    refresh_s : how often a burst's date list is re-read (new dates from ingest), s.
    """

    def __init__(
        self,
        cube: CubeStore,
        ard: CubeStore | None = None,
        leases: LeaseBackend | None = None,
        *,
        lease_ttl_s: float = 60.0,
        wait_s: float = 120.0,
        refresh_s: float = 10.0,
    ):
        self.cube = cube
        self.ard = ard or open_store(cube.child_url(ARD_STORE), cube.storage_options)
        self.leases = leases or default_lease_backend(self.ard)
        self.lease_ttl_s = lease_ttl_s
        self.wait_s = wait_s
        self.refresh_s = refresh_s
        self.totals = Tally()
        self._lock = threading.Lock()
        self._stacks: dict[tuple[str, str], tuple[BurstStack, float]] = {}
        self._written_meta: set[str] = set()
        self._nesting = threading.local()  # depth of chunk_bytes calls in this thread

    # -- bursts ---------------------------------------------------------------------------------
    def stack(self, burst_id: str, polarization: str = "VV") -> BurstStack:
        """The burst ID's stack (re-read every ``refresh_s`` to see new dates)."""
        if not re.fullmatch(BURST_ID_PATTERN, burst_id):  # never a path outside the cube
            raise NotFoundError(f"{burst_id[:40]!r} is not a burst ID (like t071_151200_iw3)")
        key = (burst_id, polarization.upper())
        with self._lock:
            hit = self._stacks.get(key)
            if hit and time.monotonic() - hit[1] < self.refresh_s:
                return hit[0]
        with storage_errors(self.cube.url):
            stack = BurstStack(self.cube, burst_id, polarization)
        with self._lock:
            self._stacks[key] = (stack, time.monotonic())
        return stack

    def shape(self, burst_id: str, polarization: str, variant: Variant) -> tuple[int, int]:
        """(rows, cols) of the variant's product grid."""
        return self.stack(burst_id, polarization).shape(variant.product, variant.options)

    def chunk_counts(self, burst_id: str, polarization: str, variant: Variant) -> tuple[int, int]:
        """Number of chunks along rows and columns."""
        rows, cols = self.shape(burst_id, polarization, variant)
        cy, cx = variant.chunks
        return -(-rows // cy), -(-cols // cx)

    def check_dates(
        self, burst_id: str, polarization: str, variant: Variant, date_keys: tuple[str, ...]
    ) -> tuple[str, ...]:
        """``date_keys`` if they fit the product and exist; NotFoundError/InputError otherwise."""
        need = 2 if variant.spec.pair else 1
        if len(date_keys) != need:
            raise InputError(f"{variant.product} needs {need} date(s), got {len(date_keys)}")
        stack = self.stack(burst_id, polarization)
        for d in date_keys:
            stack.burst(d)  # NotFoundError listing the dates
        return tuple(date_keys)

    # -- chunks ---------------------------------------------------------------------------------
    def _chunk_window(
        self, burst_id: str, polarization: str, variant: Variant, i: int, j: int
    ) -> tuple[slice, slice]:
        rows, cols = self.shape(burst_id, polarization, variant)
        ny, nx = self.chunk_counts(burst_id, polarization, variant)
        if not (0 <= i < ny and 0 <= j < nx):
            raise NotFoundError(
                f"{burst_id} {variant.product}: no chunk ({i}, {j}); the grid has {ny} x {nx} chunks"
            )
        cy, cx = variant.chunks
        return slice(i * cy, min((i + 1) * cy, rows)), slice(j * cx, min((j + 1) * cx, cols))

    def state(
        self, burst_id: str, polarization: str, variant: Variant, date_keys: tuple[str, ...], i: int, j: int
    ) -> ChunkState:
        """Whether chunk (i, j) is present, being computed, or absent."""
        rel = chunk_path(burst_id, polarization, variant, date_keys, i, j)
        if self.ard.exists(rel):
            return "present"
        lease = self.leases.peek(rel) if hasattr(self.leases, "peek") else None
        return "computing" if lease is not None and lease.expires > time.time() else "absent"

    def chunk_bytes(
        self,
        burst_id: str,
        polarization: str,
        variant: Variant,
        date_keys: tuple[str, ...],
        i: int,
        j: int,
        tally: Tally | None = None,
    ) -> bytes:
        """The stored bytes of chunk (i, j), computed first if absent (once among all callers).

        The bytes are checked (crc32c) before they are returned: a stored chunk that fails is
        deleted and computed again. CorruptChunkError if even the recomputed chunk fails
        (the ARD store's storage corrupts what it stores).
        """
        rel = chunk_path(burst_id, polarization, variant, date_keys, i, j)
        mine = Tally()
        try:
            for attempt in range(_ATTEMPTS):
                try:
                    raw = self.ard.read_bytes(rel)
                    check_chunk(raw)
                    mine.hits += attempt == 0
                    return raw
                except NotFoundError:
                    pass
                except CorruptChunkError as exc:
                    log.warning("%s: %s; deleting it to compute it again", self.ard.child_url(rel), exc)
                    mine.corrupt += 1
                    self.ard.delete(rel)
                if attempt == 0:
                    date_keys = self.check_dates(burst_id, polarization, variant, date_keys)
                    window = self._chunk_window(burst_id, polarization, variant, i, j)
                self._nesting.depth = getattr(self._nesting, "depth", 0) + 1
                try:
                    single_flight(
                        self.leases,
                        rel,
                        is_done=lambda: self.ard.exists(rel),
                        compute=functools.partial(self._compute, burst_id, polarization, variant,
                                                  date_keys, i, j, window, mine),
                        ttl_s=self.lease_ttl_s,
                        timeout_s=self.wait_s,
                    )
                finally:
                    self._nesting.depth -= 1
            raise CorruptChunkError(
                f"{self.ard.child_url(rel)}: computed {_ATTEMPTS} times and still unreadable or failing "
                "its crc32c check; check the storage of the ARD store (disk, bucket) and retry"
            )
        finally:
            if not getattr(self._nesting, "depth", 0):  # nested CSLC chunks reach totals via the outer call
                with self._lock:
                    self.totals.add(mine)
            if tally is not None:
                tally.add(mine)

    def _compute(
        self,
        burst_id: str,
        polarization: str,
        variant: Variant,
        date_keys: tuple[str, ...],
        i: int,
        j: int,
        window: Window,
        tally: Tally,
    ) -> None:
        t0 = time.perf_counter()
        stack = self.stack(burst_id, polarization)
        # nested CSLC chunks add their own reads and time to ``tally``: count this thread's
        # reads and the elapsed time once, nested ones included
        read_before, tally_read, compute_before = stack.thread_bytes_read, tally.bytes_read, tally.compute_s

        def cslc_source(date: str, grid_window: Window) -> np.ndarray:
            return self.read(burst_id, polarization, CSLC, (date,), grid_window, tally)

        with storage_errors(self.cube.url):  # the SLC pixels are read here
            data = stack.compute(variant.product, date_keys, window, variant.options, cslc=cslc_source)
        raw = encode_chunk(data, variant)
        self._ensure_array(stack, variant, date_keys)
        # fsynced before its rename; the directory is not: a chunk lost in a crash is recomputed
        rel = chunk_path(burst_id, polarization, variant, date_keys, i, j)
        self.ard.write_bytes(rel, raw, sync_dir=False)
        tally.computed[variant.product] += 1
        tally.bytes_written += len(raw)
        tally.bytes_read = tally_read + stack.thread_bytes_read - read_before
        tally.compute_s = compute_before + time.perf_counter() - t0  # nested CSLC time included once
        log.info(
            "computed %s %s %s %s chunk (%d, %d) in %.0f ms",
            burst_id,
            variant.key,
            "_".join(date_keys),
            polarization,
            i,
            j,
            1e3 * (time.perf_counter() - t0),
        )

    def _ensure_array(self, stack: BurstStack, variant: Variant, date_keys: tuple[str, ...]) -> None:
        """Write the zarr.json of the (variant, dates) array and of its parent groups, once."""
        path = array_path(stack.burst_id, stack.polarization, variant, date_keys)
        if path in self._written_meta:
            return
        parts = path.split("/")
        groups = {
            "": {"description": "sarcube ARD store: computed product chunks"},
            parts[0]: {"burst_id": stack.burst_id},
            "/".join(parts[:2]): {"polarization": stack.polarization},
            "/".join(parts[:3]): {"product": variant.product, "title": variant.spec.title},
            "/".join(parts[:4]): {
                "product": variant.product,
                "algorithm_version": variant.spec.version,
                "options": variant.options.model_dump(mode="json"),
            },
        }
        for rel, attrs in groups.items():
            doc = f"{rel}/zarr.json" if rel else "zarr.json"
            if not self.ard.exists(doc):
                self.ard.write_bytes(doc, group_metadata(attrs))
        shape = stack.shape(variant.product, variant.options)
        g = stack.grid
        ly, lx = variant.options.looks
        attrs = {
            "dates": list(date_keys),
            "epsg": g.epsg,
            "units": variant.spec.units,
            "transform": [g.x0, g.dx * lx, 0.0, g.y0, 0.0, -g.dy * ly],
        }
        doc = f"{path}/zarr.json"
        try:
            current = self.ard.read_json(doc).get("codecs")
        except NotFoundError:
            current = None
        if current != CODECS:  # absent, or written before format 1.1 (no crc32c): its chunks are recomputed
            self.ard.write_bytes(doc, array_metadata(variant, shape, variant.chunks, ["y", "x"], attrs))
        self._written_meta.add(path)

    def chunk(
        self,
        burst_id: str,
        polarization: str,
        variant: Variant,
        date_keys: tuple[str, ...],
        i: int,
        j: int,
        tally: Tally | None = None,
    ) -> np.ndarray:
        """Chunk (i, j) decoded and cropped to the product grid (computed first if absent)."""
        window = self._chunk_window(burst_id, polarization, variant, i, j)
        full = decode_chunk(
            self.chunk_bytes(burst_id, polarization, variant, date_keys, i, j, tally), variant
        )
        return full[: window[0].stop - window[0].start, : window[1].stop - window[1].start]

    def materialized(
        self, product: str, burst_id: str, date_keys: tuple[str, ...], polarization: str = "VV"
    ) -> bool:
        """Whether every chunk of a product's default variant is stored for these dates."""
        variant = Variant.of(product)
        try:
            ny, nx = self.chunk_counts(burst_id, polarization, variant)
        except (NotFoundError, InputError):
            return False
        base = f"{array_path(burst_id, polarization, variant, tuple(date_keys))}/c"
        return all(len(self.ard.list(f"{base}/{i}")) == nx for i in range(ny))

    # -- windows --------------------------------------------------------------------------------
    def chunks_of(
        self, burst_id: str, polarization: str, variant: Variant, window: Window | None
    ) -> list[tuple[int, int]]:
        """The (i, j) of the chunks a product-grid window touches."""
        rows, cols = self.shape(burst_id, polarization, variant)
        r0, r1, c0, c1 = _bounds(window, rows, cols)
        cy, cx = variant.chunks
        return [(i, j) for i in range(r0 // cy, -(-r1 // cy)) for j in range(c0 // cx, -(-c1 // cx))]

    def missing(
        self,
        burst_id: str,
        polarization: str,
        variant: Variant,
        date_keys: tuple[str, ...],
        window: Window | None,
    ) -> list[tuple[int, int]]:
        """The chunks of a window that are not present yet."""
        return [
            (i, j)
            for i, j in self.chunks_of(burst_id, polarization, variant, window)
            if not self.ard.exists(chunk_path(burst_id, polarization, variant, date_keys, i, j))
        ]

    def read(
        self,
        burst_id: str,
        polarization: str,
        variant: Variant,
        date_keys: tuple[str, ...],
        window: Window | None = None,
        tally: Tally | None = None,
    ) -> np.ndarray:
        """A product-grid window of one date (or pair), assembled from its chunks."""
        rows, cols = self.shape(burst_id, polarization, variant)
        r0, r1, c0, c1 = _bounds(window, rows, cols)
        out = np.empty((r1 - r0, c1 - c0), variant.dtype)
        cy, cx = variant.chunks
        for i, j in self.chunks_of(burst_id, polarization, variant, window):
            block = self.chunk(burst_id, polarization, variant, date_keys, i, j, tally)
            a0, a1 = max(r0, i * cy), min(r1, i * cy + block.shape[0])
            b0, b1 = max(c0, j * cx), min(c1, j * cx + block.shape[1])
            out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = block[
                a0 - i * cy : a1 - i * cy, b0 - j * cx : b1 - j * cx
            ]
        return out
