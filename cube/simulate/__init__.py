"""Simulator of Sentinel-1 IW SLC SAFE products with known ground truth.

``simulate_stack`` writes one genuine-looking SAFE folder per date (12-day repeat) plus a
``truth/`` directory (DEM, deformation, coherence, σ0, sample-pixel geolocation); see
``docs/simulator.md``. The simulator shares no code with the processing chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pydantic

from ._constants import SWATHS
from ._layout import DEFORMATIONS
from ._stack import simulate
from ._truth import Truth, load_truth

__all__ = ["SimulatedStack", "Truth", "load_truth", "simulate_stack"]


class SimulatedStack(pydantic.BaseModel):
    """Result of :func:`simulate_stack`."""

    safe_paths: list[Path]  # one SAFE folder per date, sorted by date
    truth_dir: Path


def simulate_stack(
    out_dir: str | Path,
    dates: int = 3,
    bursts: int = 2,
    size: Literal["tiny", "full"] = "tiny",
    seed: int = 0,
    swath: str = "IW2",
    polarization: str = "VV",
    progress: bool = False,
    deformation: Literal["linear", "nonlinear"] = "linear",
) -> SimulatedStack:
    """Simulate a stack of ``dates`` Sentinel-1A IW SLC products into ``out_dir``.

    The products are 12 days apart from 2024-01-06, each of ``bursts`` bursts of one
    ``swath``/``polarization``.

    ``size="tiny"``: 160 lines × 480 samples per burst (seconds); ``"full"``: 1512 × 20000.
    Deterministic for a given ``seed``.

    ``deformation``: the Mogi field's history, ``"linear"`` in time (the last date sees ≈ 2.5
    fringes above the source) or ``"nonlinear"`` (linear + yearly cycle + one step halfway);
    ``truth.npz`` holds its line-of-sight displacement per date (``los_displacement``).
    """
    if dates < 1 or bursts < 1:
        raise ValueError("dates and bursts must be >= 1")
    if size not in ("tiny", "full"):
        raise ValueError(f"size must be 'tiny' or 'full', not {size!r}")
    if swath not in SWATHS:
        raise ValueError(f"swath must be one of {sorted(SWATHS)}, not {swath!r}")
    if polarization not in ("VV", "HH", "VH", "HV"):
        raise ValueError(f"unsupported polarization {polarization!r}")
    if deformation not in DEFORMATIONS:
        raise ValueError(f"deformation must be one of {DEFORMATIONS}, not {deformation!r}")
    safe_paths, truth_dir = simulate(Path(out_dir), dates, bursts, size, seed, swath,
                                     polarization, progress, deformation)
    return SimulatedStack(safe_paths=safe_paths, truth_dir=truth_dir)
