"""Run a job's bursts: every chunk of every product it asks for, with metrics per burst."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable

from cube.config import make_engine
from cube.errors import InputError
from cube.jobs._records import BurstMetrics, JobStore
from cube.jobs._spec import BurstJob, JobSpec, ProductJob, job_settings
from cube.materialize import ArdEngine, Tally

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in chunks."""


def run_burst(
    spec: JobSpec, index: int, *, engine: ArdEngine | None = None, progress: Progress | None = None
) -> BurstMetrics:
    """Materialize burst ``index`` of a job with the job's engine; returns its metrics.

    The metrics: wall, CPU, bytes, chunks computed. ``native`` is our numba CSLC; ``isce2``
    (``cube.jobs._isce2``: a job's engine ``isce2``, or a cslc product with ``engine=isce2``) runs
    ISCE2's topsStack for the burst. Series products (unwrapped, displacement, velocity) are made
    whole per burst (``cube.jobs._displacement``).
    """
    if not 0 <= index < len(spec.bursts):
        raise InputError(f"burst index {index} is outside the job's {len(spec.bursts)} bursts (0-based)")
    from cube.jobs import _displacement, _isce2

    if _displacement.wants_series(spec):
        return _displacement.run_series_burst(spec, index, engine=engine, progress=progress)
    if _isce2.wants_isce2(spec):
        return _isce2.run_isce2_burst(spec, index, engine=engine, progress=progress)
    burst = spec.bursts[index]
    engine = engine or make_engine(job_settings(spec))
    wall0, cpu0 = time.perf_counter(), _cpu_s()
    tally = Tally()
    # each array at once (its absent chunks in one computation, then split), not chunk by chunk;
    # a date's arrays, then the pairs it is the secondary of: their CSLC is still in the engine's cache
    todo = sorted(((ref, selection.window, len(engine.chunks_of(selection)))
                   for selection in burst.selections(engine) for ref in selection.arrays),
                  key=lambda item: _in_time(item[0].dates))
    total, done = sum(n for _, _, n in todo), 0
    for ref, window, n in todo:
        engine.fill(ref, window, tally)
        done += n
        if progress:
            progress(done, total)
    metrics = BurstMetrics(
        wall_s=time.perf_counter() - wall0,
        cpu_s=_cpu_s() - cpu0,
        bytes_read=tally.bytes_read,
        bytes_written=tally.bytes_written,
        chunks_computed=tally.chunks_computed,
    )
    log.info(
        "burst %s: %d chunks (%d computed) in %.1f s",
        burst.burst_id,
        total,
        tally.chunks_computed,
        metrics.wall_s,
    )
    return metrics


PAIRS_PER_PART = 8
"""Pairs of one part of a burst's pair stage (`burst_stages`): consecutive pairs share dates, so
a part reads each CSLC it needs once (the engine's cache) and not once per pair product."""


def _in_time(dates: tuple[str, ...]) -> tuple[str, int, str]:
    """Order of a job's arrays: a date's own, then the pairs it is the secondary of (by reference)."""
    return (dates[0], 0, "") if len(dates) == 1 else (dates[1], 1, dates[0])


def burst_stages(spec: JobSpec, index: int, engine: ArdEngine) -> list[list[JobSpec]]:
    """Burst ``index`` of a job cut into parts that run in parallel, stage after stage.

    Stage 1 holds one one-burst job per date of its per-date products (that date's CSLC, then
    its backscatter, ...: in this order in one process), in date order; stage 2, to run once
    stage 1 is done (their CSLC inputs are then stored, not computed twice at once), one per
    run of at most `PAIRS_PER_PART` consecutive pairs (by secondary date, then reference; runs of
    even lengths) with every pair product of those pairs (interferogram, coherence): a part's
    pairs share dates, so its process reads each CSLC once and its products take them from the
    engine's cache.
    Each part is a `JobSpec` of one burst that `run_burst` runs; together they compute exactly
    the burst's chunks. An isce2 job and a series job (unwrapped, displacement, velocity) are one
    part each: topsStack and the series inversion run per burst.
    """
    from cube.jobs import _displacement, _isce2

    burst = spec.bursts[index]
    if _isce2.wants_isce2(spec) or _displacement.wants_series(spec):
        return [[spec.model_copy(update={"bursts": [burst]})]]
    per_date: dict[tuple[str, ...], list[ProductJob]] = {}
    pairs: dict[tuple[str, ...], list[tuple[int, ProductJob]]] = {}
    for n, (product, selection) in enumerate(zip(burst.products, burst.selections(engine), strict=True)):
        for dates in selection.date_sets:
            if selection.variant.spec.pair:
                pairs.setdefault(tuple(dates), []).append((n, product))
            else:
                per_date.setdefault(tuple(dates), []).append(product.model_copy(
                    update={"dates": [dates[0]], "pairs": None}))
    runs = sorted(pairs, key=_in_time)
    n_parts = -(-len(runs) // PAIRS_PER_PART)
    pair_parts = []
    for k in range(n_parts):  # of even lengths (differing by one at most)
        chosen: dict[int, tuple[ProductJob, list[tuple[str, ...]]]] = {}
        for dates in runs[k * len(runs) // n_parts:(k + 1) * len(runs) // n_parts]:
            for n, product in pairs[dates]:
                chosen.setdefault(n, (product, []))[1].append(dates)
        pair_parts.append([product.model_copy(update={"dates": None, "pairs": these})
                           for _, (product, these) in sorted(chosen.items())])
    return [
        [spec.model_copy(update={"bursts": [burst.model_copy(update={"products": products})]})
         for products in stage]
        for stage in (list(per_date.values()), pair_parts) if stage
    ]


def add_metrics(parts: list[BurstMetrics], wall_s: float) -> BurstMetrics:
    """The metrics of a burst run in parts: each figure summed but ``wall_s``, the burst's own wall time, s.

    ``cpu_s`` is then CPU seconds of all the workers the parts ran on.
    """
    summed = {name: sum(getattr(m, name) for m in parts) for name in BurstMetrics.model_fields}
    return BurstMetrics(**{**summed, "wall_s": wall_s})


def record_metrics(jobs: JobStore, job_id: str, burst: BurstJob, metrics: BurstMetrics) -> None:
    """Add a burst's metrics to its job (key ``<burst_id>_<pol>``).

    A rerun replaces them without counting the burst twice.
    """
    key = burst_key(burst)
    done = 0 if key in jobs.get(job_id).metrics else 1
    jobs.record_burst(job_id, key, metrics, done=done)


def burst_key(burst: BurstJob) -> str:
    """The key of a burst's metrics in a job record: VV and VH of one burst ID are two bursts."""
    return f"{burst.burst_id}_{burst.polarization.lower()}"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
