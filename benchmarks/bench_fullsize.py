"""Full-size end to end against the simulator's truth: simulate a 3-date, 1-burst IW2 stack
(1512 × 20000, seed 1) in a child process (time, peak RSS), ingest it, and record the figures of
``make test-slow``'s checks (phase vs truth and the Cramér–Rao bound, coherence bias per truth
bin, σ0, geolocation). The stack is made once per run (about 2 minutes)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from harness import ROOT, Context, Result, Timing, benchmark

DATES = 3  # coherence bins use dates 0 and 2 (24 days): forest and grassland below γ = 0.5

_SIMULATE = r"""
import json, resource, sys, time
from cube.simulate import simulate_stack
t0 = time.perf_counter()
simulate_stack(sys.argv[1], dates=int(sys.argv[2]), bursts=1, size=sys.argv[3], seed=1)
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


def _simulate(out: Path, dates: int, size: str) -> dict:
    """Simulate in a fresh process: {"seconds", "max_rss_gb"} of simulate_stack alone."""
    run = subprocess.run([sys.executable, "-c", _SIMULATE, str(out), str(dates), size], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return json.loads(run.stdout.strip().splitlines()[-1])


@benchmark("fullsize_e2e", goal="phase ≤ 0.1 rad and ≤ 1.3 × CRB, |coherence bias| ≤ 0.05 "
           "per bin ≥ 0.2, σ0 ± 0.1 dB, no azimuth-quadratic phase", threads=None)
def bench_fullsize_e2e(ctx: Context) -> Result:
    """Simulator time per date of a 3-date full-size stack, and the end-to-end figures against its truth.

    The reference is numpy's FFT of one date's band-limited speckle field (the strip size), the
    least any simulator of that field must spend per date.
    """
    sys.path.insert(0, str(ROOT))
    from cube.ingest import ingest
    from cube.products import BurstStack, set_cube_dem
    from cube.simulate import load_truth
    from cube.storage import list_burst_groups, open_store
    from tests.integration._e2e import (
        coherence_bins,
        geolocation_errors,
        phase_figures,
        sigma0_flat_homogeneous,
    )

    size = "tiny" if ctx.quick else "full"
    looks = (5, 10) if ctx.quick else (10, 20)
    with tempfile.TemporaryDirectory(prefix="sarcube-bench-full-") as tmp:
        base = Path(tmp)
        sim = _simulate(base / "sim", DATES, size)
        safes = sorted((base / "sim").glob("*.SAFE"))
        store = open_store(str(base / "cube"))
        t0 = time.perf_counter()
        ingest([str(p) for p in safes], store, progress=False)
        set_cube_dem(store, str(base / "sim" / "truth" / "dem.tif"))
        ingest_s = time.perf_counter() - t0
        (burst_id, pol), = list_burst_groups(store)
        stack = BurstStack(store, burst_id, pol)
        truth = load_truth(base / "sim" / "truth")
        t0 = time.perf_counter()
        phase = phase_figures(stack, truth, 0, (0, 1), looks)
        bins = coherence_bins(stack, truth, 0, (0, 2), looks, np.round(np.arange(0.2, 1.01, 0.1), 1))
        s0 = sigma0_flat_homogeneous(stack, truth)
        geo = np.concatenate([geolocation_errors(stack, truth, 0, k) for k in range(DATES)])
        checks_s = time.perf_counter() - t0
        lines, samples = stack.burst(stack.dates[0]).lines, stack.burst(stack.dates[0]).samples
    strip = (lines + 60, samples + 100)
    field = np.ones(strip, np.complex64)
    ref = ctx.time(lambda: np.fft.ifft2(np.fft.fft2(field)), repeat=1)
    geo = geo[np.all(np.isfinite(geo), axis=1)]
    return Result(
        candidate=Timing([sim["seconds"] / DATES]), reference=ref,
        reference_name="numpy FFT of one date's field",
        size=f"{size}: {DATES} dates × 1 burst of {lines} × {samples}, seed 1",
        extra={
            "simulate_s_per_date": sim["seconds"] / DATES, "simulate_s": sim["seconds"],
            "simulate_max_rss_gb": sim["max_rss_gb"],
            "ingest_s": ingest_s, "checks_s": checks_s,
            "phase_rms_rad": phase.rms, "phase_crb_rad": phase.crb, "phase_rms_over_crb": phase.ratio,
            "phase_bias_rad": phase.bias, "effective_looks": phase.looks, "phase_pixels": phase.pixels,
            "phase_by_azimuth_bin_rad": phase.azimuth_bins, "azimuth_quadratic_rad": phase.quadratic,
            "coherence_bias_by_bin": [{"bin": f"{lo:.1f}-{hi:.1f}", "pixels": n, "bias": b}
                                      for lo, hi, n, b in bins],
            "sigma0_db": [{"date": d, "region": r, "offset_db": float(10 * np.log10(m / e))}
                          for d, r, m, e in s0],
            "geolocation_max_error_px": {"lines": float(np.abs(geo[:, 0]).max()),
                                         "samples": float(np.abs(geo[:, 1]).max())},
            "looks": list(looks),
            "max_rss_this_process_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        },
    )
