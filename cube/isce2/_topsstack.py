"""The topsStack driver: ``stackSentinel.py -W slc`` for one swath and a box around one burst.

Then its run files run in order, each step's output logged; a failing step raises naming it.

ISCE2 comes from conda-forge (the worker image) or from ``make isce2`` (the pinned source
built into ``.tools/``); both put the stack processors in ``<prefix>/share/isce2/topsStack``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from cube.errors import CubeError, InputError
from cube.format import BurstMetadata
from cube.geometry import burst_footprint

log = logging.getLogger(__name__)

NO_ISCE2 = ("the isce2 engine needs ISCE2: run `make isce2` (builds the pinned source into .tools/, "
            "docs/isce2.md), or use the container image containers/worker, or engine='native'")
SITE_DIR = Path(__file__).with_name("_site")
"""Holds the ``sitecustomize.py`` every ISCE2 process imports (numpy's legacy printing)."""


class TopsStackError(CubeError, RuntimeError):
    """A topsStack step (stackSentinel.py or one of its run files) failed or left no output."""



DEFAULT_SKIP = ("merge_reference_secondary_slc", "grid_baseline")
"""Run files of ``-W slc`` that the conversion does not need (it reads the bursts, not merged swaths)."""


class TopsStackTask(BaseModel):
    """One topsStack run: the SAFEs of every date, one swath, a box around one burst."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    burst_id: str = Field(pattern=r"^t\d{3}_\d{6}_iw[123]$", description="ESA burst ID")
    polarization: Literal["VV", "VH", "HH", "HV"] = "VV"
    safe_paths: list[str] = Field(min_length=2, description="local SAFE folders or zips, one per date")
    orbit_dir: str = Field(description="POEORB/RESORB .EOF files (else topsStack downloads them)")
    aux_dir: str = Field(description="S1 AUX_CAL files (only IPF 002.36 needs them; may be empty)")
    dem: str = Field(description="ISCE2 DEM: heights above WGS84, with its .xml (write_isce_dem)")
    reference_date: str | None = Field(None, pattern=r"^\d{8}$", description="YYYYMMDD of the reference")
    bbox: tuple[float, float, float, float] = Field(description="south, north, west, east, degrees")
    coregistration: Literal["geometry", "NESD"] = Field(
        "geometry", description="geometry alone, or geometry + network ESD (needs burst overlaps)")
    num_proc: int = Field(1, ge=1, le=64, description="processes for topo (--num_proc4topo)")

    @property
    def swath(self) -> int:
        """1, 2 or 3."""
        return int(self.burst_id[-1])


def _isce_date(burst: BurstMetadata) -> str:
    """The topsStack name of a date: the SAFE's start day (from the product name if it has one)."""
    m = re.search(r"_(\d{8})T\d{6}_\d{8}T\d{6}_", burst.product_id)
    return m.group(1) if m else burst.sensing_start.strftime("%Y%m%d")


def topsstack_task(
    reference: BurstMetadata,
    safe_paths: Sequence[str | os.PathLike],
    orbit_dir: str | os.PathLike,
    dem: str | os.PathLike,
    *,
    aux_dir: str | os.PathLike,
    coregistration: Literal["geometry", "NESD"] = "geometry",
    margin_deg: float = 0.01,
    num_proc: int = 1,
) -> TopsStackTask:
    """The topsStack task of one burst ID, its reference date being ``reference``'s.

    The box: with ``geometry``, a ``margin_deg`` square around the centre of the burst's
    valid footprint, so topsStack keeps as few bursts as possible (its crop keeps every burst
    whose full-burst lat/lon box meets ours: one or, for tilted footprints, a neighbour too).
    With ``NESD``, the burst's valid footprint: it meets the neighbours' full-burst boxes, so
    the run has the burst overlaps ESD needs, and lies inside every SAFE holding the burst
    (stackSentinel drops a date whose SAFE does not cover the box's latitudes, as a box grown
    past the SAFE's last burst would).
    """
    lon, lat = burst_footprint(reference)
    if coregistration == "geometry":
        clat, clon = float(np.mean(lat)), float(np.mean(lon))
        bbox = (clat - margin_deg, clat + margin_deg, clon - margin_deg, clon + margin_deg)
    else:
        bbox = (float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max()))
    return TopsStackTask(
        burst_id=reference.burst_id, polarization=reference.polarization,
        safe_paths=[str(Path(p).absolute()) for p in safe_paths], orbit_dir=str(Path(orbit_dir).absolute()),
        aux_dir=str(Path(aux_dir).absolute()), dem=str(Path(dem).absolute()),
        reference_date=_isce_date(reference), bbox=bbox, coregistration=coregistration, num_proc=num_proc,
    )


SAFE_LIST = "sarcube_safe_list.txt"


