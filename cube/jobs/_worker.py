r"""``sarcube-worker``: materialize one burst of a job (a container task, an array task, a Dask task).

Two ways to say what to do::

    sarcube-worker --job s3://bucket/jobs/<id>/job.json --burst-index 3 --job-id <id>
    sarcube-worker --cube-url s3://bucket/cube --burst-id t071_151200_iw3 \
        --product coherence --options '{"window": [5, 10]}' --window 0,512,0,512

The first reads a job file (:class:`~cube.jobs.JobSpec`, JSON or YAML, a path or URL); the
second builds a one-burst, one-product job from flags. The burst index also comes from
``SARCUBE_BURST_INDEX``, ``AWS_BATCH_JOB_ARRAY_INDEX`` or ``CLOUD_RUN_TASK_INDEX`` (0-based);
without one, every burst of the job runs in turn. With a job ID (``--job-id`` or
``SARCUBE_JOB_ID``) each burst's metrics go into the job store (``--jobs-url``,
``SARCUBE_JOBS_URL`` or ``dynamodb://$SARCUBE_JOBS_TABLE``). Each finished burst prints one
JSON line on stdout: ``{"job_id", "index", "burst_id", "polarization", "metrics"}``.

Exit status: 0 done; 2 bad input (the message on stderr names it and what to do); 1 a failure
worth retrying (another worker held a chunk too long, or an unexpected error, with its traceback).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from cube.config import WorkerSettings, keep_freed_memory, limit_blas_threads
from cube.errors import BusyError, CubeError, InputError, NotFoundError
from cube.jobs._records import JobStore, make_job_store
from cube.jobs._run import record_metrics, run_burst
from cube.jobs._spec import JobSpec, load_job

if TYPE_CHECKING:
    from tqdm import tqdm

log = logging.getLogger("sarcube.worker")

PROG = "sarcube-worker"


# ------------------------------------------------------------------------------------ command line


def _csv_ints(text: str, n: int, name: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--{name} {text!r} is not {n} integers separated by commas") from None
    if len(values) != n:
        raise InputError(f"--{name} {text!r} has {len(values)} numbers; give {n}")
    return values


def _json_object(text: str, name: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InputError(f"--{name} {text!r} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InputError(f"--{name} must be a JSON object, e.g. '{{\"window\": [5, 10]}}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``sarcube-worker`` argument parser."""
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Materialize one burst of a sarcube job into the ARD store and report its metrics.",
        epilog="Environment: SARCUBE_JOB, SARCUBE_BURST_INDEX (or AWS_BATCH_JOB_ARRAY_INDEX, "
        "CLOUD_RUN_TASK_INDEX), SARCUBE_JOB_ID, SARCUBE_BURST_ID, SARCUBE_JOBS_URL or SARCUBE_JOBS_TABLE, "
        "SARCUBE_LOCK_TABLE (DynamoDB chunk leases), LOG_LEVEL. Exit 2: bad input; 1: retry.",
    )
    job = p.add_argument_group("a job file")
    job.add_argument("--job", help="job spec (JSON or YAML): a path or URL such as s3://bucket/jobs/<id>/job.json")
    job.add_argument("--burst-index", type=int, help="0-based burst of the job (default: all, in turn)")
    rec = p.add_argument_group("job record")
    rec.add_argument("--job-id", help="job record to add each burst's metrics to")
    rec.add_argument("--jobs-url", help="job store: *.sqlite, sqlite:///path or dynamodb://table")
    flags = p.add_argument_group("or the job's fields as flags (one burst, one product)")
    flags.add_argument("--cube-url", help="the SLC cube (default $SARCUBE_CUBE_URL)")
    flags.add_argument("--ard-url", help="the ARD store (default $SARCUBE_ARD_URL, else <cube>/ard.zarr)")
    flags.add_argument("--storage-options", help="fsspec options of both stores, JSON")
    flags.add_argument("--engine", choices=["native", "isce2"], help="CSLC engine (default native)")
    flags.add_argument("--burst-id", help="ESA burst ID, e.g. t071_151200_iw3")
    flags.add_argument("--polarization", default=None, help="VV (default), VH, HH or HV")
    flags.add_argument("--product", help="product name, e.g. backscatter, coherence")
    flags.add_argument("--options", help="the product's options, JSON")
    flags.add_argument("--dates", help="date keys, comma-separated (per-date products; default all)")
    flags.add_argument("--pairs", help="REF:SEC date-key pairs, comma-separated (default: the pair rule)")
    flags.add_argument("--window", help="product-grid rows and columns r0,r1,c0,c1 (default all)")
    out = p.add_argument_group("output")
    out.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: when stderr is a terminal)")
    out.add_argument("--log-level", default=None, help="DEBUG, INFO (default $LOG_LEVEL or INFO), WARNING")
    return p


