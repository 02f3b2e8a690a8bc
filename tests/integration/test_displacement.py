"""Displacement series on a simulated 10-date stack: truth, MintPy, incremental, HTTP, bad input.

One tiny burst (the Mogi source under it), 10 dates 12 days apart with a nonlinear history
(linear + yearly cycle + step); multilook 4 × 8 (20 m × 40 m).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from pyproj import Transformer

from cube.errors import InputError
from cube.format import new_pairs, rule_pairs
from cube.ingest import ingest
from cube.jobs import JobSpec, check_job, run_burst
from cube.jobs._displacement import compute_series
from cube.keepup import Subscription, plan_keep_up
from cube.materialize import ArdEngine, ProductStore, Tally, follows_selection, select
from cube.products import ArdArray, BurstStack, DisplacementOptions, Variant, set_cube_dem
from cube.simulate import load_truth, simulate_stack
from cube.storage import open_store

N_DATES = 10
LOOKS = [4, 8]
OPTS = {"multilook": LOOKS}


def mercantile_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(x, y) of the WebMercatorQuad tile holding (lon, lat) at zoom z."""
    import morecantile

    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return t.x, t.y


def _job(cube: str, burst_id: str, product: str = "displacement", options: dict | None = None) -> JobSpec:
    return JobSpec(cube_url=cube, bursts=[{"burst_id": burst_id, "products": [
        {"product": product, "options": options or OPTS}]}])


def _engine(cube: str, ard: Path) -> ArdEngine:
    return ArdEngine(open_store(cube), open_store(str(ard)))


def _series(engine: ArdEngine, burst_id: str, options: dict | None = None) -> np.ndarray:
    variant = Variant.of("displacement", options or OPTS)
    dates = sorted(engine.stack(burst_id).dates)
    return np.stack([engine.read(ArdArray(burst_id, "VV", variant, (d,))) for d in dates])


def count_follows(engine: ArdEngine, variant: Variant, burst_id: str) -> list:
    """The absent chunks a per-burst product needs stored to be current (the latest displacement)."""
    follow = follows_selection(engine, select(engine, variant, burst_id))
    assert follow is not None
    return engine.missing(follow)


def _unwrapped_pairs(engine: ArdEngine, burst_id: str) -> set[str]:
    folder = Variant.of("unwrapped", OPTS).folder  # <key>/unwrapped: the phase of each pair
    return set(engine.ard.list(f"{burst_id}/vv/{folder}"))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """N_DATES − 1 dates ingested and inverted, then one more appended and the series extended by
    the job keep-up plans for it (store A); all of them inverted from scratch in another ARD
    store (B)."""
    root = tmp_path_factory.mktemp("disp")
    sim = simulate_stack(root / "sim", dates=N_DATES, bursts=1, size="tiny", seed=3, deformation="nonlinear")
    cube = str(root / "cube")
    store = open_store(cube)
    safes = [str(p) for p in sim.safe_paths]
    ingest(safes[:-1], store, progress=False)
    set_cube_dem(store, str(sim.truth_dir / "dem.tif"))
    engine = _engine(cube, root / "a.zarr")
    burst_id = engine.grids()[0].burst_id
    run_burst(_job(cube, burst_id), 0, engine=engine)
    before = _unwrapped_pairs(engine, burst_id)
    report = ingest(safes[-1:], store, progress=False)
    engine = _engine(cube, root / "a.zarr")  # sees the new date
    velocity = ProductStore(engine, burst_id, "VV", Variant.of("velocity", OPTS))
    corner = (ArdArray(burst_id, "VV", velocity.variant, ()), 0, 0)
    stale = {"stored": engine.state(*corner), "current": velocity.current(*corner),
             "missing": len(count_follows(engine, velocity.variant, burst_id))}
    # keep-up: a subscription to the displacement and velocity over the burst plans the job of the
    # new date (the velocity, per burst, has no date: it is fitted again over every date)
    grid = engine.product_grid(burst_id, "VV", Variant.of("displacement", OPTS))
    subscription = Subscription(id="disp", bbox=grid.lonlat_bounds(),
                                products=[{"product": "displacement", "options": OPTS},
                                          {"product": "velocity", "options": OPTS}])
    bursts, _ = plan_keep_up(engine, report.added, [subscription])
    assert [p.product for b in bursts for p in b.products] == ["displacement", "velocity"]
    run_burst(JobSpec(cube_url=cube, bursts=bursts), 0, engine=engine)
    after = _unwrapped_pairs(engine, burst_id)
    stale["current after"] = velocity.current(*corner)
    stale["missing after"] = len(count_follows(engine, velocity.variant, burst_id))
    fresh = _engine(cube, root / "b.zarr")
    run_burst(_job(cube, burst_id), 0, engine=fresh)
    return {"cube": cube, "burst_id": burst_id, "truth": load_truth(sim.truth_dir), "a": engine, "b": fresh,
            "before": before, "after": after, "root": root, "safes": safes, "stale": stale}


