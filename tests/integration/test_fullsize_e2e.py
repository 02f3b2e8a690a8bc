"""End to end at full size (1512 × 20000 pixels a burst, seed 1): simulate → ingest → CSLC →
interferogram, coherence, σ0 and geolocation against the simulator's truth (``make test-slow``).

Full-size bursts span 9× more azimuth time than tiny ones: errors growing with η (time from
the burst centre), such as the azimuth-quadratic phase of issue 14, only show here.
"""

from __future__ import annotations

import numpy as np
import pytest

from cube.products import BurstStack
from cube.simulate import load_truth
from cube.storage import list_burst_groups

from ._e2e import coherence_bins, geolocation_errors, phase_figures, sigma0_flat_homogeneous

pytestmark = pytest.mark.slow

LOOKS = (10, 20)  # grid rows × cols = 100 m × 100 m


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(BurstStack, Truth) of a 3-date, 1-burst full-size IW2 VV stack, seed 1 (~2.5 GB peak)."""
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack
    from cube.storage import open_store

    sim = simulate_stack(tmp_path_factory.mktemp("full"), dates=3, bursts=1, size="full", seed=1)
    store = open_store(str(tmp_path_factory.mktemp("full-cube") / "cube"))
    ingest([str(p) for p in sim.safe_paths], store, progress=False)
    set_cube_dem(store, str(sim.truth_dir / "dem.tif"))
    (burst_id, pol), = list_burst_groups(store)
    return BurstStack(store, burst_id, pol), load_truth(sim.truth_dir)


@pytest.fixture(scope="module")
def phase(full):
    stack, truth = full
    return phase_figures(stack, truth, 0, (0, 1), LOOKS)


def test_no_azimuth_quadratic_phase(phase):
    """The residual phase is flat along the burst: no a·(2η/T)² term (issue 14: a ≈ 0.93 rad
    when the simulator's carrier followed each date's own range sample)."""
    print("by azimuth bin (rad):", np.round(phase.azimuth_bins, 3), f"quadratic {phase.quadratic:+.3f}")
    assert abs(phase.quadratic) <= 0.05, f"azimuth-quadratic phase {phase.quadratic:+.3f} rad·(2η/T)²"
    assert np.nanmax(np.abs(phase.azimuth_bins)) <= 0.05


def test_phase_against_truth_within_the_cramer_rao_bound(phase):
    """≤ 0.1 rad RMS at 10 × 20 looks where the true coherence is above 0.8, and ≤ 1.3 × CRB."""
    print(f"RMS {phase.rms:.4f} rad, CRB {phase.crb:.4f} rad ({phase.looks:.1f} looks, "
          f"{phase.pixels} pixels), ratio {phase.ratio:.2f}, bias {phase.bias:+.4f} rad")
    assert phase.pixels > 1000
    assert phase.rms <= 0.1
    assert 0.7 <= phase.ratio <= 1.3


def test_coherence_bias_per_truth_bin(full):
    """|mean bias| ≤ 0.05 in every bin of true coherence from 0.2 up (10 × 20 window; dates 0
    and 2, 24 days apart, so that forest and grassland fill the bins below 0.5)."""
    stack, truth = full
    bins = coherence_bins(stack, truth, 0, (0, 2), LOOKS, np.round(np.arange(0.2, 1.01, 0.1), 1))
    for lo, hi, n, bias in bins:
        print(f"γ {lo:.1f}–{hi:.1f}: {n} pixels, bias {bias:+.4f}")
    filled = [b for b in bins if b[2] >= 50]
    assert len(filled) >= 4
    assert all(abs(bias) <= 0.05 for _, _, _, bias in filled)


def test_sigma0_within_a_tenth_of_a_db(full):
    """Mean σ0 within 0.1 dB of the truth on flat ground of one land cover, per date and region."""
    stack, truth = full
    rows = sigma0_flat_homogeneous(stack, truth)
    for date, region, measured, expected in rows:
        print(f"{date} region {region}: {10 * np.log10(measured / expected):+.3f} dB")
    assert len(rows) >= 2
    assert all(abs(10 * np.log10(m / e)) <= 0.1 for _, _, m, e in rows)


def test_geolocation_of_truth_points(full):
    """The product's burst position of each truth sample pixel's ground point is that pixel."""
    stack, truth = full
    for k in range(len(stack.dates)):
        err = geolocation_errors(stack, truth, 0, k)
        ok = np.all(np.isfinite(err), axis=1)
        print(f"date {k}: max |error| lines {np.abs(err[ok, 0]).max():.4f}, samples {np.abs(err[ok, 1]).max():.4f}")
        assert ok.sum() >= 10
        assert np.abs(err[ok]).max() <= 0.05
