"""The ``sarcube`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from cube import __version__
from cube.errors import CubeError


def _csv(value: str) -> list[str]:
    return [v.strip().upper() for v in value.split(",") if v.strip()]


def cmd_info(args: argparse.Namespace) -> int:
    from cube.ingest import open_safe

    product = open_safe(args.source, orbit_file=args.orbit)
    records = [b.summary() for b in product.bursts(args.swaths, args.pols)]
    if args.json:
        json.dump(records, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    keys = list(records[0]) if records else []
    for r in records:
        print("  ".join(f"{k}={r[k]}" for k in keys))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from cube.ingest import ingest
    from cube.storage import open_store

    report = ingest(
        args.sources, open_store(args.cube), swaths=args.swaths, polarizations=args.pols,
        orbit_file=args.orbit, progress=not args.quiet,
    )
    print(report.summary())
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from cube.simulate import simulate_stack

    stack = simulate_stack(
        args.out_dir, dates=args.dates, bursts=args.bursts, size=args.size, seed=args.seed,
        progress=True,
    )
    for path in stack.safe_paths:
        print(path)
    print(f"ground truth: {stack.truth_dir}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from cube.demo import run_demo

    run_demo(Path(args.out), dates=args.dates, bursts=args.bursts)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="sarcube", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sarcube {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--swaths", type=_csv, help="e.g. IW1,IW2 (default: all)")
        p.add_argument("--pols", type=_csv, help="e.g. VV,VH (default: all)")
        p.add_argument("--orbit", help="POEORB/RESORB .EOF to use instead of the annotation orbit")

    p = sub.add_parser("info", help="one record per burst of a product (metadata only)")
    p.add_argument("source", help=".SAFE folder, .zip or annotation XML; path, s3:// or https://")
    selection(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("ingest", help="ingest products into an SLC cube")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--cube", required=True, help="cube URL: a local path or s3://bucket/prefix")
    selection(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("simulate", help="write a simulated stack of SAFE products")
    p.add_argument("out_dir")
    p.add_argument("--dates", type=int, default=3)
    p.add_argument("--bursts", type=int, default=2)
    p.add_argument("--size", choices=["tiny", "full"], default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("demo", help="simulate, ingest and show a small cube (embedded defaults)")
    p.add_argument("--out", default="demo-output")
    p.add_argument("--dates", type=int, default=3)
    p.add_argument("--bursts", type=int, default=2)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run a subcommand; a CubeError becomes one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CubeError as exc:
        print(f"sarcube: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sarcube: interrupted; the cube holds only complete dates", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