_FIELD_FLAGS = ("cube_url", "ard_url", "storage_options", "engine", "product", "options", "dates", "pairs",
                "window", "polarization")


def spec_from_flags(args: argparse.Namespace, env: WorkerSettings) -> JobSpec:
    """A one-burst, one-product job from flags (and SARCUBE_CUBE_URL/ARD_URL/STORAGE_OPTIONS)."""
    cube_url = args.cube_url or env.cube_url
    burst_id = args.burst_id or env.burst_id
    missing = [name for name, value in (("--cube-url", cube_url), ("--burst-id", burst_id),
                                        ("--product", args.product)) if not value]
    if missing:
        raise InputError(f"give --job <file>, or the job as flags: {', '.join(missing)} missing")
    product: dict[str, Any] = {"product": args.product}
    if args.options:
        product["options"] = _json_object(args.options, "options")
    if args.dates:
        product["dates"] = [d.strip() for d in args.dates.split(",") if d.strip()]
    if args.pairs:
        pairs = [p.strip().split(":") for p in args.pairs.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise InputError(f"--pairs {args.pairs!r}: write each pair as REFERENCE:SECONDARY date keys")
        product["pairs"] = pairs
    if args.window:
        product["window"] = _csv_ints(args.window, 4, "window")
    burst: dict[str, Any] = {"burst_id": burst_id, "products": [product]}
    if args.polarization:
        burst["polarization"] = args.polarization.upper()
    doc: dict[str, Any] = {
        "cube_url": cube_url,
        "ard_url": args.ard_url or env.ard_url,
        "storage_options": _json_object(args.storage_options, "storage-options")
        if args.storage_options else env.storage_options,
        "bursts": [burst],
    }
    if args.engine:
        doc["engine"] = args.engine
    try:
        return JobSpec.model_validate(doc)
    except ValidationError as exc:
        raise InputError(f"the job given as flags is not valid: {exc}") from None


class _Bar:
    """``progress(done, total)`` → a tqdm bar (made on the first call, when the total is known)."""

    def __init__(self, desc: str, enabled: bool):
        self.desc, self.enabled = desc, enabled
        self.bar: tqdm[Any] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit="chunk", file=sys.stderr,
                            disable=not self.enabled)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _select(spec: JobSpec, index: int | None, burst_id: str | None) -> list[int]:
    """The burst indices to run.

    ``index`` (checked against ``burst_id``), the bursts named ``burst_id``, or all.
    """
    n = len(spec.bursts)
    if index is not None:
        if not 0 <= index < n:
            raise InputError(f"burst index {index} is outside the job's {n} burst(s): use 0 to {n - 1}")
        if burst_id and spec.bursts[index].burst_id != burst_id:
            raise InputError(
                f"burst index {index} of the job is {spec.bursts[index].burst_id}, not {burst_id} "
                "(SARCUBE_BURST_ID / --burst-id): the job file and the caller disagree"
            )
        return [index]
    if burst_id:
        chosen = [i for i, b in enumerate(spec.bursts) if b.burst_id == burst_id]
        if not chosen:
            names = [b.burst_id for b in spec.bursts]
            raise NotFoundError(f"burst {burst_id} is not in the job; it has {names}")
        return chosen
    return list(range(n))