def test_extending_the_series_unwraps_only_the_new_pairs_and_equals_recomputing(run):
    dates = sorted(run["a"].stack(run["burst_id"]).dates)
    new = {"_".join(p) for p in new_pairs(dates[:-1], dates[-1])}
    assert run["after"] - run["before"] == new
    assert run["before"] <= run["after"]
    np.testing.assert_array_equal(_series(run["a"], run["burst_id"]), _series(run["b"], run["burst_id"]))
    # between the new date and its job the stored velocity is stale: reads answer 202 and a job
    stale = run["stale"]
    assert (stale["stored"], stale["current"], stale["current after"]) == ("present", False, True), stale
    assert stale["missing"] > 0 and stale["missing after"] == 0, stale
    for variant in Variant.of("velocity", OPTS).variables:  # the velocity follows the new date
        ref = ArdArray(run["burst_id"], "VV", variant, ())
        np.testing.assert_array_equal(run["a"].read(ref), run["b"].read(ref))


def _truth_on_grid(run, series):
    engine, burst_id = run["b"], run["burst_id"]
    grid = engine.product_grid(burst_id, "VV", Variant.of("displacement", OPTS))
    x, y = grid.xy()
    lon, lat = Transformer.from_crs(grid.epsg, 4326, always_xy=True).transform(*np.meshgrid(x, y))
    truth = run["truth"]
    inside = ((lat > truth["dem_lat"][0]) & (lat < truth["dem_lat"][-1])
              & (lon > truth["dem_lon"][0]) & (lon < truth["dem_lon"][-1]))
    r, c = series.ref
    assert inside[r, c]
    lat, lon = np.where(inside, lat, lat[r, c]), np.where(inside, lon, lon[r, c])
    los = truth.interp("los_displacement", lat, lon)
    area = los[:, max(r - 2, 0):r + 3, max(c - 2, 0):c + 3]  # the reference area (REF_HALF = 2)
    los = los - area.reshape(los.shape[0], -1).mean(axis=1)[:, None, None]
    n = los.shape[0]
    iu = np.triu_indices(n, 1)
    coherent = inside & (truth.coherence(lat, lon)[..., iu[0], iu[1]].min(axis=-1) > 0.7)
    return los, coherent


