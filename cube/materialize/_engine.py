"""The lazy engine: a product chunk is computed the first time it is asked for, then kept.

Everything is addressed by :class:`~cube.products.ArdArray` (burst, polarization, variant,
dates) and chunk (i, j). ``ArdEngine.chunk_bytes`` returns a chunk's stored bytes, computing it
first if it is absent. Concurrent callers (threads, processes, Lambdas) compute a chunk once:
the computation runs under a lease (`single_flight`) and is published with one atomic write.

The engine resolves a product's inputs as the registry declares them: the ``cslc`` input is
read from the default CSLC's chunks (computed the same way when absent), the others come from
the burst's stack; then it calls the product's compute function. Products never call back
into the engine.

Every chunk read is checked (crc32c, `check_chunk`): a chunk that fails is never served; it
is deleted and computed again, as if it were absent.

A job's worker (:meth:`ArdEngine.fill`) also keeps the CSLC arrays it computed or read in a
bounded in-memory cache (`CslcCache`), so the pair products of a burst take their CSLC from
memory instead of reading and decoding the chunks just written. The lazy path
(:meth:`ArdEngine.chunk_bytes`) never uses it.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cube.errors import CorruptChunkError, InputError, NotFoundError
from cube.format import BURST_ID_PATTERN, GRID_DIR, check_chunk, recorded_level
from cube.geometry import BurstGrid, ProductGrid, Window
from cube.materialize._ard import (
    ARD_STORE,
    array_metadata,
    decode_chunk,
    encode_chunk,
    group_metadata,
    zstd_level,
)
from cube.products import CSLC, ArdArray, BurstStack, Input, Selection, Variant, compute_product, cslc_input
from cube.storage import (
    CubeStore,
    LeaseBackend,
    open_store,
    single_flight,
    storage_errors,
    store_lease_backend,
)

if TYPE_CHECKING:  # numpy where arrays are made: serving a stored chunk's bytes needs none
    import numpy as np

log = logging.getLogger(__name__)

ChunkState = Literal["absent", "present", "computing"]
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
        """Chunks computed, all products."""
        return sum(self.computed.values())

    def add(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.computed.update(other.computed)
        self.hits += other.hits
        self.corrupt += other.corrupt
        self.bytes_written += other.bytes_written
        self.bytes_read += other.bytes_read
        self.compute_s += other.compute_s


CSLC_CACHE_BYTES = 2_000_000_000
"""Default bound of a job engine's in-memory CSLC cache, bytes (five full IW1 burst-dates, four of IW3)."""