def _setup_logging(level: str | None) -> None:
    name = (level or "INFO").upper()
    if not isinstance(logging.getLevelName(name), int):
        raise InputError(f"log level {name!r} is not DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("sarcube").setLevel(name)
    logging.getLogger("cube").setLevel(name)


def use_numba_threads(threads: int) -> int:
    """Run numba's parallel kernels on ``threads`` threads here (at most numba's pool); the number set.

    A job worker's CPU is its own: a second numba thread on a 1-vCPU task, or beside other
    single-threaded Dask worker processes, costs CPU time (spinning, contention) and saves no wall time.
    """
    import numba

    n = max(1, min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    numba.set_num_threads(n)
    return n


def run(args: argparse.Namespace, env: WorkerSettings) -> int:
    """Run the bursts ``args`` and ``env`` select; one JSON line per burst on stdout."""
    _setup_logging(args.log_level or env.log_level)
    source = args.job or env.job
    given = [f"--{f.replace('_', '-')}" for f in _FIELD_FLAGS if getattr(args, f) is not None]
    if source and given:
        raise InputError(f"give either --job or the job's fields as flags, not both ({', '.join(given)})")
    if source:
        spec = load_job(source)
    else:
        spec = spec_from_flags(args, env)
    index = args.burst_index if args.burst_index is not None else env.burst_index
    burst_id = (args.burst_id or env.burst_id) if source else None
    indices = _select(spec, index, burst_id)

    job_id = args.job_id or env.job_id
    jobs_url = args.jobs_url or env.resolved_jobs_url()
    jobs: JobStore | None = None
    if job_id:
        if not jobs_url:
            raise InputError(f"job {job_id}: no job store to record it in; give --jobs-url "
                             "(a *.sqlite path or dynamodb://table) or set SARCUBE_JOBS_TABLE")
        jobs = make_job_store(jobs_url)
        jobs.get(job_id)  # NotFoundError naming it, before any work
    elif args.jobs_url:
        raise InputError("--jobs-url needs --job-id (the record to add the metrics to)")

    threads = env.resolved_numba_threads()
    blas = limit_blas_threads(threads)  # before numba loads numpy
    log.info("numba threads: %d; BLAS threads at most %s; freed memory kept for reuse: %s",
             use_numba_threads(threads), os.environ["OPENBLAS_NUM_THREADS"] if blas else "as loaded",
             keep_freed_memory())
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    for i in indices:
        burst = spec.bursts[i]
        log.info("burst %d/%d: %s %s, %d product(s), engine %s", i + 1, len(spec.bursts), burst.burst_id,
                 burst.polarization, len(burst.products), spec.engine)
        bar = _Bar(f"{burst.burst_id} {burst.polarization}", show)
        try:
            metrics = run_burst(spec, i, progress=bar)
        except Exception as exc:
            if jobs is not None and job_id:
                try:
                    jobs.update(job_id, message=f"burst {burst.burst_id} (index {i}) failed: {exc}")
                except Exception:  # the store being down must not hide the burst's own error
                    log.exception("could not record burst %s's failure in job %s", burst.burst_id, job_id)
            raise
        finally:
            bar.close()
        if jobs is not None and job_id:
            record_metrics(jobs, job_id, burst, metrics)
        line = {"job_id": job_id, "index": i, "burst_id": burst.burst_id, "polarization": burst.polarization,
                "metrics": metrics.model_dump(mode="json")}
        print(json.dumps(line), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sarcube-worker``; the exit status (0, 1 retry, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        try:
            env = WorkerSettings()
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}"
                                 for e in exc.errors())
            raise InputError(f"environment: {problems}") from None
        return run(args, env)
    except BusyError as exc:
        print(f"{PROG}: busy, retry later: {exc}", file=sys.stderr)
        return 1
    except CubeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; chunks written so far are complete, rerun to finish", file=sys.stderr)
        return 130


def cli() -> int:
    """The ``sarcube-worker`` console script: :func:`main`, then the process ends.

    What the process held is frozen out of the garbage collector first: Python's last
    collections at exit would otherwise go through it all (0.2-0.4 CPU s after a full-size pair).
    """
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(cli())
