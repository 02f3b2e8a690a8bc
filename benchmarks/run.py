"""Run the benchmarks: `make bench` (= `uv run python benchmarks/run.py`).

Writes benchmarks/results/<name>.json and regenerates docs/performance.md. Options:
--quick (small sizes, results under benchmarks/results/quick/, docs untouched),
--only NAME (repeatable), --list, --repeat N. Benchmarks live in benchmarks/bench_*.py
(see benchmarks/harness.py for how to add one).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _configure_numba() -> None:
    """Before numba is imported: production code paths and a cache of our own.

    numba's cache key ignores NUMBA_BOUNDSCHECK, so a cache filled by the test suite (which
    CI runs with bounds checks) would be loaded here and slow every kernel down. The directory
    is keyed on a hash of the package's sources: numba does not invalidate a cached caller
    when a jitted callee in another module changes, and a stale entry can crash the process.
    """
    os.environ["NUMBA_BOUNDSCHECK"] = "0"
    sources = hashlib.sha256()
    for path in sorted((HERE.parent / "cube").rglob("*.py")):
        sources.update(path.read_bytes())
    name = f"sarcube-bench-numba-cache-{os.getuid()}-{sources.hexdigest()[:12]}"
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / name))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named on the command line (all by default); 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    args = parser.parse_args(argv)

    _configure_numba()
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    import harness

    for path in sorted(HERE.glob("bench_*.py")):
        importlib.import_module(path.stem)

    if args.list:
        for b in harness.REGISTRY.values():
            print(f"{b.name:20s} {b.goal:45s} {b.description}")
        return 0
    names = args.only or list(harness.REGISTRY)
    unknown = [n for n in names if n not in harness.REGISTRY]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {list(harness.REGISTRY)}")

    ctx = harness.Context(quick=args.quick, repeat=args.repeat)
    machine = harness.machine_info()
    out_dir = harness.RESULTS / "quick" if args.quick else harness.RESULTS
    failed = []
    for name in names:
        bench = harness.REGISTRY[name]
        harness.log(f"[bench] {name} ...")
        try:
            record = harness.run_one(bench, ctx, machine)
        except Exception as exc:  # report and go on with the others
            harness.log(f"[bench] {name} FAILED: {exc!r}")
            failed.append(name)
            continue
        path = harness.write_result(record, out_dir)
        if args.quick:  # smoke-test figures are not meant to be committed
            (out_dir / ".gitignore").write_text("*\n")
        t = record["timings"]
        ratio = record["ratio_reference_over_candidate"]
        ref = t["reference"]
        harness.log(
            f"[bench] {name}: best {t['candidate']['best_s'] * 1e3:.1f} ms, median "
            f"{t['candidate']['median_s'] * 1e3:.1f} ms"
            + (f"; {record['reference_name']} {ref['best_s'] * 1e3:.1f} ms, ratio {ratio:.1f}x"
               if ref else "")
            + (f"; goal {record['goal']}: {'met' if record['goal_met'] else 'NOT met'}"
               if record["goal_met"] is not None else "")
            + f" -> {path.relative_to(harness.ROOT)}"
        )
    if not args.quick:
        doc = harness.render_doc()
        harness.log(f"[bench] wrote {doc.relative_to(harness.ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
