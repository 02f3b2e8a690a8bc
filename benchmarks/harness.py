"""A small benchmark harness: a registry, timers, JSON results and the docs table.

Add a benchmark by writing a function in any ``benchmarks/bench_*.py`` module::

    from harness import Context, Result, benchmark

    @benchmark("my_kernel", goal="≤ 40 ms", max_seconds=0.040, min_ratio=10)
    def bench_my_kernel(ctx: Context) -> Result:
        data = make_data(small=ctx.quick)
        cand = ctx.time(lambda: my_kernel(data))               # best/median of N repeats
        ref = ctx.time(lambda: slow_reference(data), repeat=2)  # measured in the same run
        return Result(candidate=cand, reference=ref, reference_name="numpy", size="…")

``run.py`` imports every ``bench_*.py`` module, runs the selected benchmarks, writes
``benchmarks/results/<name>.json`` and regenerates ``docs/performance.md`` from all results.
Each benchmark measures its own reference in the same process run: this machine is shared
and noisy, so the ratio candidate/reference is more stable than absolute times.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"


@dataclasses.dataclass
class Timing:
    """Wall-clock times of repeated runs, seconds."""

    times: list[float]

    @property
    def best(self) -> float:
        """Shortest time, s."""
        return min(self.times)

    @property
    def median(self) -> float:
        """Median time, s."""
        return statistics.median(self.times)

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"best_s": self.best, "median_s": self.median, "repeats": len(self.times),
                "all_s": self.times}


@dataclasses.dataclass
class Result:
    """What a benchmark function returns.

    ``ratio`` is reference time / candidate time (best of each): > 1 means faster than the
    reference. ``extra`` holds any further figures (JSON-serialisable).
    """

    candidate: Timing
    reference: Timing | None = None
    reference_name: str = ""
    size: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Reference best time ÷ candidate best time (None without a reference)."""
        if self.reference is None:
            return None
        return self.reference.best / self.candidate.best


@dataclasses.dataclass
class Benchmark:
    """A registered benchmark (see :func:`benchmark`)."""

    name: str
    func: Callable[[Context], Result]
    goal: str
    description: str
    max_seconds: float | None
    min_ratio: float | None
    threads: int | None


REGISTRY: dict[str, Benchmark] = {}


def benchmark(
    name: str,
    *,
    goal: str = "",
    max_seconds: float | None = None,
    min_ratio: float | None = None,
    threads: int | None = 1,
) -> Callable[[Callable[[Context], Result]], Callable[[Context], Result]]:
    """Register a benchmark.

    Parameters
    ----------
    name : str
        Unique name; also the results file name ``results/<name>.json``.
    goal : str
        Human-readable goal for the docs table, e.g. "≤ 40 ms, ≥ 10× numpy".
    max_seconds, min_ratio : float, optional
        Machine-checkable form of the goal (best candidate time; reference/candidate ratio),
        evaluated on full-size runs only.
    threads : int or None
        numba threads while the benchmark runs (1 = "on one core"); None leaves the default.
    """

    def register(func: Callable[[Context], Result]) -> Callable[[Context], Result]:
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        first_paragraph = (func.__doc__ or "").strip().split("\n\n")[0]
        description = " ".join(first_paragraph.split())
        REGISTRY[name] = Benchmark(name, func, goal, description, max_seconds, min_ratio,
                                   threads)
        return func

    return register


@dataclasses.dataclass
class Context:
    """Passed to every benchmark: run options and the timer."""

    quick: bool = False
    repeat: int = 5

    def time(self, func: Callable[[], object], repeat: int | None = None, warmup: int = 1) -> Timing:
        """Time ``func``: ``warmup`` untimed runs, then ``repeat`` timed ones.

        The warm-up absorbs numba compilation and page faults; ``repeat`` defaults to the
        run's ``--repeat``.
        """
        for _ in range(warmup):
            func()
        n = repeat if repeat is not None else self.repeat
        times = []
        for _ in range(max(1, n)):
            t0 = time.perf_counter()
            func()
            times.append(time.perf_counter() - t0)
        return Timing(times)


