"""The simulator's terrain as a real DEM gives it (orthometric, above EGM96): geocoding lands on the
simulator's truth only when the geoid is applied."""

from __future__ import annotations

import numpy as np

from cube.cli import main
from cube.products import BurstStack, set_cube_dem
from cube.storage import list_burst_groups


def _positions(cube, window):
    stack = BurstStack(cube, *list_burst_groups(cube)[0])
    return stack, stack.positions(stack.dates[0], window)


def test_orthometric_dem_geolocates_only_with_the_geoid(tiny_cube, tiny_stack, capsys):
    truth_tif = str(tiny_stack.truth_dir / "dem.tif")
    ortho_tif = tiny_stack.truth_dir / "dem_egm96.tif"
    assert ortho_tif.is_file()  # written wherever proj-data's EGM96 grid is (make setup, CI)
    stack = BurstStack(tiny_cube, *list_burst_groups(tiny_cube)[0])
    gh, gw = stack.grid.height // 2, stack.grid.width // 2
    window = (slice(gh - 48, gh + 48), slice(gw - 48, gw + 48))
    try:
        _, (t_line, t_sample) = _positions(tiny_cube, window)  # the truth: ellipsoidal heights
        assert main(["dem", tiny_cube.url, str(ortho_tif)]) == 0
        out = capsys.readouterr().out
        assert "heights above EGM96 (the file says EPSG:9707" in out and "geoid: EGM96 from" in out
        geo, (line, sample) = _positions(tiny_cube, window)
        assert geo.dem.vertical_datum == "egm96" and geo.dem.geoid == "egm96:egm96_15.gtx"
        ok = np.isfinite(t_line) & np.isfinite(line)
        assert ok.mean() > 0.9
        # with the geoid: the truth's positions (the DEM is float32: mm of height)
        assert np.abs(line - t_line)[ok].max() < 1e-3 and np.abs(sample - t_sample)[ok].max() < 1e-2
        # the same file read as ellipsoidal heights (no geoid): every pixel lands pixels away
        assert main(["dem", tiny_cube.url, str(ortho_tif), "--vertical-datum", "ellipsoid"]) == 0
        assert "geoid: none applied" in capsys.readouterr().out
        flat, (n_line, n_sample) = _positions(tiny_cube, window)
        ok &= np.isfinite(n_sample)
        undulation = geo.dem.heights - flat.dem.heights
        assert np.nanmin(np.abs(undulation)) > 10.0  # N is about -15 m where the simulator is
        assert np.abs(n_sample - t_sample)[ok].min() > 1.0
    finally:
        set_cube_dem(tiny_cube, truth_tif)
