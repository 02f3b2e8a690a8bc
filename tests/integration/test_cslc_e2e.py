"""End to end on a simulated stack: simulate → ingest → CSLC → interferogram, coherence, σ0,
checked against the simulator's ground truth (an independent forward model)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from cube.geometry import grid_coordinates, transformer
from cube.kernels import multilook
from cube.products import (
    BackscatterOptions,
    BurstStack,
    CoherenceOptions,
    InterferogramOptions,
)
from cube.simulate import load_truth
from cube.storage import list_burst_groups

PAIRS = [(0, 1), (0, 2), (1, 2)]


@pytest.fixture(scope="module")
def cube(tiny_cube):
    return tiny_cube


@pytest.fixture(scope="module")
def truth(tiny_stack):
    return load_truth(tiny_stack.truth_dir)


def _lonlat(stack: BurstStack, looks: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude of the centres of the product pixels for ``looks``."""
    x, y = grid_coordinates(stack.grid)
    xx, yy = np.meshgrid(x, y)
    lon, lat = transformer(stack.grid.epsg, 4326).transform(xx, yy)
    return multilook(lon, looks), multilook(lat, looks)


def _stacks(cube):
    return [BurstStack(cube, b, p) for b, p in list_burst_groups(cube)]


def test_every_burst_has_a_stored_fixed_grid(cube):
    stacks = _stacks(cube)
    assert len(stacks) == 2
    for s in stacks:
        assert cube.exists(f"grids/{s.burst_id}.json")
        g = s.grid
        assert g.dx == 5 and g.dy == 10 and g.x0 % 5 == 0 and g.y0 % 10 == 0
        assert 32601 <= g.epsg <= 32660


def test_interferometric_phase_recovers_the_deformation(cube, truth):
    """≤ 0.1 rad RMS where the true coherence is above 0.8, with no offset removed.

    Cells at the edge of the data are left out: their look window holds few valid pixels
    (half or less), so their phase is as noisy as a few looks make it, whatever the coherence.
    """
    opts = InterferogramOptions(multilook=(5, 10))
    signal = 0.0
    for stack in _stacks(cube):
        lon, lat = _lonlat(stack, opts.looks)
        for i, j in PAIRS:
            ifg = stack.compute("interferogram", [stack.dates[i], stack.dates[j]], options=opts)
            ok = np.isfinite(ifg)
            ok &= binary_erosion(ok, np.ones((3, 3), bool))  # cells whose neighbours all hold data
            def_phase = truth.interp("def_phase", lat[ok], lon[ok])
            gamma = truth.coherence(lat[ok], lon[ok])[..., i, j]
            residual = np.angle(ifg[ok] * np.exp(-1j * (def_phase[i] - def_phase[j])))
            high = gamma > 0.8
            assert high.sum() > 100
            rms = float(np.sqrt(np.mean(residual[high] ** 2)))
            assert rms <= 0.1, f"{stack.burst_id} pair {i}{j}: phase RMS {rms:.3f} rad"
            signal = max(signal, float(np.ptp(def_phase[i] - def_phase[j])))
    assert signal > 3.0, "the simulated deformation is present (several radians) in some pair"


def test_coherence_is_unbiased(cube, truth):
    """Bias ≤ 0.05 against the true coherence, over every valid window and the high ones."""
    opts = CoherenceOptions(window=(5, 10))
    for stack in _stacks(cube):
        lon, lat = _lonlat(stack, opts.looks)
        for i, j in PAIRS:
            coh = stack.compute("coherence", [stack.dates[i], stack.dates[j]], options=opts)
            ok = np.isfinite(coh)
            gamma = truth.coherence(lat[ok], lon[ok])[..., i, j]
            assert abs(np.mean(coh[ok] - gamma)) <= 0.05
            high = gamma > 0.8
            assert abs(np.mean(coh[ok][high] - gamma[high])) <= 0.05


def test_sigma0_matches_truth_on_flat_homogeneous_ground(cube, truth):
    """Mean σ0 within 0.1 dB of the truth where the ground is flat (< 1.5°) and one land cover
    (pooled over every burst date; each one within its speckle noise)."""
    opts = BackscatterOptions(multilook=(2, 4))
    lat_axis, lon_axis = truth["dem_lat"], truth["dem_lon"]
    north_m = lat_axis * 110_540.0
    east_m = lon_axis * 111_320.0 * np.cos(np.radians(lat_axis.mean()))
    gy, gx = np.gradient(truth["dem_height"], north_m, east_m)
    slope = np.degrees(np.arctan(np.hypot(gx, gy)))
    flat = {"lat": lat_axis, "lon": lon_axis, "slope": slope}
    measured, expected = [], []
    for stack in _stacks(cube):
        lon, lat = _lonlat(stack, opts.looks)
        for date in stack.dates:
            s0 = stack.compute("backscatter", [date], options=opts)
            ok = np.isfinite(s0)
            weights = truth.interp("region_weights", lat[ok], lon[ok])
            true = truth.interp("sigma0", lat[ok], lon[ok])
            li = np.clip(np.searchsorted(flat["lat"], lat[ok]), 0, flat["lat"].size - 1)
            lj = np.clip(np.searchsorted(flat["lon"], lon[ok]), 0, flat["lon"].size - 1)
            level = flat["slope"][li, lj] < 1.5
            for region in range(3):
                sel = level & (weights[region] > 0.98)
                if sel.sum() < 300:
                    continue
                diff_db = 10 * np.log10(np.mean(s0[ok][sel]) / np.mean(true[sel]))
                # one date of one tiny burst holds ~2000 independent speckle cells: ±0.1 dB noise
                assert abs(diff_db) <= 0.25, f"{stack.burst_id} {date} region {region}: {diff_db:.3f} dB"
                measured.append(np.mean(s0[ok][sel]))
                expected.append(np.mean(true[sel]))
    # ≥ 3 (burst date, land cover) sets of ≥ 300 flat pixels: adjacent tiny bursts share the
    # scene's hills, so less of each burst is flat and of one cover than when gaps parted them
    assert len(measured) >= 3
    pooled_db = 10 * np.log10(np.sum(measured) / np.sum(expected))
    assert abs(pooled_db) <= 0.1, f"σ0 off by {pooled_db:.3f} dB over {len(measured)} burst dates"


def test_cslc_is_nan_outside_the_valid_window_and_finite_inside(cube):
    stack = _stacks(cube)[0]
    window = stack.cslc(stack.dates[0])
    inside = np.isfinite(window.line)
    assert inside.mean() > 0.2
    assert np.all(np.isfinite(window.data[inside]))
    assert np.all(np.isnan(window.data[~inside]))
    burst = stack.burst(stack.dates[0])
    assert np.nanmin(window.line) >= burst.first_valid_line
    assert np.nanmax(window.line) <= burst.last_valid_line


def test_a_window_equals_the_same_part_of_the_whole_burst(cube):
    """One chunk computed alone is the same as that part of the whole-burst computation."""
    stack = _stacks(cube)[1]
    date = stack.dates[1]
    whole = stack.compute("cslc", [date])
    window = (slice(100, 164), slice(200, 328))
    part = stack.compute("cslc", [date], window)
    np.testing.assert_allclose(part, whole[window], rtol=0, atol=1e-3 * np.nanmax(np.abs(whole)))
