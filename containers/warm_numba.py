"""Compile every numba kernel of ``cube.kernels`` once, so the image ships its cache.

Run at image build time with ``NUMBA_CACHE_DIR`` set (``/opt/numba-cache``). Each kernel is
compiled for the dtypes the products pass (complex64 SLCs, float64 positions, float32 and
float64 images), which is what a later process looks up in the cache. Lambda's code directory is
read-only and numba silently ignores a read-only cache, so the Lambda image copies this cache to
``/tmp`` on cold start (``containers/lambda-entrypoint.sh``); the worker image uses it in place.

If ``cube.kernels`` offers ``warm()`` it is called instead, so the kernels' owner can take this
over. Prints one line per kernel and the cache size; exits 1 if any call failed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _calls() -> list[tuple[str, Callable[[], object]]]:
    """(name, call) for every kernel specialisation the products use, on tiny inputs."""
    from cube import kernels as k

    rng = np.random.default_rng(0)
    c64 = (rng.standard_normal((16, 24)) + 1j * rng.standard_normal((16, 24))).astype(np.complex64)
    c64b = (c64 * np.complex64(0.9 + 0.1j)).astype(np.complex64)
    az = np.linspace(4.0, 11.0, 35).reshape(5, 7)
    rg = np.linspace(4.0, 19.0, 35).reshape(5, 7)
    eta = np.linspace(-1.0, 1.0, 16)
    fdc = np.linspace(-50.0, 50.0, 24)
    ka = np.full(24, -2300.0)
    tops = {"velocity": 7600.0, "steering_rate": 0.0275, "wavelength": 0.0555}
    reramp = dict(line_centre=8.0, azimuth_time_interval=2.0e-3, slant_range_time=5.3e-3,
                  range_sampling_rate=6.4e7, sample0=0.0, fdc=fdc, ka=ka, **tops)
    t8 = k.make_sinc_table(8, 256)
    t16 = k.make_sinc_table(16, 256)
    return [
        ("tops_carrier_terms", lambda: k.tops_carrier_terms(fdc, ka, **tops)),
        ("interferogram_and_coherence", lambda: k.interferogram_and_coherence(c64, c64b, (2, 3))),
        ("multilook complex64", lambda: k.multilook(c64, (2, 2))),
        ("valid_fraction", lambda: k.valid_fraction(c64, c64b, (2, 3))),
        ("multilook float32", lambda: k.multilook(np.abs(c64), (2, 2))),
        ("multilook float64", lambda: k.multilook(np.abs(c64).astype(np.float64), (2, 2))),
        ("resample 8 taps", lambda: k.resample(c64, az, rg, t8)),
        ("resample 16 taps", lambda: k.resample(c64, az, rg, t16)),
        ("interpolate_bilinear float32", lambda: k.interpolate_bilinear(np.abs(c64), az, rg)),
        ("interpolate_bilinear float64",
         lambda: k.interpolate_bilinear(np.abs(c64).astype(np.float64), az, rg)),
        ("tops_deramp", lambda: k.tops_deramp(c64.copy(), eta, fdc, ka, **tops)),
        ("resample 8 taps, origin", lambda: k.resample(c64, az + 2, rg + 3, t8, origin=(2.0, 3.0))),
        ("tops_reramp_at flatten",
         lambda: k.tops_reramp_at(c64[:5, :7].copy(), az, rg, **reramp, flatten=True)),
        ("tops_reramp_at", lambda: k.tops_reramp_at(c64[:5, :7].copy(), az, rg, **reramp)),
        ("effective_looks", lambda: k.effective_looks(c64, c64b, (2, 3))),
        ("expected_sample_coherence", lambda: k.expected_sample_coherence(np.linspace(0, 0.9, 4), 8.0)),
        ("remove_coherence_bias",
         lambda: k.remove_coherence_bias(np.abs(c64[:4, :4]) / 4, np.full((4, 4), 8.0))),
        ("phase_weight", lambda: k.phase_weight(np.linspace(0.1, 0.9, 12, dtype=np.float32).reshape(3, 4), 8)),
        ("sbas_invert", lambda: k.sbas_invert(np.zeros((3, 4), np.float32), np.ones((3, 4), np.float32),
                                              np.array([[0, 1], [1, 2], [0, 2]]), 3)),
    ]


def warm(echo: Callable[[str], None] = print) -> int:
    """Compile the kernels into ``NUMBA_CACHE_DIR``; return the number of failed calls."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not cache:
        echo("warm_numba: NUMBA_CACHE_DIR is not set; the cache would land beside the sources")
        return 1
    from cube import kernels

    if callable(getattr(kernels, "warm", None)):
        kernels.warm()
        calls: list[tuple[str, Callable[[], object]]] = []
    else:
        calls = _calls()
    failed = 0
    for name, call in calls:
        t0 = time.perf_counter()
        try:
            call()
        except Exception as exc:  # report every kernel, then fail the build
            failed += 1
            echo(f"warm_numba: {name}: FAILED {type(exc).__name__}: {exc}")
            continue
        echo(f"warm_numba: {name}: {time.perf_counter() - t0:.2f} s")
    files = [p for p in Path(cache).rglob("*") if p.is_file()]
    size_mb = sum(p.stat().st_size for p in files) / 1e6
    echo(f"warm_numba: {len(files)} cache files, {size_mb:.1f} MB in {cache}")
    return failed


if __name__ == "__main__":
    sys.exit(1 if warm() else 0)
