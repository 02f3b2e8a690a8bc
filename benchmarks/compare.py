"""Before/after: the same benchmarks on two commits, interleaved in one run on one machine.

``uv run python benchmarks/compare.py --before REV [--only NAME ...] [--rounds 2] [--repeat 3]``

Both commits (*before*, and ``HEAD`` as *after*: commit first) are checked out into temporary
git worktrees; each runs its ``benchmarks/run.py`` with this environment's interpreter (its
own ``cube`` first on ``sys.path``), alternating before, after, before, after... so that the
machine's drift hits both alike. The working tree is not touched until the results are written.
For each benchmark the best candidate time over all rounds is kept per side, and
``after ÷ before`` is reported (below 1: faster). Results go to
``benchmarks/results/compare/<before>-to-<after>.json`` and ``.md``; ``docs/performance.md``
links them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "results" / "compare"
#: Benchmarks that exercise the code paths an architecture change touches (engine, API, tiles).
DEFAULT = ["cslc_burst", "cslc_chunk_cold", "lazy_chunk_cold", "lazy_chunk_warm", "tile_cold", "tile_warm",
           "zarr_http_throughput", "stac_search", "first_call", "interferogram", "sinc_resample"]
#: A change within this factor of 1 is within the noise of these machines (repeat runs differ so).
NOISE = 0.15


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _run(tree: Path, names: list[str], repeat: int, results: Path) -> dict[str, dict]:
    """Run the benchmarks of ``tree`` (its own results folder is scratch); their records by name."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [sys.executable, str(tree / "benchmarks" / "run.py"), "--repeat", str(repeat)]
    for name in names:
        args += ["--only", name]
    proc = subprocess.run(args, cwd=tree, env=env, text=True, capture_output=True)
    sys.stderr.write(proc.stderr[-4000:])
    out = {}
    for name in names:
        path = tree / "benchmarks" / "results" / f"{name}.json"
        if path.exists():
            record = json.loads(path.read_text())
            out[name] = record
            shutil.copy(path, results / f"{name}.json")
    return out


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main(argv: list[str] | None = None) -> int:
    """Compare ``--before`` with the working tree; 1 if a benchmark is slower beyond the noise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the commit to compare against")
    parser.add_argument("--only", action="append", metavar="NAME", help=f"benchmarks (default {DEFAULT})")
    parser.add_argument("--rounds", type=int, default=2, help="before/after alternations")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    args = parser.parse_args(argv)
    names = args.only or DEFAULT
    before_rev = _git("rev-parse", "--short", args.before)
    after_rev = _git("rev-parse", "--short", "HEAD")
    scratch = Path(tempfile.mkdtemp(prefix="sarcube-compare-"))
    # beside this tree, so that ``../shared`` resolves as it does here
    trees = {side: ROOT.parent / f"{ROOT.name}-compare-{side}-{os.getpid()}" for side in ("before", "after")}
    _git("worktree", "add", "--detach", str(trees["before"]), before_rev)
    _git("worktree", "add", "--detach", str(trees["after"]), after_rev)
    best: dict[str, dict[str, float]] = {n: {} for n in names}
    try:
        for r in range(args.rounds):
            for side, tree in trees.items():
                rev = before_rev if side == "before" else after_rev
                print(f"[compare] round {r + 1}/{args.rounds}: {side} ({rev})", file=sys.stderr)
                (scratch / side).mkdir(exist_ok=True)
                for name, record in _run(tree, names, args.repeat, scratch / side).items():
                    t = record["timings"]["candidate"]["best_s"]
                    best[name][side] = min(best[name].get(side, t), t)
    finally:
        for tree in trees.values():
            _git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(scratch, ignore_errors=True)
    rows, slower = [], []
    for name in names:
        b, a = best[name].get("before"), best[name].get("after")
        ratio = a / b if a and b else None
        verdict = ("–" if ratio is None else "slower" if ratio > 1 + NOISE
                   else "faster" if ratio < 1 - NOISE else "same (within noise)")
        if verdict == "slower":
            slower.append(name)
        rows.append({"benchmark": name, "before_best_s": b, "after_best_s": a,
                     "after_over_before": ratio, "verdict": verdict})
    OUT.mkdir(parents=True, exist_ok=True)
    stem = f"{before_rev}-to-{after_rev}"
    doc = {"before": before_rev, "after": after_rev, "rounds": args.rounds, "repeat": args.repeat,
           "noise": NOISE, "rows": rows}
    (OUT / f"{stem}.json").write_text(json.dumps(doc, indent=1) + "\n")
    lines = [f"# Before/after: {before_rev} → {after_rev}", "",
             f"`benchmarks/compare.py --before {before_rev}`: {args.rounds} interleaved rounds, best of "
             f"{args.repeat} runs each, same machine, same interpreter. Within ±{NOISE:.0%} is noise here.",
             "",
             "| benchmark | before | after | after ÷ before | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        ratio = "–" if row["after_over_before"] is None else f"{row['after_over_before']:.2f}"
        lines.append(f"| {row['benchmark']} | {_fmt(row['before_best_s'])} | {_fmt(row['after_best_s'])} | "
                     f"{ratio} | {row['verdict']} |")
    (OUT / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
