"""The SBAS inversion kernel against a numpy least-squares reference and against MintPy."""

from __future__ import annotations

import numpy as np
import pytest

from cube import kernels as K


def _network(n_dates: int, span: int) -> np.ndarray:
    return np.array([(i, j) for i in range(n_dates) for j in range(i + 1, min(n_dates, i + span + 1))])


def _reference(phase, weight, pairs, n_dates):
    """Per pixel: weighted least squares with numpy's lstsq on the pairs that have a value."""
    n_pix = phase.shape[1]
    out = np.full((n_dates, n_pix), np.nan)
    tcoh = np.full(n_pix, np.nan)
    for p in range(n_pix):
        ok = ~np.isnan(phase[:, p]) & (weight[:, p] > 0)
        a = np.zeros((ok.sum(), n_dates))
        a[np.arange(ok.sum()), pairs[ok, 1]] = 1
        a[np.arange(ok.sum()), pairs[ok, 0]] = -1
        a = a[:, 1:]
        if ok.sum() == 0 or np.linalg.matrix_rank(a) < n_dates - 1:
            continue
        sw = np.sqrt(weight[ok, p])
        x = np.linalg.lstsq(a * sw[:, None], phase[ok, p] * sw, rcond=None)[0]
        out[0, p], out[1:, p] = 0, x
        e = phase[ok, p] - a @ x
        tcoh[p] = np.abs(np.exp(1j * e).sum()) / ok.sum()
    return out, tcoh


def _stack(n_dates=8, n_pix=300, span=3, seed=0, holes=0.1):
    rng = np.random.default_rng(seed)
    pairs = _network(n_dates, span)
    truth = np.cumsum(rng.normal(0, 1.0, (n_dates, n_pix)), axis=0)
    truth -= truth[0]
    phase = truth[pairs[:, 1]] - truth[pairs[:, 0]] + rng.normal(0, 0.3, (len(pairs), n_pix))
    weight = rng.uniform(0.5, 20, phase.shape)
    phase[rng.random(phase.shape) < holes] = np.nan
    return phase, weight, pairs, truth


def test_sbas_matches_numpy_least_squares():
    phase, weight, pairs, _ = _stack()
    hist, resid, tcoh, conn = K.sbas_invert(phase, weight, pairs, 8)
    ref, ref_tcoh = _reference(phase, weight, pairs, 8)
    assert np.array_equal(conn, ~np.isnan(ref[1]))
    assert conn.mean() > 0.9
    np.testing.assert_allclose(hist[:, conn], ref[:, conn], atol=1e-9)
    np.testing.assert_allclose(tcoh[conn], ref_tcoh[conn], atol=1e-9)
    assert np.all(np.isnan(hist[:, ~conn])) and np.all(np.isnan(tcoh[~conn]))
    assert np.all(resid[conn] >= 0)


def test_sbas_exact_on_a_consistent_network_and_flags_a_gap():
    pairs = np.array([(0, 1), (1, 2), (0, 2), (2, 3)])
    truth = np.array([0.0, 1.5, -2.0, 7.25])
    phase = (truth[pairs[:, 1]] - truth[pairs[:, 0]])[:, None].repeat(2, axis=1)
    phase[3, 1] = np.nan  # pixel 1 loses the only pair reaching date 3
    hist, resid, tcoh, conn = K.sbas_invert(phase, np.ones_like(phase), pairs, 4)
    np.testing.assert_allclose(hist[:, 0], truth, atol=1e-12)
    assert resid[0] < 1e-12 and tcoh[0] == pytest.approx(1.0)
    assert conn.tolist() == [True, False] and np.isnan(hist[:, 1]).all()


def test_sbas_rejects_bad_input():
    phase = np.zeros((2, 3))
    with pytest.raises(ValueError, match="pairs"):
        K.sbas_invert(phase, phase, np.array([(0, 1)]), 2)
    with pytest.raises(ValueError, match="different date"):
        K.sbas_invert(phase, phase, np.array([(0, 1), (1, 1)]), 2)
    with pytest.raises(ValueError, match="n_dates"):
        K.sbas_invert(phase, phase, np.array([(0, 0), (0, 0)]), 1)
    with pytest.raises(ValueError, match="weight"):
        K.sbas_invert(phase, -np.ones((2, 3)), np.array([(0, 1), (0, 1)]), 2)
    with pytest.raises(ValueError, match="dtype"):
        K.sbas_invert(phase.astype(np.int32), phase, np.array([(0, 1), (0, 1)]), 2)


def test_sbas_equals_mintpy_network_inversion():
    """MintPy's estimate_timeseries (weighted, per pixel as its ifgram_inversion runs it)."""
    from mintpy.ifgram_inversion import estimate_timeseries

    phase, weight, pairs, _ = _stack(n_dates=10, n_pix=60, span=4, holes=0.0)
    hist, _, tcoh, conn = K.sbas_invert(phase, weight, pairs, 10)
    n = 10
    a = np.zeros((len(pairs), n))
    a[np.arange(len(pairs)), pairs[:, 1]] = 1
    a[np.arange(len(pairs)), pairs[:, 0]] = -1
    a = a[:, 1:]
    tbase = np.full((n - 1, 1), 12 / 365.25)
    b = a * tbase.T  # MintPy's B: the velocity design matrix
    for p in range(phase.shape[1]):
        ts, q, _ = estimate_timeseries(a, b, phase[:, p:p + 1].astype(np.float32), tbase,
                                       weight_sqrt=np.sqrt(weight[:, p:p + 1]).astype(np.float32),
                                       min_norm_velocity=False, print_msg=False)
        np.testing.assert_allclose(hist[:, p], ts[:, 0], atol=2e-4)  # MintPy keeps float32
        assert tcoh[p] == pytest.approx(float(q), abs=1e-4)
    assert conn.all()


def test_phase_weight():
    w = K.phase_weight(np.array([np.nan, 0.0, 0.5, 1.0]), 10)
    assert w[0] == 0
    assert w[1] == pytest.approx(2 * 10 * 0.05**2 / (1 - 0.05**2))
    assert w[2] == pytest.approx(20 * 0.25 / 0.75)
    assert w[3] == pytest.approx(2 * 10 * 0.995**2 / (1 - 0.995**2))
