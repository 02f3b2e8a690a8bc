"""The series products of a job: unwrapped pairs, the displacement series and its velocity.

Unwrapping is global over a burst, and the inversion needs every pair of the network, so
these products are made whole, per burst, here (never chunk by chunk):

1. each pair of the network not unwrapped yet: its interferogram and coherence are read from
   the ARD store (computed first if absent), SNAPHU unwraps it, both variables of the
   ``unwrapped`` Dataset (``unwrapped`` and ``components``) are stored; pairs already stored are
   read back (keep-up appends a date: only its new pairs are unwrapped);
2. the reference pixel (``ref=lon,lat``, or the most coherent pixel unwrapped in every pair);
3. the weighted SBAS inversion of every pixel, then the velocity of the whole series;
4. every date's ``displacement`` and the burst's one ``velocity`` array of each of its
   variables (same options) are stored, over the whole grid (a series extended by a date is
   written again whole: the inversion is cheap, and its result equals a series computed from
   scratch; the velocity is fitted again over every date).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable

import numpy as np

from cube.config import make_engine
from cube.errors import InputError
from cube.jobs._records import BurstMetrics
from cube.jobs._spec import BurstJob, JobSpec, job_settings
from cube.materialize import ArdEngine, Tally
from cube.products import (
    ArdArray,
    DisplacementOptions,
    Series,
    UnwrappedOptions,
    Variant,
    VelocityOptions,
    check_network,
    invert_series,
    reference_pixel,
    unwrap,
    velocity_fit,
    years_since_first,
)

log = logging.getLogger(__name__)

SERIES_PRODUCTS = ("unwrapped", "displacement", "velocity")
Progress = Callable[[int, int], None]


def wants_series(spec: JobSpec) -> bool:
    """Whether a job asks for a series product (unwrapped, displacement, velocity)."""
    return any(p.product in SERIES_PRODUCTS for b in spec.bursts for p in b.products)


def series_options(options: DisplacementOptions) -> DisplacementOptions:
    """The displacement options of a displacement or velocity variant (the same fields)."""
    return DisplacementOptions.model_validate(options.model_dump())


def _variant(product: str, options: dict) -> Variant:
    return Variant.of(product, options)


def store_whole(engine: ArdEngine, ref: ArdArray, data: np.ndarray) -> int:
    """Store every chunk of one array from its whole-grid values; the bytes written."""
    cy, cx = ref.variant.chunks
    rows, cols = data.shape
    written = 0
    for i in range(-(-rows // cy)):
        for j in range(-(-cols // cx)):
            written += engine.store_chunk(ref, i, j, data[i * cy:(i + 1) * cy, j * cx:(j + 1) * cx])
    return written


def _stored(engine: ArdEngine, ref: ArdArray) -> bool:
    return engine.materialized(ref)


def unwrapped_pair(engine: ArdEngine, burst_id: str, polarization: str, options: UnwrappedOptions,
                   pair: tuple[str, str], tally: Tally) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One pair's (phase, components, coherence) over the whole grid, unwrapped first if not stored.

    Returns float32 phase (rad), int32 components, float32 coherence, each (rows, cols), and
    whether SNAPHU ran.
    """
    variant = _variant("unwrapped", options.model_dump(mode="json"))
    phase_ref, comp_ref = (ArdArray(burst_id, polarization, variant.at(v), pair)
                           for v in ("unwrapped", "components"))
    coh_ref = ArdArray(burst_id, polarization, _variant(
        "coherence", {"engine": options.engine, "window": list(options.multilook)}), pair)
    coherence = engine.read(coh_ref, None, tally)
    if _stored(engine, phase_ref) and _stored(engine, comp_ref):
        return engine.read(phase_ref, None, tally), engine.read(comp_ref, None, tally), coherence, False
    ifg_ref = ArdArray(burst_id, polarization, _variant(
        "interferogram", {"engine": options.engine, "multilook": list(options.multilook)}), pair)
    ifg = engine.read(ifg_ref, None, tally)
    t0 = time.perf_counter()
    phase, comps = unwrap(ifg, coherence, options)
    log.info("%s %s: unwrapped %s in %.1f s", burst_id, polarization, "_".join(pair),
             time.perf_counter() - t0)
    # components first: a stored phase (what a reader checks) means the pair is whole
    tally.bytes_written += store_whole(engine, comp_ref, comps) + store_whole(engine, phase_ref, phase)
    tally.computed["unwrapped"] += 2
    return phase, comps, coherence, True