def machine_info() -> dict[str, Any]:
    """Describe the machine and the software, to read results later."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        info["loadavg_1_5_15"] = list(os.getloadavg())
    except OSError:
        pass
    for mod in ("numpy", "numba", "scipy"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        import numba

        info["numba_threads"] = numba.config.NUMBA_NUM_THREADS
        info["numba_threading_layer"] = numba.config.THREADING_LAYER
    except ImportError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=10)
        info["git_commit"] = commit.stdout.strip() or None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10)
        info["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def run_one(bench: Benchmark, ctx: Context, machine: dict[str, Any]) -> dict[str, Any]:
    """Run one benchmark and return its JSON record."""
    threads_before = None
    if bench.threads is not None:
        import numba

        threads_before = numba.get_num_threads()
        numba.set_num_threads(min(bench.threads, numba.config.NUMBA_NUM_THREADS))
    t0 = time.perf_counter()
    try:
        res = bench.func(ctx)
    finally:
        if threads_before is not None:
            import numba

            numba.set_num_threads(threads_before)
    elapsed = time.perf_counter() - t0
    ratio = res.ratio
    met: bool | None = None
    if not ctx.quick and (bench.max_seconds is not None or bench.min_ratio is not None):
        met = True
        if bench.max_seconds is not None:
            met &= res.candidate.best <= bench.max_seconds
        if bench.min_ratio is not None:
            met &= ratio is not None and ratio >= bench.min_ratio
    return {
        "name": bench.name,
        "description": bench.description,
        "goal": bench.goal,
        "goal_met": met,
        "quick": ctx.quick,
        "size": res.size,
        "numba_threads": bench.threads,
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "timings": {
            "candidate": res.candidate.as_dict(),
            "reference": res.reference.as_dict() if res.reference else None,
        },
        "reference_name": res.reference_name,
        "ratio_reference_over_candidate": ratio,
        "extra": res.extra,
        "benchmark_wall_s": elapsed,
        "machine": machine,
    }


def write_result(record: dict[str, Any], directory: Path) -> Path:
    """Write ``record`` to ``<directory>/<name>.json`` and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record['name']}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=False) + "\n")
    return path


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "–"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def render_doc(directory: Path = RESULTS, doc: Path = DOC) -> Path:
    """Regenerate ``docs/performance.md`` from every ``<directory>/*.json``."""
    records = []
    for p in sorted(directory.glob("*.json")):
        try:
            records.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    lines = [
        "# Performance",
        "",
        "<!-- Generated by `make bench` (benchmarks/run.py) from benchmarks/results/*.json. "
        "Do not edit by hand: edit the benchmarks or benchmarks/harness.py. -->",
        "",
        "Each benchmark times the code under test (*best* and *median* of several runs) and, "
        "in the same process run, a **reference** implementation of the same job (plain numpy "
        "or scipy unless stated). The machines we run on are shared and noisy (2 vCPU with "
        "about one core of throughput), so absolute times drift from run to run; the "
        "**ratio** reference ÷ candidate, measured under the same conditions, is the "
        "figure to compare across runs. Goals are checked on the best time and on the ratio; "
        "kernels run with one numba thread unless the row says otherwise.",
        "",
        "| benchmark | size | best | median | reference | ref. best | ratio | goal | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    machine: dict[str, Any] = {}
    for r in records:
        t = r["timings"]
        ref = t.get("reference") or {}
        ratio = r.get("ratio_reference_over_candidate")
        met = r.get("goal_met")
        threads = r.get("numba_threads")
        name = r["name"] + (f" ({threads} thread)" if threads == 1 else "")
        lines.append(
            "| {name} | {size} | {best} | {median} | {refname} | {refbest} | {ratio} | {goal} "
            "| {met} |".format(
                name=name,
                size=r.get("size", ""),
                best=_fmt_time(t["candidate"]["best_s"]),
                median=_fmt_time(t["candidate"]["median_s"]),
                refname=r.get("reference_name") or "–",
                refbest=_fmt_time(ref.get("best_s")),
                ratio=f"{ratio:.1f}×" if ratio is not None else "–",
                goal=r.get("goal") or "–",
                met={True: "yes", False: "**no**", None: "–"}[met],
            )
        )
        machine = r.get("machine", machine)
    lines += ["", "## Details", ""]
    for r in records:
        lines.append(f"- **{r['name']}**: {r.get('description', '')}")
        for k, v in (r.get("extra") or {}).items():
            if isinstance(v, float):
                v = _fmt_time(v) if k.endswith("_s") and not k.endswith("_per_s") else f"{v:.4g}"
            lines.append(f"  - {k}: {v}")
    if machine:
        lines += [
            "",
            "## Machine of the last run",
            "",
            f"- CPU: {machine.get('cpu', '?')} ({machine.get('cpu_count', '?')} logical CPUs), "
            f"load average at start {machine.get('loadavg_1_5_15', '?')}",
            f"- Python {machine.get('python')}, numpy {machine.get('numpy')}, numba "
            f"{machine.get('numba')} ({machine.get('numba_threads')} threads available), scipy "
            f"{machine.get('scipy')}",
            f"- git commit {machine.get('git_commit')}"
            + (" (with uncommitted changes)" if machine.get("git_dirty") else ""),
            f"- date {records[-1].get('date_utc', '?')}",
        ]
    comparisons = sorted((directory / "compare").glob("*.md"))
    if comparisons:
        lines += ["", "## Before/after comparisons", "",
                  "Interleaved runs of two commits on one machine (`benchmarks/compare.py --before REV`):",
                  ""]
        lines += [f"- [{p.stem}](../benchmarks/results/compare/{p.name})" for p in comparisons]
    lines += [
        "",
        "Run `make bench` (or `uv run python benchmarks/run.py`, `--quick` for small sizes, "
        "`--only NAME`) to refresh. Raw figures: `benchmarks/results/<name>.json`.",
        "",
    ]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines))
    return doc


def log(msg: str) -> None:
    """Print a progress message on stderr."""
    print(msg, file=sys.stderr, flush=True)