def test_displacement_and_velocity_agree_with_the_simulator_truth(run):
    engine, burst_id = run["b"], run["burst_id"]
    dates, series, unwrapped = compute_series(engine, burst_id, "VV", DisplacementOptions(multilook=LOOKS), Tally())
    assert unwrapped == 0  # every pair stored by the job
    assert len(dates) == N_DATES
    stored = _series(engine, burst_id)
    np.testing.assert_array_equal(stored, series.displacement)
    los, coherent = _truth_on_grid(run, series)
    assert coherent.sum() > 100
    est = stored[:, coherent]
    true = los[:, coherent]
    valid = np.all(np.isfinite(est), axis=0)
    assert valid.mean() > 0.9, valid.mean()
    err = est[:, valid] - true[:, valid]
    rms_mm = 1e3 * np.sqrt(np.mean(err**2))
    assert rms_mm <= 3.0, rms_mm
    half = run["truth"].readme["wavelength_m"] / 2  # one cycle of phase in LOS metres
    jumps = np.any(np.abs(np.round(err / half)) >= 1, axis=0)
    assert jumps.mean() <= 0.01, jumps.mean()
    # the sign: where the truth moves most, the estimate moves the same way
    big = np.abs(true[-1, valid]) > 0.01
    assert big.sum() > 10 and np.all(np.sign(est[-1, valid][big]) == np.sign(true[-1, valid][big]))
    # velocity (one array per burst: the fit over the whole series) against the truth's fitted line
    variant = Variant.of("velocity", OPTS)
    vel = engine.read(ArdArray(burst_id, "VV", variant, ()))[coherent][valid]
    years = (np.arange(N_DATES) * 12) / 365.25
    t = years - years.mean()
    true_vel = (t @ (true[:, valid] - true[:, valid].mean(axis=0))) / (t @ t)
    vel_err_mm = 1e3 * np.sqrt(np.mean((vel - true_vel) ** 2))
    assert vel_err_mm <= 2.0, (vel_err_mm, rms_mm, 1e3 * np.sqrt(np.mean(err**2, axis=1)), np.mean(vel - true_vel) * 1e3)
    quality = {v: engine.read(ArdArray(burst_id, "VV", variant.at(v), ()))
               for v in ("connected", "temporal_coherence", "velocity_std")}
    assert quality["connected"].dtype == np.uint8 and set(np.unique(quality["connected"])) <= {0, 1}
    disconnected = quality["connected"] == 0
    assert np.all(np.isnan(stored[:, disconnected]))
    assert np.nanmin(quality["temporal_coherence"]) >= 0 and np.nanmax(quality["temporal_coherence"]) <= 1 + 1e-6
    print(f"truth: {coherent.sum()} coherent pixels, rms {rms_mm:.2f} mm, velocity {vel_err_mm:.2f} mm/yr, "
          f"jumps {100 * jumps.mean():.2f} %, valid {100 * valid.mean():.1f} %")


def test_mintpy_inversion_of_the_same_unwrapped_stack_equals_ours(run):
    """MintPy's estimate_timeseries per pixel, on our referenced unwrapped pairs and weights."""
    from mintpy.ifgram_inversion import estimate_timeseries

    from cube.jobs._displacement import unwrapped_pair
    from cube.kernels import phase_weight
    from cube.products._displacement import equivalent_looks, referenced_phase

    engine, burst_id = run["b"], run["burst_id"]
    options = DisplacementOptions(multilook=LOOKS)
    dates, series, _ = compute_series(engine, burst_id, "VV", options, Tally())
    pairs = np.array(series.pairs)
    got = [unwrapped_pair(engine, burst_id, "VV", options.unwrapped, (dates[i], dates[j]), Tally())
           for i, j in pairs]
    phase = np.stack([g[0] for g in got])
    comps = np.stack([g[1] for g in got])
    coh = np.stack([g[2] for g in got])
    obs = referenced_phase(phase, comps, series.ref)
    weight = phase_weight(coh, int(equivalent_looks(tuple(LOOKS))))
    n = len(dates)
    a = np.zeros((len(pairs), n))
    # our pairs' phase is that of ref · conj(sec): 4π/λ (d_ref − d_sec); MintPy solves A x = y for x
    a[np.arange(len(pairs)), pairs[:, 0]] = 1
    a[np.arange(len(pairs)), pairs[:, 1]] = -1
    a = a[:, 1:]
    tbase = np.full((n - 1, 1), 12 / 365.25)
    wavelength = run["truth"].readme["wavelength_m"]
    rows, cols = np.nonzero(series.connected)
    pick = np.linspace(0, rows.size - 1, min(300, rows.size)).astype(int)
    worst = 0.0
    for rr, cc in zip(rows[pick], cols[pick], strict=True):
        y = obs[:, rr, cc]
        ok = np.isfinite(y)
        if not ok.all():  # MintPy drops a pair for every pixel; compare pixels with the full network
            continue
        ts, _, _ = estimate_timeseries(a, a * tbase.T, y[:, None], tbase,
                                       weight_sqrt=np.sqrt(weight[:, rr, cc])[:, None],
                                       min_norm_velocity=False, print_msg=False)
        mintpy_m = ts[:, 0] * wavelength / (4 * np.pi)  # x = 4π/λ · d
        worst = max(worst, float(np.max(np.abs(mintpy_m - series.displacement[:, rr, cc]))))
    assert worst <= 1e-4, f"{worst * 1e3:.4f} mm"
    print(f"MintPy: max difference {worst * 1e3:.5f} mm")


