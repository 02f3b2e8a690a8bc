"""From STAC to xarray in one line: pystac-client searches ``sarcube serve``'s /stac, then
``xr.open_dataset(item.assets["zarr"], engine="stac")`` (xpystac) opens the product, and
odc-stac loads the COG exports; real uvicorn on loopback, the tiny simulated cube."""

from __future__ import annotations

import numpy as np
import odc.stac
import pytest
import xarray as xr
from _live import serve
from pystac_client import Client

from cube.api import create_app
from cube.config import Settings

# odc-geo 0.5 still calls shapely.ops.transform, which shapely 2.1 deprecates (theirs, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:The 'shapely.ops.transform:DeprecationWarning")


@pytest.fixture(scope="module")
def api(tiny_cube, tmp_path_factory):
    """``sarcube serve --cube CUBE --allow-anonymous`` on loopback: its URL."""
    folder = tmp_path_factory.mktemp("stac-xarray")
    app = create_app(Settings(cube_url=str(tiny_cube.url), ard_url=str(folder / "ard.zarr"),
                              jobs_url=str(folder / "jobs.sqlite"), allow_anonymous=True))
    with serve(app) as url:
        yield url


def test_a_coherence_item_opens_in_xarray_with_xpystac(api):
    catalog = Client.open(f"{api}/stac/")
    item = next(catalog.search(collections=["coherence"], max_items=1).items())
    asset = item.assets["zarr"]
    assert asset.extra_fields["xarray:open_kwargs"]["engine"] == "zarr"
    assert "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json" in item.stac_extensions

    ds = xr.open_dataset(asset, engine="stac")  # the one line

    props = item.properties
    assert ds.attrs["product"] == "coherence" and ds.attrs["burst_id"] == props["sarcube:burst_id"]
    assert ds.coherence.dims == ("reference_time", "secondary_time", "y", "x")
    pair = ds.coherence.sel(reference_time=np.datetime64(props["sarcube:reference_datetime"][:26]),
                            secondary_time=np.datetime64(props["sarcube:secondary_datetime"][:26]),
                            method="nearest")
    values = pair.values
    assert values.dtype == np.float32 and np.isfinite(values).mean() > 0.2
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 1
    # the same store as xr.open_zarr of the asset's URL, and the grid of proj:code
    direct = xr.open_zarr(asset.href, zarr_format=3, consolidated=True)
    assert direct.coherence.shape == ds.coherence.shape
    assert props["proj:code"] == f"EPSG:{ds.spatial_ref.attrs.get('epsg', ds.rio.crs.to_epsg())}"


def test_backscatter_cogs_load_with_odc_stac(api):
    """odc-stac stacks the GeoTIFF assets of two dates from proj:code/shape/transform alone; its
    pixels are the zarr store's."""
    catalog = Client.open(f"{api}/stac/")
    items = list(catalog.search(collections=["backscatter"], max_items=4).items())
    burst = items[0].properties["sarcube:burst_id"]
    items = [i for i in items if i.properties["sarcube:burst_id"] == burst][:2]
    assert len(items) == 2
    cube = odc.stac.load(items, bands=["geotiff"], chunks={})
    assert cube.geotiff.shape == (2, *items[0].assets["geotiff"].extra_fields["proj:shape"])
    zarr = xr.open_dataset(items[0].assets["zarr"], engine="stac")
    np.testing.assert_allclose(cube.x.values, zarr.x.values)
    np.testing.assert_allclose(cube.y.values, zarr.y.values)
    times = sorted(np.datetime64(i.properties["datetime"][:26]) for i in items)  # odc-stac sorts by time
    for k, t in enumerate(times):
        want = zarr.backscatter.sel(time=t, method="nearest").values
        got = cube.geotiff.isel(time=k).values
        assert abs(cube.time.values[k] - t) < np.timedelta64(1, "ms")
        assert np.isfinite(got).mean() > 0.2
        np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)
