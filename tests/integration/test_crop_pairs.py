"""Pair products on bursts ingested from crops: two simulated dates, each given as its bare
annotation XML plus a window of its measurement TIFF (``--measurement-offset``).

The reference is the same dates ingested from their whole SAFEs (the session's tiny cube): inside
the window a crop's interferogram and coherence must equal the whole burst's, outside it they
are NaN. (The one real crop, over Terceira, has a single date: tests/integration/test_real_crop.py.)
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy.ndimage import binary_erosion

from cube.cli import main
from cube.products import BurstStack, CoherenceOptions, InterferogramOptions
from cube.simulate._tiff import write_cint16_tiff
from cube.storage import list_burst_groups, open_store

ROWS, COLS = (40, 250), (0.25, 0.75)  # swath lines [40, 250): both bursts in part; middle half of the samples


def _run(*argv: str) -> str:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(list(argv))
    assert code == 0, err.getvalue()
    return err.getvalue()


def _crop(safe: Path, out: Path) -> tuple[Path, Path, tuple[int, int]]:
    """(annotation XML, cropped CInt16 TIFF, offset) of a simulated SAFE's IW2 VV."""
    xml = next((safe / "annotation").glob("s1a-iw2-slc-vv-*.xml"))
    pixels = tifffile.imread(next((safe / "measurement").glob("s1a-iw2-slc-vv-*.tiff")))
    c0, c1 = (round(f * pixels.shape[1]) for f in COLS)
    window = pixels[ROWS[0]:ROWS[1], c0:c1]
    pairs = np.stack([window.real, window.imag], axis=-1).astype(np.int16)
    tiff = out / f"{safe.stem}-crop.tiff"
    gcps = np.array([[0.0, 0.0, 0.0, 0.0, 0.0]])  # the annotation's geolocation grid is what counts
    write_cint16_tiff(tiff, pairs, gcps, "crop", "test", "2024:01:01 00:00:00")
    return xml, tiff, (ROWS[0], c0)


def _orbit(stack_dir: Path, safe: Path) -> Path:
    """The simulator's orbit file valid on the SAFE's date."""
    day = safe.name.split("_")[5][:8]
    return next(p for p in stack_dir.glob("*.EOF") if f"_V{day}" in p.name)


@pytest.fixture(scope="module")
def crop_cube(tiny_stack, tmp_path_factory):
    """The tiny stack's first two dates ingested from crops, the simulator's DEM recorded."""
    root = tmp_path_factory.mktemp("crop-pairs")
    cube = root / "cube"
    for safe in tiny_stack.safe_paths[:2]:
        xml, tiff, (row, col) = _crop(safe, root)
        _run("ingest", str(xml), "--measurement", str(tiff), "--measurement-offset", f"{row},{col}",
             "--orbit", str(_orbit(safe.parent, safe)), "--cube", str(cube), "--quiet")
    _run("dem", str(cube), str(tiny_stack.truth_dir / "dem.tif"))
    return open_store(str(cube))


@pytest.mark.parametrize("product, options, edge", [
    ("interferogram", InterferogramOptions(multilook=(2, 4)), 3),
    ("coherence", CoherenceOptions(window=(5, 10)), 1),
])
def test_pair_products_of_crops_equal_the_whole_bursts_inside_the_window(crop_cube, tiny_cube, product, options,
                                                                        edge):
    """``edge``: product pixels left out along the window's edge (≥ 20 m)."""
    bursts = sorted({b for b, p in list_burst_groups(crop_cube) if p == "VV"})
    assert len(bursts) == 2, "the window covers part of both bursts"
    for burst_id in bursts:
        crop, whole = BurstStack(crop_cube, burst_id, "VV"), BurstStack(tiny_cube, burst_id, "VV")
        dates = crop.dates[:2]
        assert dates == whole.dates[:2]
        got = crop.compute(product, dates, options=options)
        want = whole.compute(product, dates, options=options)
        finite = np.isfinite(got)
        # the window is a part of the burst: some product pixels, not all of the whole burst's
        assert 0.1 < finite.sum() / np.isfinite(want).sum() < 0.9, burst_id
        assert np.isfinite(want[finite]).all(), "nothing outside the burst's valid data"
        # at the window's edge the sinc kernel reaches the fill, as at any burst's valid edge:
        # compare away from it
        inside = binary_erosion(finite, np.ones((2 * edge + 1, 2 * edge + 1), bool))
        assert inside.sum() > 0.3 * finite.sum()
        if product == "interferogram":
            phase = np.angle(got[inside] * np.conj(want[inside]))
            assert np.percentile(np.abs(phase), 99) < 1e-3, burst_id
            np.testing.assert_allclose(np.abs(got[inside]), np.abs(want[inside]), rtol=5e-3)
        else:
            np.testing.assert_allclose(got[inside], want[inside], atol=5e-3)