def test_series_over_http_zarr_point_and_a_job(run, tmp_path):
    """A series variant not made yet: a velocity chunk (per burst, no date in its key) answers 202
    and a job; then xr.open_zarr reads the displacement it made too, /point gives the millimetre
    series in JSON and CSV, and /ard exports it."""
    from tests.integration._users import bearer, live

    burst_id = run["burst_id"]
    options = {**OPTS, "network": "sequential:2"}
    segment = "multilook=4x8,network=sequential:2"
    with live(run["root"] / "http", run["cube"], ard_url=str(run["b"].ard.url)) as s:
        c = s.http
        c.headers.update(bearer("alice"))
        r = c.get(f"/zarr/{burst_id}/velocity/{segment}/velocity_std/c/0/0")
        assert r.status_code == 202, r.text
        assert "global over the burst" in r.json()["detail"]
        deadline = time.monotonic() + 600
        while (job := c.get(r.headers["Location"]).json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(1)
        assert job["state"] == "succeeded", job
        made = c.get(f"/zarr/{burst_id}/displacement/{segment}/displacement/c/5/0/0")
        assert made.status_code == 200 and made.headers["X-Sarcube-Chunks-Computed"] == "0"
        ds = xr.open_zarr(f"{s.url}/zarr/{burst_id}/displacement/{segment}", zarr_format=3,
                          storage_options={"headers": bearer("alice")})
        assert ds.displacement.dims == ("time", "y", "x") and ds.displacement.attrs["units"] == "m"
        np.testing.assert_array_equal(ds.displacement.values, _series(run["b"], burst_id, options))
        grid = run["b"].product_grid(burst_id, "VV", Variant.of("displacement", options))
        rows, cols = np.nonzero(np.isfinite(ds.displacement.values[-1]))
        row, col = rows[rows.size // 2], cols[rows.size // 2]
        lon, lat = Transformer.from_crs(grid.epsg, 4326, always_xy=True).transform(
            float(ds.x[col]), float(ds.y[row]))
        q = {"lon": lon, "lat": lat, "product": "displacement", "burst_id": burst_id, **{
            "multilook": "4x8", "network": "sequential:2"}}
        point = c.get("/point", params=q)
        assert point.status_code == 200, point.text
        body = point.json()
        assert body["units_mm"] == "mm" and len(body["series"]) == N_DATES
        assert body["series"][0]["value_mm"] == 0.0
        assert body["series"][-1]["value_mm"] == pytest.approx(1e3 * float(ds.displacement[-1, row, col]))
        csv = c.get("/point", params={**q, "format": "csv"})
        assert csv.status_code == 200 and csv.text.splitlines()[0] == "datetime,value,value_mm"
        ard = c.get("/ard/displacement", params={"burst_id": burst_id, "format": "nc", **q})
        assert ard.status_code == 200, ard.text
        # STAC: the displacement items carry the pair network
        items = c.get("/stac/collections/displacement/items", params={"limit": 1})
        assert items.status_code == 200, items.text
        network = items.json()["features"][0]["properties"]["sarcube:network"]
        assert (network["network"], network["max_days"]) == ("rule", 48)
        dates = sorted(run["b"].stack(burst_id).dates)
        assert network["pairs"] == [[a, b] for a, b in rule_pairs(dates, 48)]
        velocity_items = c.get("/stac/collections/velocity/items").json()["features"]
        assert [f["id"] for f in velocity_items] == [f"{burst_id}_velocity"]
        props = velocity_items[0]["properties"]
        assert props["start_datetime"][:19] == str(np.datetime64(ds.time.values[0], "s"))
        assert props["sarcube:network"]["pairs"] == network["pairs"]
        # tiles: the layer's metadata names its units, colour map and range (the viewer's legend)
        tq = {"burst_id": burst_id, "multilook": "4x8", "network": "sequential:2"}
        tj = c.get("/tiles/displacement/WebMercatorQuad/tilejson.json", params=tq)
        assert tj.status_code == 200, tj.text
        assert '"units": "mm"' in tj.text.replace('":"', '": "') and "rdbu_r" in tj.text, tj.text
        z = tj.json()["maxzoom"]
        tile = mercantile_tile(lon, lat, z)
        npy = c.get(f"/tiles/displacement/WebMercatorQuad/{z}/{tile[0]}/{tile[1]}.npy", params=tq)
        assert npy.status_code == 200, npy.text
        values = np.load(io.BytesIO(npy.content))[0]
        shown = values[np.isfinite(values) & (values != 0)]
        last = 1e3 * ds.displacement.values[-1]
        assert shown.size > 0 and np.nanmin(last) - 1e-3 <= shown.min() and shown.max() <= np.nanmax(last) + 1e-3
        _velocity_over_http(c, s.url, burst_id, segment, q, ds)
        _unwrapped_over_http(c, s.url, burst_id, ds)


def _velocity_over_http(c, url: str, burst_id: str, segment: str, q: dict, disp: xr.Dataset) -> None:
    """velocity: one (y, x) Dataset per burst with its companions; /point one value; tiles, /ard."""
    from tests.integration._users import bearer

    vel = xr.open_zarr(f"{url}/zarr/{burst_id}/velocity/{segment}", zarr_format=3,
                       storage_options={"headers": bearer("alice")})
    assert set(vel.data_vars) == {"velocity", "velocity_std", "temporal_coherence", "residual", "connected"}
    assert all(vel[v].dims == ("y", "x") for v in vel.data_vars) and "time" not in vel.dims
    assert vel.velocity.attrs["units"] == "m/yr" and vel.residual.attrs["units"] == "m"
    assert vel.connected.dtype == np.uint8
    assert vel.attrs["time_coverage_end"].startswith(str(disp.time.values[-1])[:19])
    # the stored velocity is numpy's least-squares line through the served series, every pixel
    years = (disp.time.values - disp.time.values[0]) / np.timedelta64(1, "D") / 365.25
    series = disp.displacement.values.reshape(len(years), -1)
    ok = np.all(np.isfinite(series), axis=0)
    slope = np.polyfit(years, series[:, ok], 1)[0]
    np.testing.assert_allclose(vel.velocity.values.reshape(-1)[ok], slope, atol=1e-6)
    assert np.all(np.isnan(vel.velocity.values.reshape(-1)[~ok]))
    assert np.all(vel.connected.values.reshape(-1)[ok] == 1)
    pq = {**q, "product": "velocity"}
    point = c.get("/point", params=pq)
    assert point.status_code == 200, point.text
    body = point.json()
    assert "series" not in body and body["units"] == "m/yr" and body["units_mm"] == "mm/yr"
    row, col = body["row"], body["col"]
    assert body["value_mm"] == pytest.approx(1e3 * float(vel.velocity[row, col]))
    assert body["velocity_std"] == pytest.approx(float(vel.velocity_std[row, col]))
    assert body["connected"] == 1 and body["variable_units"]["residual"] == "m"
    csv = c.get("/point", params={**pq, "format": "csv"}).text.splitlines()
    assert csv[0] == "value,value_mm,velocity_std,temporal_coherence,residual,connected" and len(csv) == 2
    tq = {"burst_id": burst_id, "multilook": "4x8", "network": "sequential:2"}
    tj = c.get("/tiles/velocity/WebMercatorQuad/tilejson.json", params=tq)
    assert tj.status_code == 200, tj.text
    assert tj.json()["raster_layers"]["default"]["units"] == "mm/yr"
    dated = c.get("/tiles/velocity/WebMercatorQuad/tilejson.json", params={**tq, "datetime": "2024"})
    assert dated.status_code == 400 and "per-burst" in dated.text, dated.text
    std = c.get("/tiles/velocity/WebMercatorQuad/tilejson.json", params={**tq, "view": "std_mm_per_yr"})
    assert std.status_code == 200 and std.json()["raster_layers"]["default"]["units"] == "mm/yr"
    nc = c.get("/ard/velocity", params={"burst_id": burst_id, "format": "nc", **tq})
    assert nc.status_code == 200, nc.text
    exported = xr.open_dataset(io.BytesIO(nc.content), engine="h5netcdf")
    assert exported.velocity.dims == ("y", "x") and "velocity_std" in exported
    np.testing.assert_array_equal(exported.velocity.values, vel.velocity.values)
    tif = c.get("/ard/velocity", params={"burst_id": burst_id, "format": "tif", **tq})
    assert tif.status_code == 200, tif.text
    import rasterio
    from rasterio.io import MemoryFile

    with MemoryFile(tif.content) as mem, mem.open() as src:  # one band per variable
        assert src.count == 5 and src.descriptions[:2] == ("velocity", "velocity_std")
        np.testing.assert_array_equal(src.read(1), vel.velocity.values)
        assert src.crs == rasterio.crs.CRS.from_wkt(vel.spatial_ref.attrs["spatial_ref"])


def _unwrapped_over_http(c, url: str, burst_id: str, disp: xr.Dataset) -> None:
    """unwrapped: one Dataset, phase and connected components with the same dims; old address: 400."""
    from tests.integration._users import bearer

    unw = xr.open_zarr(f"{url}/zarr/{burst_id}/unwrapped/multilook=4x8", zarr_format=3,
                       storage_options={"headers": bearer("alice")})
    assert set(unw.data_vars) == {"unwrapped", "components"}
    assert unw.unwrapped.dims == unw.components.dims == ("reference_time", "secondary_time", "y", "x")
    assert unw.unwrapped.attrs["units"] == "rad" and unw.components.dtype == np.int32
    pair = unw.isel(reference_time=0, secondary_time=1)  # the first pair of every network
    phase, comps = pair.unwrapped.values, pair.components.values
    assert np.isfinite(phase).mean() > 0.2  # the grid reaches past the tiny burst
    assert np.all(comps[np.isfinite(phase)] > 0) and np.all(np.isnan(phase[comps == 0]))
    old = c.get(f"/zarr/{burst_id}/unwrapped/multilook=4x8,variable=components/zarr.json")
    assert old.status_code == 422 and "ds['components']" in old.text, old.text  # invalid options


def test_bad_input_is_a_clear_error_never_silent_nans(run, tmp_path):
    engine, burst_id, cube = run["b"], run["burst_id"], run["cube"]
    thin = _job(cube, burst_id, options={**OPTS, "network": "sequential:1", "max_days": 5})
    with pytest.raises(InputError, match="too thin"):
        check_job(thin.bursts, engine)
    outside = _job(cube, burst_id, options={**OPTS, "ref": "10.0,10.0"})
    with pytest.raises(InputError, match="outside the burst"):
        check_job(outside.bursts, engine)
    single = str(tmp_path / "single")
    store = open_store(single)
    ingest(run["safes"][:1], store, progress=False)
    with pytest.raises(InputError, match="at least two dates"):
        check_job(_job(single, burst_id).bursts, _engine(single, tmp_path / "ard.zarr"))
    from tests.integration._users import bearer, live

    with live(tmp_path / "http", cube, ard_url=str(tmp_path / "ard2.zarr")) as s:
        c = s.http
        c.headers.update(bearer("alice"))
        for segment, words in [("network=sequential:1,max_days=5", "too thin"),
                               ("ref=10.0:10.0", "outside the burst"), ("ref=400:1", "lon,lat")]:
            r = c.get(f"/zarr/{burst_id}/displacement/{segment}/displacement/c/0/0/0")
            assert 400 <= r.status_code < 500, (segment, r.status_code, r.text)
            assert words in r.text, r.text
    assert BurstStack(store, burst_id).dates  # the single-date cube is intact