class CslcCache:
    """CSLC arrays a job's worker computed or read, least recently used first out.

    Each entry is one CSLC array (`ArdArray`) over a product-grid window (row and column bounds),
    complex64 (rows, cols), read-only: exactly the pixels its stored chunks hold. A lookup of a
    window inside a cached one returns a view of it. ``max_bytes`` bounds the arrays kept (an array
    larger than that is not kept); 0 keeps none.
    """

    def __init__(self, max_bytes: int = CSLC_CACHE_BYTES):
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple[ArdArray, tuple[int, int, int, int]], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays kept."""
        with self._lock:
            return sum(a.nbytes for a in self._entries.values())

    def get(self, ref: ArdArray, bounds: tuple[int, int, int, int]) -> np.ndarray | None:
        """The array's pixels over ``bounds`` (r0, r1, c0, c1) if a kept window holds them, else None."""
        r0, r1, c0, c1 = bounds
        with self._lock:
            for (key, (a0, a1, b0, b1)), data in self._entries.items():
                if key == ref and a0 <= r0 and r1 <= a1 and b0 <= c0 and c1 <= b1:
                    self._entries.move_to_end((key, (a0, a1, b0, b1)))
                    self.hits += 1
                    return data[r0 - a0 : r1 - a0, c0 - b0 : c1 - b0]
            self.misses += 1
            return None

    def put(self, ref: ArdArray, bounds: tuple[int, int, int, int], data: np.ndarray) -> None:
        """Keep an array's pixels over ``bounds`` (r0, r1, c0, c1), evicting the least recently used."""
        if data.nbytes > self.max_bytes:
            return
        import numpy as np

        data = np.asarray(data)
        data.flags.writeable = False
        r0, r1, c0, c1 = bounds
        with self._lock:
            for key, (a0, a1, b0, b1) in list(self._entries):  # windows of it this one holds
                if key == ref and r0 <= a0 and a1 <= r1 and c0 <= b0 and b1 <= c1:
                    del self._entries[(key, (a0, a1, b0, b1))]
            self._entries[(ref, bounds)] = data
            while sum(a.nbytes for a in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every array."""
        with self._lock:
            self._entries.clear()


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
    cslc_cache_bytes : bound of the CSLC arrays :meth:`fill` keeps in memory for the pair
        products that follow (`CslcCache`), bytes; 0 keeps none.
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
        cslc_cache_bytes: int = CSLC_CACHE_BYTES,
    ):
        self.cube = cube
        self.ard = ard or open_store(cube.child_url(ARD_STORE), cube.storage_options)
        self.leases = leases or default_lease_backend(self.ard)
        self.lease_ttl_s = lease_ttl_s
        self.wait_s = wait_s
        self.refresh_s = refresh_s
        self.totals = Tally()
        """What this engine computed and read so far (each chunk counted once)."""
        self._lock = threading.Lock()
        self._stacks: dict[tuple[str, str], tuple[BurstStack, float]] = {}
        self._grids: tuple[float, list[BurstGrid]] | None = None
        self._written_meta: set[str] = set()
        self._levels: dict[str, int] = {}  # array path -> the zstd level its zarr.json records
        self.cslc_cache = CslcCache(cslc_cache_bytes)
        """CSLC arrays :meth:`fill` computed or read (a job's pair products take them from here)."""

    def totals_snapshot(self) -> Tally:
        """A consistent copy of :attr:`totals` (for before/after metrics)."""
        with self._lock:
            return copy.deepcopy(self.totals)

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

    def grids(self) -> list[BurstGrid]:
        """Every burst ID's fixed grid in the cube, by burst ID (re-read every ``refresh_s``)."""
        with self._lock:
            hit = self._grids
        if hit and time.monotonic() - hit[0] < self.refresh_s:
            return hit[1]
        with storage_errors(self.cube.url):
            names = sorted(n for n in self.cube.list(GRID_DIR) if n.endswith(".json"))
            grids = [BurstGrid.model_validate_json(self.cube.read_bytes(f"{GRID_DIR}/{n}")) for n in names]
        with self._lock:
            self._grids = (time.monotonic(), grids)
        return grids

    def find_burst(self, lon: float, lat: float) -> str:
        """The first burst ID (in ID order) whose fixed grid holds (lon, lat); NotFoundError if none."""
        for grid in self.grids():
            if ProductGrid(grid).contains(lon, lat):
                return grid.burst_id
        raise NotFoundError(f"no burst of the cube covers lon={lon}, lat={lat}; search /stac for coverage")

    def product_grid(self, burst_id: str, polarization: str, variant: Variant) -> ProductGrid:
        """The variant's map grid on the burst ID's fixed grid."""
        return ProductGrid(self.stack(burst_id, polarization).grid, variant.looks)

    def chunk_counts(self, burst_id: str, polarization: str, variant: Variant) -> tuple[int, int]:
        """Number of chunks along rows and columns."""
        rows, cols = self.product_grid(burst_id, polarization, variant).shape
        cy, cx = variant.chunks
        return -(-rows // cy), -(-cols // cx)

    def chunks_of(self, selection: Selection) -> list[tuple[int, int]]:
        """The (i, j) of the chunks the selection's window touches (the same for each of its arrays)."""
        return self._chunks_in(selection, selection.window)

    def _chunks_in(self, where: ArdArray | Selection, window: Window | None) -> list[tuple[int, int]]:
        grid = self.product_grid(where.burst_id, where.polarization, where.variant)
        r0, r1, c0, c1 = grid.bounds_of(window)
        cy, cx = where.variant.chunks
        return [(i, j) for i in range(r0 // cy, -(-r1 // cy)) for j in range(c0 // cx, -(-c1 // cx))]

    def check_dates(self, ref: ArdArray) -> None:
        """NotFoundError (listing the dates) unless the array's dates exist.

        InputError unless there are as many as the product needs.
        """
        need = ref.variant.spec.dates
        if len(ref.dates) != need:
            raise InputError(f"{ref.product} needs {need} date(s), got {len(ref.dates)}")
        stack = self.stack(ref.burst_id, ref.polarization)
        for d in ref.dates:
            stack.burst(d)

    # -- chunks ---------------------------------------------------------------------------------
    def chunk_window(self, ref: ArdArray, i: int, j: int) -> Window:
        """The product-grid window chunk (i, j) covers (cut at the grid's edge); NotFoundError outside."""
        rows, cols = self.product_grid(ref.burst_id, ref.polarization, ref.variant).shape
        ny, nx = self.chunk_counts(ref.burst_id, ref.polarization, ref.variant)
        if not (0 <= i < ny and 0 <= j < nx):
            raise NotFoundError(
                f"{ref.burst_id} {ref.product}: no chunk ({i}, {j}); the grid has {ny} x {nx} chunks"
            )
        cy, cx = ref.variant.chunks
        return slice(i * cy, min((i + 1) * cy, rows)), slice(j * cx, min((j + 1) * cx, cols))

    def state(self, ref: ArdArray, i: int, j: int) -> ChunkState:
        """Whether chunk (i, j) is present, being computed, or absent."""
        rel = ref.chunk_path(i, j)
        if self.ard.exists(rel):
            return "present"
        lease = self.leases.peek(rel) if hasattr(self.leases, "peek") else None
        return "computing" if lease is not None and lease.expires > time.time() else "absent"

    def chunk_bytes(self, ref: ArdArray, i: int, j: int, tally: Tally | None = None) -> bytes:
        """The stored bytes of chunk (i, j), computed first if absent (once among all callers).

        The bytes are checked (crc32c) before they are returned: a stored chunk that fails is
        deleted and computed again. CorruptChunkError if even the recomputed chunk fails
        (the ARD store's storage corrupts what it stores). ``tally`` gets this chunk's work
        and that of the input chunks it needed; :attr:`totals` counts each chunk's own work once.
        """
        rel = ref.chunk_path(i, j)
        mine, inputs = Tally(), Tally()
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
                    self.check_dates(ref)
                    window = self.chunk_window(ref, i, j)
                single_flight(
                    self.leases,
                    rel,
                    is_done=lambda: self.ard.exists(rel),
                    compute=functools.partial(self._compute, ref, i, j, window, mine, inputs),
                    ttl_s=self.lease_ttl_s,
                    timeout_s=self.wait_s,
                )
            raise CorruptChunkError(
                f"{self.ard.child_url(rel)}: computed {_ATTEMPTS} times and still unreadable or failing "
                "its crc32c check; check the storage of the ARD store (disk, bucket) and retry"
            )
        finally:
            self._account(mine, inputs, tally)

    def _compute(self, ref: ArdArray, i: int, j: int, window: Window, mine: Tally, inputs: Tally) -> None:
        """Compute chunk (i, j) and store it.

        ``mine`` gets its own work, ``inputs`` that of the input chunks it reads (computing the
        absent ones).
        """
        t0 = time.perf_counter()
        self._compute_chunks(ref, [(i, j)], mine, inputs, fill_inputs=False)
        log.info("computed %s chunk (%d, %d) in %.0f ms", ref, i, j, 1e3 * (time.perf_counter() - t0))

    def _compute_chunks(self, ref: ArdArray, chunks: list[tuple[int, int]], mine: Tally, inputs: Tally,
                        *, fill_inputs: bool) -> None:
        """Compute the chunks' bounding window in one product call, then store each chunk.

        ``fill_inputs``: compute the absent CSLC chunks under the window in one call too
        (:meth:`fill`) before reading them, instead of one by one. A product made of CSLCs alone
        whose pixels each come from their own looks window (``options.per_pixel``: interferogram,
        amplitude, the sample coherence) then goes one row of chunks at a time over those
        whole-window CSLCs: its output of a row of chunks (59 MB for a full-size burst's
        interferogram) is reused from row to row instead of the whole window's (388 MB) being
        added to the CSLCs held, and its pixels are the same.
        """
        t0, inputs_s = time.perf_counter(), inputs.compute_s
        stack = self.stack(ref.burst_id, ref.polarization)
        variant = ref.variant
        cy, cx = variant.chunks
        product_grid = ProductGrid(stack.grid, variant.looks)
        rows, cols = product_grid.shape
        i0, i1 = min(i for i, _ in chunks), max(i for i, _ in chunks) + 1
        j0, j1 = min(j for _, j in chunks), max(j for _, j in chunks) + 1
        r0, c0 = i0 * cy, j0 * cx
        window = slice(r0, min(i1 * cy, rows)), slice(c0, min(j1 * cx, cols))
        grid_window = product_grid.grid_window(window)
        slc_bytes = [0]
        cslcs: dict[str, np.ndarray] = {}  # by date, over grid_window

        def cslc_of(date: str) -> np.ndarray:
            if date not in cslcs:
                cslc_ref = ArdArray(ref.burst_id, ref.polarization, cslc_input(variant.options), (date,))
                cslcs[date] = (self._job_cslc(cslc_ref, grid_window, inputs) if fill_inputs
                               else self.read(cslc_ref, grid_window, inputs))
            return cslcs[date]

        def compute(band: Window) -> np.ndarray:
            """The product over ``band``, rows of ``window``."""
            band_grid = product_grid.grid_window(band)
            g0, g1 = (band_grid[0].start - grid_window[0].start, band_grid[0].stop - grid_window[0].start)

            def source(name: Input, date: str) -> object:
                if name in ("cslc", "cslc_window"):
                    return stack.input(name, date, band_grid, cslc=cslc_of(date)[g0:g1])
                return stack.input(name, date, band_grid, counter=slc_bytes)

            with storage_errors(self.cube.url):  # the SLC pixels are read here
                return compute_product(variant.spec, variant.options, ref.dates, source)

        bands = [window]
        if fill_inputs and set(variant.spec.inputs) == {"cslc"} and variant.options.per_pixel:
            bands = [(slice(i * cy, min((i + 1) * cy, rows)), window[1])
                     for i in sorted({i for i, _ in chunks})]
        whole = len(chunks) == (i1 - i0) * (j1 - j0)  # else stored chunks lie in the window too
        level = self._ensure_array(stack, ref)
        for band in bands:
            data = compute(band)
            if fill_inputs and whole and variant.product == CSLC.product:  # what its chunks hold, for pairs
                bounds = (r0, window[0].stop, c0, window[1].stop)
                self.cslc_cache.put(ref, bounds, data.astype(variant.dtype, copy=False))
            top = band[0].start
            for i, j in chunks:
                if top <= i * cy < band[0].stop:
                    a, b = i * cy - top, j * cx - c0
                    raw = encode_chunk(data[a:a + cy, b:b + cx], variant, level)
                    # fsynced before its rename; the directory is not: a chunk lost in a crash is recomputed
                    self.ard.write_bytes(ref.chunk_path(i, j), raw, sync_dir=False)
                    mine.computed[variant.product] += 1
                    mine.bytes_written += len(raw)
            del data  # its memory serves the next band
        mine.bytes_read += slc_bytes[0]
        mine.compute_s += time.perf_counter() - t0 - (inputs.compute_s - inputs_s)

    def _job_cslc(self, ref: ArdArray, window: Window, inputs: Tally) -> np.ndarray:
        """A job product's CSLC input: from the cache, else read (filled first if absent), then kept."""
        grid = self.product_grid(ref.burst_id, ref.polarization, ref.variant)
        bounds = grid.bounds_of(window)
        cached = self.cslc_cache.get(ref, bounds)
        if cached is not None:
            return cached
        stored = all(self.ard.exists(ref.chunk_path(i, j)) for i, j in self._chunks_in(ref, window))
        if ref.variant == CSLC and not stored:  # the native CSLC (ISCE2 runs per stack)
            self.fill(ref, window, inputs)
            cached = self.cslc_cache.get(ref, bounds)  # computed whole just now
            if cached is not None:
                return cached
        data = self.read(ref, window, inputs)  # each chunk checked once (crc32c; a failing one recomputed)
        self.cslc_cache.put(ref, bounds, data)
        return data

    def fill(self, ref: ArdArray, window: Window | None = None, tally: Tally | None = None) -> int:
        """Compute every absent chunk of an array over a product-grid window at once; the number computed.

        For a job's worker: one product call covers the absent chunks' bounding window (their
        CSLC chunks too, filled the same way first), so the per-chunk setup (geocoding nodes,
        SLC window reads with their interpolation margins, carrier terms) is paid once instead
        of per chunk; a product made of CSLCs alone, one call per row of absent chunks over
        those CSLCs (:meth:`_compute_chunks`). The pixels are those of :meth:`chunk_bytes` chunk
        by chunk, to float32 rounding (positions are solved on the grid's node lattice, every
        other step is per pixel). Stored chunks are checked (crc32c) and a failing one is
        computed again. No lease is taken: a chunk another worker computes meanwhile is written
        twice, atomically.
        """
        mine, inputs = Tally(), Tally()
        try:
            self.check_dates(ref)
            absent = []
            for i, j in self._chunks_in(ref, window):
                rel = ref.chunk_path(i, j)
                try:
                    check_chunk(self.ard.read_bytes(rel))
                    mine.hits += 1
                except NotFoundError:
                    absent.append((i, j))
                except CorruptChunkError as exc:
                    log.warning("%s: %s; deleting it to compute it again", self.ard.child_url(rel), exc)
                    mine.corrupt += 1
                    self.ard.delete(rel)
                    absent.append((i, j))
            if absent:
                t0 = time.perf_counter()
                self._compute_chunks(ref, absent, mine, inputs, fill_inputs=True)
                log.info("computed %d chunks of %s in %.0f ms", len(absent), ref,
                         1e3 * (time.perf_counter() - t0))
            return len(absent)
        finally:
            self._account(mine, inputs, tally)

    def _account(self, mine: Tally, inputs: Tally, tally: Tally | None) -> None:
        """Add a call's own counts to the engine's totals, and its own and its inputs' to ``tally``."""
        with self._lock:
            self.totals.add(mine)
        if tally is not None:
            tally.add(mine)
            tally.add(inputs)

    def _ensure_array(self, stack: BurstStack, ref: ArdArray) -> int:
        """Write the zarr.json of the array and of its parent groups, once; the zstd level of its chunks.

        An array already stored keeps its recorded chain and level (a CSLC array written at level 3
        before stays so: its new chunks are too); a new one, or one written before format 1.1 (no
        crc32c: its chunks are recomputed), gets the variant's (`zstd_level`).
        """
        path, variant = ref.path, ref.variant
        if path in self._written_meta:
            return self._levels[path]
        parts = path.split("/")
        groups: dict[str, dict[str, Any]] = {
            "": {"description": "sarcube ARD store: computed product chunks"},
            parts[0]: {"burst_id": ref.burst_id},
            "/".join(parts[:2]): {"polarization": ref.polarization},
            "/".join(parts[:3]): {"product": variant.product, "title": variant.spec.title},
            "/".join(parts[:4]): {
                "product": variant.product,
                "algorithm_version": variant.spec.version,
                "options": variant.options.key_values(),
            },
        }
        if variant.spec.companions:  # <variant>/<variable>/<dates>: the variable's group too
            groups["/".join(parts[:5])] = {"variable": variant.var.name}
        for rel, attrs in groups.items():
            doc = f"{rel}/zarr.json" if rel else "zarr.json"
            if not self.ard.exists(doc):
                self.ard.write_bytes(doc, group_metadata(attrs))
        grid = ProductGrid(stack.grid, variant.looks)
        attrs = {"dates": list(ref.dates), "epsg": grid.epsg, "units": variant.var.units,
                 "transform": list(grid.transform())}
        doc = f"{path}/zarr.json"
        try:
            current = self.ard.read_json(doc).get("codecs")
        except NotFoundError:
            current = None
        level = recorded_level(current)
        if level is None:  # absent, or written before format 1.1 (no crc32c)
            level = zstd_level(variant)
            self.ard.write_bytes(doc, array_metadata(variant, grid.shape, variant.chunks, ["y", "x"], attrs,
                                                     level))
        self._levels[path] = level
        self._written_meta.add(path)
        return level

    def store_chunk(self, ref: ArdArray, i: int, j: int, data: np.ndarray) -> int:
        """Store chunk (i, j) of an array computed elsewhere (an ISCE2 job); the bytes written.

        ``data``: the product's dtype, at most the chunk shape (padded with the fill value).
        """
        level = self._ensure_array(self.stack(ref.burst_id, ref.polarization), ref)
        raw = encode_chunk(data, ref.variant, level)
        self.ard.write_bytes(ref.chunk_path(i, j), raw, sync_dir=False)
        return len(raw)

    def chunk(self, ref: ArdArray, i: int, j: int, tally: Tally | None = None) -> np.ndarray:
        """Chunk (i, j) decoded and cropped to the product grid (computed first if absent)."""
        rows, cols = self.chunk_window(ref, i, j)
        full = decode_chunk(self.chunk_bytes(ref, i, j, tally), ref.variant)
        return full[: rows.stop - rows.start, : cols.stop - cols.start]

    def materialized(self, ref: ArdArray) -> bool:
        """Whether every chunk of the array is stored."""
        try:
            ny, nx = self.chunk_counts(ref.burst_id, ref.polarization, ref.variant)
        except (NotFoundError, InputError):
            return False
        return all(len(self.ard.list(f"{ref.path}/c/{i}")) == nx for i in range(ny))

    # -- windows --------------------------------------------------------------------------------
    def missing(self, selection: Selection, limit: int | None = None) -> list[tuple[ArdArray, int, int]]:
        """The chunks of a selection that are not stored yet (the first ``limit`` + 1 at most)."""
        chunks = self.chunks_of(selection)
        found = []
        for ref in selection.arrays:
            for i, j in chunks:
                if not self.ard.exists(ref.chunk_path(i, j)):
                    found.append((ref, i, j))
                    if limit is not None and len(found) > limit:
                        return found
        return found

    def read(self, ref: ArdArray, window: Window | None = None, tally: Tally | None = None) -> np.ndarray:
        """A product-grid window of one array (one date or pair), assembled from its chunks."""
        import numpy as np

        grid = self.product_grid(ref.burst_id, ref.polarization, ref.variant)
        r0, r1, c0, c1 = grid.bounds_of(window)
        out = np.empty((r1 - r0, c1 - c0), ref.variant.dtype)
        cy, cx = ref.variant.chunks
        for i, j in self._chunks_in(ref, window):
            block = self.chunk(ref, i, j, tally)
            a0, a1 = max(r0, i * cy), min(r1, i * cy + block.shape[0])
            b0, b1 = max(c0, j * cx), min(c1, j * cx + block.shape[1])
            out[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] = block[
                a0 - i * cy : a1 - i * cy, b0 - j * cx : b1 - j * cx
            ]
        return out
