"""The isce2 engine of a job: topsStack coregisters one burst's dates, we store their CSLC chunks.

For burst ``index`` of a job, :func:`run_isce2_burst`:

1. finds each date's SAFE (the job's ``sources``: SAFEs, or folders holding them, matched by
   the product name the cube recorded), writes each date's orbit ``.EOF`` from the cube's
   state vectors and the cube's DEM as an ISCE2 DEM (absolute path in its header);
2. runs topsStack (``cube.isce2.run_topsstack``) for that burst, the earliest date as its
   reference, geometry-only coregistration (``esd=true``: network ESD);
3. converts each coregistered date into the ``cslc`` chunks (``engine=isce2``) of the burst's
   fixed grid and writes them to the ARD store.

Chunks already stored are kept; when all are, ISCE2 does not run. A failing step raises
``TopsStackError`` with the tail of ISCE2's log (the worker records it in the job and exits 2).
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from cube.config import make_engine
from cube.errors import InputError
from cube.geometry import ProductGrid
from cube.isce2 import (
    NO_ISCE2,
    convert_topsstack,
    find_safes,
    isce2_available,
    run_topsstack,
    topsstack_task,
    write_isce_dem,
    write_orbit_eof,
)
from cube.jobs._records import BurstMetrics
from cube.jobs._spec import JobSpec, job_settings
from cube.materialize import ArdEngine, Tally
from cube.products import ArdArray, BurstStack, CslcOptions, Selection, Variant, product_dataset

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Isce2Settings:
    """Where and how ISCE2 runs (from the environment: :func:`isce2_settings`)."""

    workdir: str | None = None
    """parent of each run's working folder (default: the system's temporary folder)"""
    keep: bool = False
    """keep the working folder after a run (ISCE2's logs, its coregistered bursts)"""
    num_proc: int = 1
    """processes for topo"""


def isce2_settings() -> Isce2Settings:
    """``SARCUBE_ISCE2_WORKDIR``, ``SARCUBE_ISCE2_KEEP`` (1/true), ``SARCUBE_ISCE2_PROCS``."""
    env = os.environ
    return Isce2Settings(
        workdir=env.get("SARCUBE_ISCE2_WORKDIR") or None,
        keep=env.get("SARCUBE_ISCE2_KEEP", "").lower() in ("1", "true", "yes"),
        num_proc=max(1, int(env.get("SARCUBE_ISCE2_PROCS") or 1)),
    )


def isce2_variant(options: dict | CslcOptions | None) -> Variant:
    """The ``cslc`` variant an ISCE2 job stores: the options given, ``engine=isce2``.

    InputError if they say ``engine=native``; pydantic's ValidationError for bad values.
    """
    given = options.model_dump() if isinstance(options, CslcOptions) else dict(options or {})
    if given.get("engine", "isce2") != "isce2":
        raise InputError("an isce2 job stores cslc with engine=isce2; drop engine=native from its options")
    return Variant.of("cslc", CslcOptions.model_validate({**given, "engine": "isce2"}))


def _esd(variant: Variant) -> bool:
    """Whether an :func:`isce2_variant` (whose options are always `CslcOptions`) asks for ESD."""
    return cast(CslcOptions, variant.options).esd


def wants_isce2(spec: JobSpec) -> bool:
    """Whether a job runs on the isce2 engine: its ``engine``, or a product over the ISCE2 CSLC.

    That is ``cslc`` with ``engine=isce2``, or a product computed from it with ``engine=isce2``.
    """
    return spec.engine == "isce2" or any(
        p.options.get("engine") == "isce2" for b in spec.bursts for p in b.products)


def run_isce2_burst(spec: JobSpec, index: int, *, engine: ArdEngine | None = None,
                    progress: Progress | None = None) -> BurstMetrics:
    """Materialize the ``cslc`` products (engine isce2) of burst ``index`` of a job with ISCE2.

    Every product of the burst must be ``cslc``; their dates (None: every date of the burst)
    are coregistered in one topsStack run (at least two dates: a lone date brings the
    nearest other one along, not stored). Returns the burst's metrics; the CPU time
    includes ISCE2's processes.

    Raises
    ------
    InputError
        ISCE2 is not installed, a product is not ``cslc``, options disagree.
    NotFoundError
        A date's SAFE is in none of the job's ``sources``.
    TopsStackError
        An ISCE2 step failed (the message holds its log's last lines).
    """
    if not isce2_available():
        raise InputError(NO_ISCE2)
    burst = spec.bursts[index]
    engine = engine or make_engine(job_settings(spec))
    wall0, cpu0 = time.perf_counter(), _cpu_s()
    stack = engine.stack(burst.burst_id, burst.polarization)
    plan: dict[Variant, list[str]] = {}
    derived = []  # products computed from the ISCE2 CSLC, once it is stored
    for job in burst.products:
        if job.product != "cslc":
            if job.options.get("engine") != "isce2" and spec.engine == "isce2":
                raise InputError(
                    f"job: {burst.burst_id} {job.product}: an isce2 job computes products from the ISCE2 "
                    "CSLC; give the product the option engine=isce2")
            selection = job.selection(engine, burst.burst_id, burst.polarization)
            derived.append(selection)
            dates = sorted({d for ds in selection.date_sets for d in ds})
            variant = isce2_variant(None)
        else:
            variant = isce2_variant(job.options)
            dates = job.dates or stack.dates
        plan.setdefault(variant, [])
        plan[variant] += [d for d in dates if d not in plan[variant]]
    if len({_esd(v) for v in plan}) > 1:
        raise InputError(f"job: {burst.burst_id}: one isce2 run per burst; give every cslc the same esd")
    todo = {(v, d, i, j) for v, dates in plan.items() for d in dates
            for i, j in _missing(engine, burst.burst_id, burst.polarization, v, d)}
    metrics = BurstMetrics()
    if todo:
        wanted = sorted({d for _, d, _, _ in todo})
        run_dates = wanted if len(wanted) > 1 else _with_neighbour(wanted[0], stack.dates)
        esd = _esd(next(iter(plan)))
        settings = isce2_settings()
        work = Path(tempfile.mkdtemp(prefix=f"isce2-{burst.burst_id}-", dir=settings.workdir))
        try:
            written = _run(spec, stack, engine, run_dates, todo, work, esd, settings, progress)
        finally:
            if settings.keep:
                log.info("isce2: working folder kept: %s", work)
            else:
                shutil.rmtree(work, ignore_errors=True)
        slc_bytes = sum(stack.burst(d).lines * stack.burst(d).samples * 4 for d in run_dates)  # CInt16
        metrics = BurstMetrics(bytes_written=written, chunks_computed=len(todo), bytes_read=slc_bytes)
    tally = Tally()  # the products over the ISCE2 CSLC, computed as any other from its stored chunks
    for selection in derived:
        for ref in selection.arrays:
            for i, j in engine.chunks_of(selection):
                engine.chunk_bytes(ref, i, j, tally)
    metrics.bytes_written += tally.bytes_written
    metrics.chunks_computed += tally.chunks_computed
    metrics.wall_s = time.perf_counter() - wall0
    metrics.cpu_s = _cpu_s() - cpu0
    log.info("burst %s: isce2, %d chunks computed in %.1f s", burst.burst_id, len(todo), metrics.wall_s)
    return metrics


def _with_neighbour(date: str, dates: list[str]) -> list[str]:
    others = [d for d in dates if d != date]
    if not others:
        raise InputError(f"{date}: ISCE2 coregisters two dates at least; the burst has only this one")
    return sorted([date, min(others, key=lambda d: abs(dates.index(d) - dates.index(date)))])


def _run(spec: JobSpec, stack: BurstStack, engine: ArdEngine, run_dates: list[str], todo: set,
         work: Path, esd: bool, settings: Isce2Settings, progress: Progress | None) -> int:
    """Run topsStack in ``work``, then store the chunks of ``todo``; returns the bytes written."""
    bursts = [stack.burst(d) for d in run_dates]
    safes = find_safes([b.product_id for b in bursts], spec.sources)
    for b in bursts:
        write_orbit_eof(work / "orbits", b)
    dem = write_isce_dem(work / "dem" / "dem.wgs84", stack.dem)
    reference = bursts[0]
    task = topsstack_task(reference, [safes[b.product_id] for b in bursts], work / "orbits", dem.path,
                          aux_dir=work / "aux", coregistration="NESD" if esd else "geometry",
                          num_proc=settings.num_proc)
    run_topsstack(task, work / "stack", emit=log.debug)
    written, done = 0, 0
    by_date: dict[str, list] = {}
    for v, d, i, j in sorted(todo, key=lambda t: (t[1], t[2], t[3])):
        by_date.setdefault(d, []).append((v, i, j))
    rows, cols = stack.grid.height, stack.grid.width
    for date, chunks in by_date.items():
        for v, i, j in chunks:
            cy, cx = v.chunks
            window = (slice(i * cy, min((i + 1) * cy, rows)), slice(j * cx, min((j + 1) * cx, cols)))
            [(_, cslc)] = convert_topsstack(work / "stack", reference, [date], stack.grid, stack.dem,
                                            windows=[window], options=v.options.model_copy(update={
                                                "engine": "native", "esd": False}))
            written += _store(engine, stack, v, date, i, j, cslc.data)
            done += 1
            if progress:
                progress(done, len(todo))
    return written


# The ARD store's side: the only calls into the engine (cube.materialize) besides ``stack``.

def _missing(engine: ArdEngine, burst_id: str, polarization: str, variant: Variant,
             date: str) -> list[tuple[int, int]]:
    """The (i, j) of the chunks of one date's array not stored yet."""
    window = engine.product_grid(burst_id, polarization, variant).window_of(None)
    selection = Selection(burst_id, polarization, variant, ((date,),), window)
    return [(i, j) for _, i, j in engine.missing(selection)]


def _store(engine: ArdEngine, stack: BurstStack, variant: Variant, date: str, i: int, j: int,
           data: np.ndarray) -> int:
    """Write chunk (i, j) of one date's array (and the array's metadata once); its bytes."""
    return engine.store_chunk(ArdArray(stack.burst_id, stack.polarization, variant, (date,)), i, j, data)


def read_isce2_cslc(engine: ArdEngine, burst_id: str, polarization: str, date: str, window=None,
                    options: dict | CslcOptions | None = None) -> np.ndarray:
    """A grid window of one date's ISCE2 CSLC from the ARD store, complex64 (rows, cols).

    An ISCE2 job stores it: for an absent chunk the engine's native path refuses (InputError
    naming the ISCE2 job) rather than computing it.
    """
    return engine.read(ArdArray(burst_id, polarization, isce2_variant(options), (date,)), window)


def _cpu_s() -> float:
    """CPU time of this process and its finished children (ISCE2's processes), s."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def isce2_cslc_dataset(cube_url: str, stack: BurstStack, date_keys: list[str], options: CslcOptions,
                       sources: list[str], window=None, ard_url: str | None = None):
    """``sarcube product ... cslc --option engine=isce2``: the CSLC of these dates by ISCE2.

    Runs the ISCE2 job of these dates of one burst (chunks already stored are kept), then reads its
    CSLC window of each date.

    Returns the product Dataset every output shares (``cube.products.product_dataset``):
    complex64 ``cslc`` (time, y, x) with ``x``/``y``, ``spatial_ref`` and provenance.
    """
    spec = JobSpec(cube_url=cube_url, ard_url=ard_url, engine="isce2", sources=list(sources), bursts=[{
        "burst_id": stack.burst_id, "polarization": stack.polarization,
        "products": [{"product": "cslc", "options": options.non_default(), "dates": list(date_keys)}]}])
    engine = make_engine(job_settings(spec))
    run_isce2_burst(spec, 0, engine=engine)
    variant = isce2_variant(options.non_default())
    grid = ProductGrid(stack.grid)
    selection = Selection(stack.burst_id, stack.polarization, variant, tuple((d,) for d in date_keys),
                          grid.window_of(None) if window is None else window)
    data = np.stack([engine.read(ref, selection.window) for ref in selection.arrays])
    return product_dataset(selection, grid, data, stack.dem)