def topsstack_command(task: TopsStackTask, workdir: str | os.PathLike) -> list[str]:
    """The ``stackSentinel.py`` command line of a task (pure: writes nothing).

    ``-s`` names a text file (``<workdir>/sarcube_safe_list.txt``, one SAFE path a line, which
    :func:`run_topsstack` writes): stackSentinel reads a file given there as the SAFE list.
    ``-W slc`` (coregistered SLC stack, no interferograms), ``-n`` the one swath, ``-b`` the
    box, ``-C`` geometry or NESD, ``-m`` the reference date, ``--num_proc 1`` (run-file lines
    run one by one) and ``--num_proc4topo`` for topo's own processes.
    """
    work = Path(workdir)
    s, n, w, e = task.bbox
    cmd = [
        "stackSentinel.py",
        "-s", str(work / SAFE_LIST),
        "-o", task.orbit_dir,
        "-a", task.aux_dir,
        "-d", task.dem,
        "-w", str(work),
        "-p", task.polarization.lower(),
        "-W", "slc",
        "-n", str(task.swath),
        "-b", f"{s:.6f} {n:.6f} {w:.6f} {e:.6f}",
        "-C", task.coregistration,
    ]
    if task.reference_date:
        cmd += ["-m", task.reference_date]
    cmd += ["--num_proc", "1", "--num_proc4topo", str(task.num_proc)]
    return cmd


@functools.cache
def isce2_available() -> bool:
    """True where ``import isce`` works (the worker image, or after ``make isce2``).

    Tried in a child process (once per process): importing ISCE2 here would reconfigure this
    process's logging (ISCE2 loads its logging.conf) and write ``isce.log`` to the working folder.
    """
    if importlib.util.find_spec("isce") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-c", "import isce"], cwd=tmp, capture_output=True)
    return done.returncode == 0


def isce_home() -> Path | None:
    """The folder of ISCE2's ``isce`` package (``applications/`` is in it), without importing it."""
    spec = importlib.util.find_spec("isce")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def isce2_prefix() -> Path:
    """The install prefix holding ``share/isce2/topsStack``.

    conda-forge: ``sys.prefix``. ``make isce2``: ``.tools/isce2/<version>-<key>/``, two levels
    above its ``packages/isce2``. Otherwise the first folder above the ``isce`` package that
    holds it; ``sys.prefix`` if none does.
    """
    candidates = [Path(sys.prefix)]
    home = isce_home()
    if home is not None:
        candidates += list(home.parents)
    for root in candidates:
        if (root / "share" / "isce2" / "topsStack").is_dir():
            return root
    return Path(sys.prefix)


