"""A year of bursts on one machine: a full-size simulated stack through the Dask executor."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from harness import ROOT, Context, Result, Timing, benchmark, log

SEED = 16


def cache_root() -> Path:
    """Where simulated stacks and their cubes are kept between runs (outside the repository)."""
    env = os.environ
    base = env.get("SARCUBE_BENCH_CACHE") or env.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sarcube-bench"


def _sources_hash(*packages: str) -> str:
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted((ROOT / "cube" / package).rglob("*.py")):
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_cube(dates: int, size: str) -> tuple[Path, str]:
    """(cube path, burst ID) of a ``dates`` × 1 burst simulated cube with its DEM, made once.

    The SAFEs are keyed on the simulator's sources and the parameters, the cube on those and
    the sources that write it (ingest, format, storage, catalog, products).
    """
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack
    from cube.storage import list_burst_groups, open_store

    sim_key = f"sim-{size}-d{dates}-b1-s{SEED}-{_sources_hash('simulate')}"
    sim = cache_root() / sim_key
    if not (sim / "done").exists():
        log(f"[stack_year] simulating {dates} {size} dates into {sim} ...")
        stack = simulate_stack(sim, dates=dates, bursts=1, size=size, seed=SEED, progress=False)
        (sim / "done").write_text("\n".join(str(p) for p in stack.safe_paths) + "\n")
    safes = (sim / "done").read_text().split()
    writers = _sources_hash("ingest", "format", "storage", "catalog", "products")
    cube = cache_root() / f"cube-{sim_key}-{writers}"
    if not (cube / "done").exists():
        log(f"[stack_year] ingesting into {cube} ...")
        store = open_store(str(cube / "cube"))
        ingest(safes, store, progress=False)
        set_cube_dem(store, str(sim / "truth" / "dem.tif"))
        (cube / "done").write_text("ok\n")
    return cube / "cube", list_burst_groups(open_store(str(cube / "cube")))[0][0]


# -- the run -------------------------------------------------------------------------------------

DATES = 6
WORKERS = 2
YEAR_DATES, FRAME_BURSTS, HYSDS_BURSTS = 30, 27, 4
HYSDS_S, HYSDS_VCPU = 7 * 3600 + 24 * 60, 36
PRODUCTS = [{"product": "cslc"}, {"product": "coherence"}, {"product": "interferogram"}]
FARGATE_1VCPU_GB = (2, 3, 4, 5, 6, 7, 8)
"""Memory sizes of a 1-vCPU Fargate task, GB."""


class _Sampler:
    """Peak RSS and I/O counters (``/proc/<pid>/io``) of worker processes, sampled in a thread."""

    def __init__(self, pids: dict[str, int], every_s: float = 0.1):
        import psutil

        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.idle = {name: p.memory_info().rss for name, p in self.procs.items()}
        self.peak = dict(self.idle)
        self.io0 = {name: p.io_counters() for name, p in self.procs.items()}
        self.cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in self.procs}
        """(time.time(), CPU s user + system) of each worker, sampled."""
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for name, p in self.procs.items():
                self.peak[name] = max(self.peak[name], p.memory_info().rss)
                t = p.cpu_times()
                self.cpu[name].append((time.time(), t.user + t.system))

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.io1 = {name: p.io_counters() for name, p in self.procs.items()}

    def cpu_s(self, worker: str, start: float, stop: float) -> float:
        """CPU seconds a worker process used from ``start`` to ``stop`` (``time.time()``)."""
        times, cpu = np.array(self.cpu[worker]).T
        return float(np.interp(stop, times, cpu) - np.interp(start, times, cpu))

    def io(self, field: str) -> int:
        """Sum over the workers of one ``io_counters`` field's increase (read_chars, write_bytes...)."""
        return sum(getattr(self.io1[n], field) - getattr(self.io0[n], field) for n in self.procs)


def _run_job(executor: Any, cube: Path, burst: str, ard: Path) -> tuple[float, Any, list[dict]]:
    """(wall s, the burst's metrics, the task stream) of the stack's job through the executor."""
    from distributed import get_task_stream

    from cube.jobs import JobSpec, make_job_record

    spec = JobSpec(cube_url=str(cube), ard_url=str(ard), bursts=[{"burst_id": burst, "products": PRODUCTS}])
    record = executor.jobs.create(make_job_record(spec.model_dump(mode="json"), total=1))
    t0 = time.perf_counter()
    with get_task_stream(client=executor.client) as stream:
        executor.submit(spec, record.id)
        (metrics,) = executor.wait(record.id, timeout=6 * 3600)
    wall = time.perf_counter() - t0
    done = executor.jobs.get(record.id)
    for _ in range(300):  # the job's state is set by the futures' done-callbacks, in another thread
        if done.state != "running":
            break
        time.sleep(0.1)
        done = executor.jobs.get(record.id)
    if done.state != "succeeded":
        raise RuntimeError(f"the stack_year job {record.id} ended {done.state}: {done.message}")
    prefix = f"sarcube-{record.id}-0-"
    tasks = []
    for t in stream.data:
        key = str(t["key"])
        if key.startswith(prefix):
            (c,) = [s for s in t["startstops"] if s["action"] == "compute"]
            tasks.append({"part": key.removeprefix(prefix), "worker": t["worker"], "start": c["start"],
                          "stop": c["stop"]})
    return wall, metrics, tasks