def compute_series(engine: ArdEngine, burst_id: str, polarization: str, options: DisplacementOptions,
                   tally: Tally, progress: Progress | None = None) -> tuple[list[str], Series, int]:
    """The burst's displacement series (every date it has now); also how many pairs SNAPHU unwrapped.

    InputError for a single date, a network that leaves a date out, a reference point outside
    the burst or not unwrapped in every pair.
    """
    stack = engine.stack(burst_id, polarization)
    dates = sorted(stack.dates)
    index_pairs = check_network(dates, options, burst_id)
    grid = engine.product_grid(burst_id, polarization, Variant.of("displacement", options))
    ref_rc = None
    point = options.ref_lonlat()
    if point is not None:
        ref_rc = grid.pixel_of(*point)
        if ref_rc is None:
            raise InputError(f"{burst_id}: ref={point[0]},{point[1]} is outside the burst; give a "
                             f"point inside {tuple(round(v, 4) for v in grid.lonlat_bounds())} (lon/lat)")
    phases, comps, cohs, unwrapped = [], [], [], 0
    for n, (i, j) in enumerate(index_pairs):
        p, c, g, ran = unwrapped_pair(engine, burst_id, polarization, options.unwrapped, (dates[i], dates[j]),
                                      tally)
        phases.append(p)
        comps.append(c)
        cohs.append(g)
        unwrapped += ran
        if progress:
            progress(n + 1, len(index_pairs) + 1)
    phase, comp, coh = np.stack(phases), np.stack(comps), np.stack(cohs)
    if ref_rc is None:
        ref_rc = reference_pixel(phase, coh, burst_id)
    wavelength = stack.burst(dates[0]).wavelength_m
    series = invert_series(phase, comp, coh, index_pairs, len(dates), wavelength, options.looks, ref_rc)
    return dates, series, unwrapped


def store_series(engine: ArdEngine, burst_id: str, polarization: str, options: DisplacementOptions,
                 dates: list[str], series: Series, tally: Tally) -> None:
    """Store every date's displacement and the burst's velocity Dataset (same options) of a series.

    The latest date's displacement is written last: a velocity counts as current once it is
    stored (``ProductStore.current``), so a reader in between sees a stale velocity and waits
    for the job instead of taking the old one as the new one.
    """
    base = options.model_dump(mode="json")
    disp = Variant.of("displacement", base)

    def store_displacement(k: int) -> None:
        tally.bytes_written += store_whole(engine, ArdArray(burst_id, polarization, disp, (dates[k],)),
                                           series.displacement[k])

    for k in range(len(dates) - 1):
        store_displacement(k)
    vel, std = velocity_fit(series.displacement, years_since_first(dates))
    values = {"velocity": vel, "velocity_std": std, "temporal_coherence": series.temporal_coherence,
              "residual": series.residual, "connected": series.connected.astype(np.uint8)}
    for variant in Variant.of("velocity", VelocityOptions.model_validate(base)).variables:
        ref = ArdArray(burst_id, polarization, variant, ())
        tally.bytes_written += store_whole(engine, ref, values[variant.var.name])
    store_displacement(len(dates) - 1)
    tally.computed["displacement"] += len(dates)
    tally.computed["velocity"] += len(values)


def run_series_burst(spec: JobSpec, index: int, *, engine: ArdEngine | None = None,
                     progress: Progress | None = None) -> BurstMetrics:
    """Materialize burst ``index`` of a job that asks for series products (and maybe others)."""
    burst = spec.bursts[index]
    engine = engine or make_engine(job_settings(spec))
    wall0, cpu0 = time.perf_counter(), _cpu_s()
    tally = Tally()
    done: set[DisplacementOptions] = set()
    others = [p for p in burst.products if p.product not in SERIES_PRODUCTS]
    for job in burst.products:
        if job.product not in SERIES_PRODUCTS:
            continue
        variant = job.variant()
        if job.product == "unwrapped":
            uopts = variant.options
            assert isinstance(uopts, UnwrappedOptions)
            for pair in job.selection(engine, burst.burst_id, burst.polarization).date_sets:
                unwrapped_pair(engine, burst.burst_id, burst.polarization, uopts, (pair[0], pair[1]), tally)
            continue
        assert isinstance(variant.options, DisplacementOptions)
        opts = series_options(variant.options)
        if opts in done:
            continue
        dates, series, _ = compute_series(engine, burst.burst_id, burst.polarization, opts, tally, progress)
        store_series(engine, burst.burst_id, burst.polarization, opts, dates, series, tally)
        done.add(opts)
    if others:
        rest = BurstJob(burst_id=burst.burst_id, polarization=burst.polarization, products=others)
        for selection in rest.selections(engine):
            for ref in selection.arrays:
                for i, j in engine.chunks_of(selection):
                    engine.chunk_bytes(ref, i, j, tally)
    metrics = BurstMetrics(wall_s=time.perf_counter() - wall0, cpu_s=_cpu_s() - cpu0,
                           bytes_read=tally.bytes_read, bytes_written=tally.bytes_written,
                           chunks_computed=tally.chunks_computed)
    log.info("burst %s: series products in %.1f s", burst.burst_id, metrics.wall_s)
    return metrics


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
