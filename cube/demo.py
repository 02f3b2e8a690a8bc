"""``make demo``: simulate a small stack, ingest it into a local cube, show what was built."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from cube.ingest import ingest
from cube.products import BurstStack, get_product, set_cube_dem, split_complex
from cube.storage import list_burst_groups, open_slc, open_store


def run_demo(out: Path, dates: int = 3, bursts: int = 2, seed: int = 0) -> Path:
    """Simulate ``dates`` × ``bursts`` into ``out/safe``, ingest into ``out/cube``; return the cube."""
    from cube.simulate import simulate_stack

    out = out.resolve()
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    print(f"1/3 simulating {dates} dates x {bursts} bursts (tiny) into {out / 'safe'}")
    stack = simulate_stack(out / "safe", dates=dates, bursts=bursts, size="tiny", seed=seed,
                           progress=True)
    print(f"2/3 ingesting {len(stack.safe_paths)} products into {out / 'cube'}")
    store = open_store(str(out / "cube"))
    report = ingest([str(p) for p in stack.safe_paths], store, progress=True)
    print(f"    {report.summary()} in {time.perf_counter() - t0:.1f} s")
    set_cube_dem(store, str(stack.truth_dir / "dem.tif"))
    products = out / "products"
    products.mkdir()
    print(f"3/3 computing ARD of the first pair into {products}")
    first_id, first_pol = list_burst_groups(store)[0]
    burst_stack = BurstStack(store, first_id, first_pol)
    pair = burst_stack.dates[:2]
    for name in ("backscatter", "interferogram", "coherence"):
        date_keys = pair if get_product(name).pair else pair[:1]
        ds = burst_stack.dataset(burst_stack.selection(name, [date_keys]))
        path = products / f"{first_id}_{name}.nc"
        split_complex(ds).to_netcdf(path, engine="h5netcdf")
        print(f"    {name:<13} {dict(ds.sizes)}  -> {path.name}")
    print()

    print("burst group                 dates  lines x samples   first date")
    for burst_id, pol in list_burst_groups(store):
        ds = open_slc(store, burst_id, pol)
        print(f"{burst_id:<22} {pol}  {ds.sizes['time']:>5}  {ds.sizes['line']:>5} x "
              f"{ds.sizes['sample']:<7}   {str(ds.time.values.min())[:19]}")
    burst_id, pol = list_burst_groups(store)[0]
    group = out / "cube" / "slc.zarr" / burst_id / pol.lower()
    print(f"""
Open it in Python:

    import xarray as xr
    ds = xr.open_zarr("{group}")
    slc = ds.slc[..., 0] + 1j * ds.slc[..., 1]   # complex SLC (time, line, sample)

ARD of the first pair (NetCDF, CRS in spatial_ref): {products}
More with: sarcube product {out / 'cube'} coherence --burst {first_id} --dates {pair[0][:8]},{pair[1][:8]} \\
               --option window=7x7 --out coherence.nc
STAC items: {out / 'cube' / 'catalog'}
Ground truth of the simulation: {stack.truth_dir}""")
    return out / "cube"


def serve_demo(cube: Path, port: int = 8000, seconds: float = -1) -> None:
    """Serve the demo cube on 127.0.0.1 and check the printed ``xr.open_zarr`` line works.

    Then keep serving ``seconds`` (< 0: until Ctrl-C).
    """
    import threading

    import uvicorn
    import xarray as xr

    from cube.api import create_app

    # the demo serves this machine only (127.0.0.1): anonymous reads, no jobs without a key
    app = create_app(cube_url=str(cube), allow_anonymous=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise SystemExit(f"sarcube: could not serve on 127.0.0.1:{port}; try --port")
        time.sleep(0.05)
    store = open_store(str(cube))
    burst_id, _ = list_burst_groups(store)[0]
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/zarr/{burst_id}/coherence"
    t0 = time.perf_counter()
    ds = xr.open_zarr(url)
    first = ds.coherence.isel(reference_time=0, secondary_time=1).mean().compute()
    print(f"""
Serving on {base} (viewer at {base}/ , OpenAPI at {base}/docs, STAC at {base}/stac).
Anonymous reads are allowed (on 127.0.0.1 only); starting jobs needs a user: see "Authentication and
jobs" in docs/api.md (sarcube serve --api-keys FILE).
Checked: the coherence of the first pair over HTTP, mean {float(first):.3f}, computed on request in
{time.perf_counter() - t0:.1f} s. Try, while this runs:

    import xarray as xr
    ds = xr.open_zarr("{url}")
    ds.coherence.isel(reference_time=0, secondary_time=1).plot()

    curl "{base}/stac/search?limit=2"
""")
    try:
        if seconds < 0:
            print("Ctrl-C stops the server.")
            thread.join()
        else:
            print(f"Serving for {seconds:g} s.")
            thread.join(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(10)