def topsstack_environment(base: Mapping[str, str] | None = None, prefix: str | None = None) -> dict[str, str]:
    """The environment of ISCE2's processes.

    The stack processors are in ``<prefix>/share/isce2/topsStack`` (not on PATH) and since
    2.6.2 they import ``topsStack.*``, so ``<prefix>/share/isce2`` goes on PYTHONPATH;
    ``<isce>/applications`` (gdal2isce_xml.py, ...) goes on PATH (``$ISCE_HOME``, else where
    the ``isce`` package is). :data:`SITE_DIR` goes first on PYTHONPATH: its
    ``sitecustomize`` makes numpy print the legacy way, so ISCE2's state files read back.
    """
    env = dict(os.environ if base is None else base)
    root = Path(prefix) if prefix else isce2_prefix()
    stack = root / "share" / "isce2"
    paths = [str(stack / "topsStack")]
    home = env.get("ISCE_HOME") or isce_home()
    if home:
        paths.append(str(Path(home) / "applications"))
    env["PATH"] = os.pathsep.join(paths + [env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SITE_DIR), str(stack)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _run_logged(argv: Sequence[str], step: str, workdir: Path, env: Mapping[str, str],
                emit: Callable[[str], None]) -> None:
    """Run one command, streaming its output to ``emit`` and ``logs/<step>.log``; raise naming the step."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logfile = logs / f"{step}.log"
    tail: deque[str] = deque(maxlen=20)
    try:
        proc = subprocess.Popen(list(argv), cwd=workdir, env=dict(env), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as exc:
        raise TopsStackError(f"topsStack step {step}: cannot start {shlex.join(argv)} ({exc})") from exc
    with proc, logfile.open("a") as fh:  # closes the pipe and waits for the process
        fh.write(f"$ {shlex.join(argv)}\n")
        assert proc.stdout is not None
        for line in proc.stdout:
            fh.write(line)
            tail.append(line.rstrip("\n"))
            emit(line.rstrip("\n"))
    code = proc.returncode
    if code != 0:
        last = "\n".join(tail)
        raise TopsStackError(
            f"topsStack step {step} failed (exit {code}) running `{shlex.join(argv)}`; "
            f"full log {logfile}; last lines:\n{last}"
        )


def run_files(workdir: str | os.PathLike) -> list[Path]:
    """``<workdir>/run_files/run_NN_*`` in their numbered order."""
    folder = Path(workdir) / "run_files"
    files = [p for p in folder.glob("run_*") if re.match(r"run_\d+_", p.name) and p.suffix != ".job"]
    return sorted(files, key=lambda p: int(p.name.split("_")[1]))


def _commands(run_file: Path) -> list[list[str]]:
    """The commands of a run file: one a line; ``wait`` and trailing ``&`` dropped (run in order)."""
    out = []
    for raw in run_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line == "wait":
            continue
        out.append(shlex.split(line.rstrip("&").strip()))
    return out


def _python_script(argv: list[str], env: Mapping[str, str]) -> list[str]:
    """Run ISCE2's ``*.py`` scripts with this interpreter (their shebang may find another python)."""
    if argv and argv[0].endswith(".py"):
        exe = shutil.which(argv[0], path=env.get("PATH"))
        if exe is not None:
            return [sys.executable, exe, *argv[1:]]
    return argv


def execute_run_files(workdir: str | os.PathLike, env: Mapping[str, str] | None = None, *,
                      skip: Sequence[str] = DEFAULT_SKIP, emit: Callable[[str], None] | None = None,
                      check: Callable[[str], None] | None = None) -> list[str]:
    """Run every run file in order, each line after the other; return the steps run.

    A step is a run file's name without ``run_NN_``. Steps whose name is in ``skip`` are not
    run. ``check(step)`` runs after each step (raise to stop). Raises :class:`TopsStackError`
    naming the step, the command, the log file and its last lines when a command fails.
    """
    work = Path(workdir)
    env = dict(os.environ if env is None else env)
    emit = emit or log.info
    files = run_files(work)
    if not files:
        raise TopsStackError(f"{work / 'run_files'}: stackSentinel.py wrote no run files")
    done = []
    for rf in files:
        step = rf.name.split("_", 2)[2]
        if step in skip:
            emit(f"topsStack: skipping {rf.name}")
            continue
        emit(f"topsStack: {rf.name}")
        for argv in _commands(rf):
            _run_logged(_python_script(argv, env), rf.name, work, env, emit)
        if check is not None:
            check(step)
        done.append(step)
    return done


def _check_step(workdir: Path, swath: int, step: str) -> None:
    """Outputs a step must leave: topsStack's unpacking prints its errors and exits 0."""
    def per_date(folder: str) -> list[Path]:
        return [d / f"IW{swath}.xml" for d in sorted((workdir / folder).glob("*"))] or [workdir / folder]

    need: list[Path] = []
    if step == "unpack_topo_reference":
        need = [workdir / "reference" / f"IW{swath}.xml"]
    elif step == "unpack_secondary_slc":
        need = per_date("secondarys")
    elif step == "fullBurst_resample":
        need = per_date("coreg_secondarys")
    missing = [p for p in need if not p.exists()]
    if missing:
        raise TopsStackError(
            f"topsStack step {step} left no {', '.join(map(str, missing))}; see {workdir / 'logs'}"
        )


def run_topsstack(task: TopsStackTask, workdir: str | os.PathLike, *, skip: Sequence[str] = DEFAULT_SKIP,
                  emit: Callable[[str], None] | None = None, prefix: str | None = None) -> Path:
    """Run topsStack (``-W slc``) for one burst: stackSentinel.py, then its run files in order.

    ``workdir`` must not hold an earlier run (stackSentinel refuses an existing run_files/).
    Output lines go to ``emit`` (default: this module's logger) and ``<workdir>/logs/``.
    Returns ``workdir``; read it with :func:`convert_topsstack`.

    Raises
    ------
    InputError
        ISCE2 is not importable here, or an input (DEM header, SAFE) is missing.
    TopsStackError
        A step failed (the message names it, the command and its log).
    """
    if not isce2_available():
        raise InputError(NO_ISCE2)
    work = Path(workdir).absolute()
    # stackSentinel makes its paths absolute from its own working directory, which is ``work``
    task = task.model_copy(update={
        "safe_paths": [str(Path(p).absolute()) for p in task.safe_paths],
        "orbit_dir": str(Path(task.orbit_dir).absolute()), "aux_dir": str(Path(task.aux_dir).absolute()),
        "dem": str(Path(task.dem).absolute()),
    })
    if (work / "run_files").exists():
        raise InputError(f"{work}: holds an earlier topsStack run (run_files/); use an empty directory")
    if not Path(f"{task.dem}.xml").is_file():
        raise InputError(f"{task.dem}: the DEM has no ISCE2 .xml; write it with write_isce_dem")
    for safe in task.safe_paths:
        if not Path(safe).exists():
            raise InputError(f"{safe}: SAFE not found (topsStack reads local SAFE folders or zips)")
    work.mkdir(parents=True, exist_ok=True)
    Path(task.aux_dir).mkdir(parents=True, exist_ok=True)
    (work / SAFE_LIST).write_text("".join(f"{p}\n" for p in task.safe_paths))
    env = topsstack_environment(prefix=prefix)
    cmd = topsstack_command(task, work)
    if shutil.which(cmd[0], path=env["PATH"]) is None:
        raise InputError(f"{cmd[0]} is not in {env['PATH']}: is ISCE2's topsStack installed?")
    emit = emit or log.info
    _run_logged(_python_script(cmd, env), "stackSentinel", work, env, emit)
    execute_run_files(work, env, skip=skip, emit=emit,
                      check=lambda step: _check_step(work, task.swath, step))
    return work