def _pairs_of(dates: int) -> int:
    """Pairs of the pair rule over ``dates`` dates 12 days apart."""
    from cube.format import rule_pair_indices

    return len(rule_pair_indices([i * 12 * 86_400_000_000 for i in range(dates)]))


def _hm(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min {round(seconds % 60):02d} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min"


@benchmark("stack_year", goal="30 × 27 burst-dates ≤ 1 h on this 2-core machine", max_seconds=3600.0)
def bench_stack_year(ctx: Context) -> Result:
    """A year of a frame on one machine: a simulated stack of 6 full-size dates × 1 burst through
    the Dask executor (a LocalCluster of 2 one-thread worker processes; the job path: job spec →
    executor → worker tasks): the CSLC of every date, then the coherence and interferogram of
    every pair of the pair rule, all stored. The candidate is the time this machine would take
    for 30 dates × 27 bursts, extrapolated from the CPU seconds the workers spent per date (CSLC)
    and per pair (both its products, made in one part with their CSLC from the worker's memory;
    the machine is shared: CPU seconds, not wall) and from how well the
    parts filled the 2 workers; the reference is the same extrapolation of the CSLC alone,
    computed whole in-process on one core (the ``cslc_burst`` path), with perfect scaling: the
    ratio is the share of that ideal reached.

    ``extra`` holds the measured run (wall, burst-dates per core-hour, bytes read and written,
    worker peak RSS and the Fargate task it implies), where the CPU goes (per date and per pair;
    ``read_amplification``: bytes the workers read ÷ bytes of SLC read and ARD
    written), and the extrapolations to 30 × 4 and 30 × 27 burst-dates here and on 36 vCPU
    beside the JPL/HySDS figure (7 h 24 min on 36 vCPU for 30 SLCs × 4 bursts). The simulated
    stack and its cube are cached between runs (``SARCUBE_BENCH_CACHE``, else
    ``$XDG_CACHE_HOME`` or ``~/.cache``, under ``sarcube-bench/``), keyed on the sources that
    make them.
    """
    from cube.jobs import DaskExecutor

    size = "tiny" if ctx.quick else "full"
    cube, burst = cached_cube(DATES, size)
    warm_cube, warm_burst = cached_cube(2, "tiny")
    reference, dates, size_text = _reference(cube, burst)
    gc.collect()

    work = Path(tempfile.mkdtemp(prefix="sarcube-bench-stack-year-"))
    executor = DaskExecutor(str(work / "jobs.sqlite"), f"local://?n_workers={WORKERS}&threads_per_worker=1")
    try:
        _run_job(executor, warm_cube, warm_burst, work / "warm-ard")  # numba caches loaded in the workers
        pids = executor.client.run(os.getpid)
        load = os.getloadavg()[0]
        with _Sampler(pids) as sampler:
            wall, metrics, tasks = _run_job(executor, cube, burst, work / "ard")
        load = max(load, os.getloadavg()[0])
        ard_bytes = sum(p.stat().st_size for p in (work / "ard").rglob("*") if p.is_file())
    finally:
        executor.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    result = _result(wall, metrics, tasks, sampler, reference, ard_bytes, dates, size_text)
    result.extra["load_average_1min"] = load
    return result


def _reference(cube: Path, burst: str) -> tuple[Timing, int, str]:
    """(CPU s of one burst-date's CSLC whole in this process on one core, the dates, the size)."""
    from cube.products import BurstStack
    from cube.storage import open_store

    stack = BurstStack(open_store(str(cube)), burst)
    date, grid = stack.dates[0], stack.grid
    _ = stack.dem
    stack.cslc(date)  # numba warm
    t0 = time.process_time()
    stack.cslc(date)
    b = stack.burst(date)
    text = f"{len(stack.dates)} dates × 1 burst ({b.lines} × {b.samples}; grid {grid.height} × {grid.width})"
    return Timing([time.process_time() - t0]), len(stack.dates), text


def _result(wall: float, metrics: Any, tasks: list[dict], sampler: _Sampler, reference: Timing,
            ard_bytes: int, dates: int, size: str) -> Result:
    """The figures and extrapolations of a run (CPU seconds: this machine is shared)."""
    pairs = _pairs_of(dates)
    pair_products = [p["product"] for p in PRODUCTS if p["product"] != "cslc"]
    cpu = {"cslc": 0.0, "pair_products": 0.0}
    busy = 0.0
    for t in tasks:
        stage, _ = map(int, t["part"].split("-"))
        busy += t["stop"] - t["start"]
        # burst_stages: stage 0 one part per date, stage 1 runs of pairs with all their pair products
        cpu["cslc" if stage == 0 else "pair_products"] += sampler.cpu_s(t["worker"], t["start"], t["stop"])
    use = busy / (wall * WORKERS)  # how well the parts fill the workers
    per_date = cpu["cslc"] / dates
    per_pair = cpu["pair_products"] / pairs

    def machine_s(n_dates: int, bursts: int, cores: int) -> float:
        return bursts * (n_dates * per_date + _pairs_of(n_dates) * per_pair) / (cores * use)

    year_here = machine_s(YEAR_DATES, FRAME_BURSTS, WORKERS)
    ideal = FRAME_BURSTS * YEAR_DATES * reference.best / WORKERS
    year_cslc = YEAR_DATES * per_date / (YEAR_DATES * per_date + _pairs_of(YEAR_DATES) * per_pair)
    peak_gb = max(sampler.peak.values()) / 1e9
    fargate = next((g for g in FARGATE_1VCPU_GB if g >= 1.25 * peak_gb), None)
    extra: dict[str, Any] = {
        "measured_wall_s": wall,
        "measured_cpu_s": sum(cpu.values()),
        "measured_burst_dates_per_core_hour": dates * 3600 * use / sum(cpu.values()),
        "year_burst_dates_per_core_hour": YEAR_DATES * 3600 / machine_s(YEAR_DATES, 1, 1),
        "worker_use": use,
        "cslc_cpu_s_per_date": per_date,
        "cslc_reference_cpu_s": reference.best,
        "cslc_chunked_over_whole_burst": per_date / reference.best,
        "pair_products": " + ".join(pair_products),
        "pair_products_cpu_s_per_pair": per_pair,
        "pairs_measured": pairs,
        f"pairs_of_{YEAR_DATES}_dates": _pairs_of(YEAR_DATES),
        "year_share_cslc": year_cslc,
        "scheduling_and_idle_s": wall - busy / WORKERS,
        "bytes_read_slc": metrics.bytes_read,
        "bytes_written_ard": metrics.bytes_written,
        "ard_store_bytes": ard_bytes,
        "worker_read_chars": sampler.io("read_chars"),
        "worker_write_chars": sampler.io("write_chars"),
        "read_amplification": sampler.io("read_chars") / max(1, metrics.bytes_read + metrics.bytes_written),
        "year_cpu_s_per_burst": {"cslc": round(YEAR_DATES * per_date),
                                 "pair_products": round(_pairs_of(YEAR_DATES) * per_pair)},
        "worker_idle_rss_gb": max(sampler.idle.values()) / 1e9,
        "worker_peak_rss_gb": peak_gb,
        "fargate_task_1_vcpu_gb": fargate if fargate else f"> {FARGATE_1VCPU_GB[-1]} GB: use 2 vCPU",
        "30x4_here": _hm(machine_s(YEAR_DATES, HYSDS_BURSTS, WORKERS)),
        "30x4_36_vcpu": _hm(machine_s(YEAR_DATES, HYSDS_BURSTS, HYSDS_VCPU)),
        "30x4_jpl_hysds_36_vcpu": _hm(HYSDS_S),
        "30x27_here": _hm(year_here),
        "30x27_36_vcpu": _hm(machine_s(YEAR_DATES, FRAME_BURSTS, HYSDS_VCPU)),
        "30x27_jpl_hysds_36_vcpu_scaled": _hm(HYSDS_S * FRAME_BURSTS / HYSDS_BURSTS),
        "goal_1h_met": year_here <= 3600,
    }
    if year_here > 3600:
        extra["to_meet_1h"] = (f"CPU per burst-date of the year must fall {year_here / 3600:.1f}× "
                               f"(CSLC {100 * year_cslc:.0f}% of it, pair products the rest)")
    met = "met" if year_here <= 3600 else "NOT met"
    log(f"[stack_year] 30 × 27 here: {_hm(year_here)} (goal 1 h {met}); peak worker RSS {peak_gb:.2f} GB")
    return Result(candidate=Timing([year_here]), reference=Timing([ideal]), size=size, extra=extra,
                  reference_name="CSLC alone, whole burst in-process (×810 ÷ 2 cores)")
