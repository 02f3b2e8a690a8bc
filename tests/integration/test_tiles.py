"""Map tiles of every ARD product on a real uvicorn, checked against independent references.

The cube is the tiny simulated stack (3 dates × 2 bursts of IW2, a Mogi deformation source
in the second burst). References, none of them the tile code:

- pixel values: the product read through ``/zarr`` with xarray; each tile pixel's centre is
  mapped into the product grid with pyproj (exactly, pixel by pixel), the value rescaled and
  coloured as titiler documents it (``floor(255·(v−min)/(max−min))`` into rio-tiler's colour
  table) and compared with the decoded PNG (imagecodecs);
- footprints: the burst's fixed grid (``grids/<burst>.json``) and the product's looks,
  projected with pyproj;
- the fast tile path: rio-tiler's own ``XarrayReader.tile`` (rioxarray clip + GDAL warp) on
  the same DataArray.
"""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import httpx
import imagecodecs
import morecantile
import numpy as np
import pytest
import xarray as xr
from _live import serve
from pyproj import Transformer
from rio_tiler.colormap import cmap
from rio_tiler.io import XarrayReader
from titiler.core.resources.enums import ImageType
from titiler.core.utils import render_image

from cube.api import create_app
from cube.api.tiles import VIEWS, TileCache, TileSource, burst_reader, render_tile, view_of
from cube.materialize import ArdEngine
from cube.products import PRODUCTS, BurstStack, Variant
from cube.simulate import load_truth
from cube.storage import list_burst_groups, open_store
from tests.integration._users import API_KEYS, bearer

WM = morecantile.tms.get("WebMercatorQuad")
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


# -- the cube and a live server -------------------------------------------------------------------
@pytest.fixture(scope="module")
def cube_dir(tiny_cube) -> Path:
    return Path(tiny_cube.url)


@pytest.fixture(scope="module")
def bursts(cube_dir) -> dict[str, list[str]]:
    """Burst ID → its sorted date keys."""
    store = open_store(str(cube_dir))
    return {b: sorted(BurstStack(store, b, pol).dates) for b, pol in list_burst_groups(store)}


@pytest.fixture(scope="module")
def url(cube_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiles-app")
    app = create_app(cube_url=str(cube_dir), ard_url=str(tmp / "ard.zarr"), jobs_url=str(tmp / "jobs.sqlite"),
                     allow_anonymous=True)
    with serve(app) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    with httpx.Client(base_url=url, timeout=120) as c:
        yield c


# -- independent references ----------------------------------------------------------------------
def grid_of(cube_dir: Path, burst_id: str) -> dict:
    return json.loads((cube_dir / "grids" / f"{burst_id}.json").read_text())


def product_extent(cube_dir: Path, burst_id: str, product: str) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of the product grid, m: the fixed grid cut to whole looks."""
    g = grid_of(cube_dir, burst_id)
    ly, lx = PRODUCTS[product].options().looks
    rows, cols = g["height"] // ly, g["width"] // lx
    return g["x0"], g["y0"] - rows * g["dy"] * ly, g["x0"] + cols * g["dx"] * lx, g["y0"]


def lonlat_bounds(cube_dir: Path, burst_id: str, product: str) -> np.ndarray:
    g = grid_of(cube_dir, burst_id)
    t = Transformer.from_crs(g["epsg"], 4326, always_xy=True)
    return np.array(t.transform_bounds(*product_extent(cube_dir, burst_id, product), densify_pts=21))


def zarr_layer(url: str, burst_id: str, product: str, date_idx: tuple[int, ...]) -> xr.DataArray:
    """One date (or pair) of a product read through /zarr (xarray over HTTP)."""
    ds = xr.open_zarr(f"{url}/zarr/{burst_id}/{product}")
    dims = ("reference_time", "secondary_time") if PRODUCTS[product].pair else ("time",)
    return ds[product].isel(dict(zip(dims, date_idx, strict=True))).load()


def tile_reference(
    layer: xr.DataArray, epsg: int, z: int, x: int, y: int, size: int = 256
) -> np.ndarray:
    """The product value under each tile pixel's centre (NaN outside), (size, size)."""
    west, south, east, north = WM.xy_bounds(morecantile.Tile(x, y, z))
    jj, ii = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    mx, my = west + jj * (east - west) / size, north - ii * (north - south) / size
    gx, gy = Transformer.from_crs(3857, epsg, always_xy=True).transform(mx, my)
    xs, ys = layer.x.values, layer.y.values
    rx, ry = xs[1] - xs[0], ys[0] - ys[1]
    col = np.floor((gx - (xs[0] - rx / 2)) / rx).astype(int)
    row = np.floor(((ys[0] + ry / 2) - gy) / ry).astype(int)
    ok = (row >= 0) & (row < ys.size) & (col >= 0) & (col < xs.size)
    values = layer.values
    out = np.full((size, size), np.nan, values.dtype)
    out[ok] = values[row[ok], col[ok]]
    return out


def colour_index(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """titiler's rescale: floor(255·(clip(v) − lo)/(hi − lo)) as int (−1 where NaN)."""
    with np.errstate(invalid="ignore"):
        idx = np.floor(255 * (np.clip(values.astype(np.float64), lo, hi) - lo) / (hi - lo))
    return np.where(np.isfinite(idx), idx, -1).astype(int)


def colours_match(rgba: np.ndarray, expected_idx: np.ndarray, name: str) -> np.ndarray:
    """Whether each valid pixel's colour is the table colour of the expected index (±1 step
    for float rounding at a step edge)."""
    table = np.array([cmap.get(name)[k][:3] for k in range(256)], np.int32)
    got = rgba[..., :3].astype(np.int32)
    match = np.zeros(expected_idx.shape, bool)
    for d in (-1, 0, 1):
        k = np.clip(expected_idx + d, 0, 255)
        match |= (got == table[k]).all(-1)
    return match


def decode_png(content: bytes) -> np.ndarray:
    """The tile's RGBA (a grey + alpha PNG, as grey colour maps are written, expanded)."""
    assert content[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    img = imagecodecs.png_decode(content)
    if img.ndim == 3 and img.shape[-1] == 2:
        img = img[..., [0, 0, 0, 1]]
    assert img.shape == (256, 256, 4) and img.dtype == np.uint8
    return img


def to_display(product: str, values: np.ndarray) -> np.ndarray:
    """The default view of each product, from the docs (dB, phase, coherence as is)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if product == "backscatter":
            return np.where(values > 0, 10 * np.log10(values), np.nan)
        if product == "amplitude":
            return np.where(values > 0, 20 * np.log10(values), np.nan)
        if product == "cslc":
            return np.where(np.abs(values) > 0, 20 * np.log10(np.abs(values)), np.nan)
        if product == "interferogram":
            return np.angle(values)
        return values


DEFAULTS = {  # product → (view, rescale, colormap): what docs/tiles.md promises
    "backscatter": ("db", (-25.0, 0.0), "gray"),
    "amplitude": ("db", (0.0, 60.0), "gray"),
    "coherence": ("value", (0.0, 1.0), "viridis"),
    "interferogram": ("phase", (-np.pi, np.pi), "phase"),
    "cslc": ("db", (0.0, 60.0), "gray"),
}


def best_tile(cube_dir: Path, burst_id: str, product: str, z: int) -> morecantile.Tile:
    """The zoom-``z`` tile that overlaps the burst's footprint the most."""
    w, s, e, n = lonlat_bounds(cube_dir, burst_id, product)

    def overlap(t: morecantile.Tile) -> float:
        b = WM.bounds(t)
        return max(0.0, min(e, b.right) - max(w, b.left)) * max(0.0, min(n, b.top) - max(s, b.bottom))

    return max(WM.tiles(w, s, e, n, [z]), key=overlap)


@pytest.fixture(scope="module")
def deformation(tiny_stack, bursts, cube_dir):
    """(burst ID, lon, lat) of the strongest simulated deformation between dates 0 and 2."""
    truth = load_truth(tiny_stack.truth_dir)
    phase = truth["def_phase"][2] - truth["def_phase"][0]
    i, j = np.unravel_index(np.argmax(np.abs(phase)), phase.shape)
    lon, lat = float(truth["dem_lon"][j]), float(truth["dem_lat"][i])
    for burst_id in bursts:
        w, s, e, n = lonlat_bounds(cube_dir, burst_id, "interferogram")
        if w < lon < e and s < lat < n:
            return burst_id, lon, lat
    pytest.fail("the deformation centre is in no burst")


# -- tiles follow the product ------------------------------------------------------------------
def test_interferogram_tile_over_the_deformation_follows_the_product(client, url, bursts, cube_dir, deformation):
    """Default rendering (phase, cyclic colours, −π..π) of the pair (0, 2) over the Mogi
    source: ≥ 99 % of the pixels have the colour of the /zarr value under them, the mask is
    where the product has no value, and the fringes are there (not blank, not noise)."""
    burst_id, lon, lat = deformation
    dates = bursts[burst_id]
    tj = client.get("/tiles/interferogram/WebMercatorQuad/tilejson.json",
                    params={"burst_id": burst_id, "reference": dates[0], "secondary": dates[2]}).json()
    z = tj["maxzoom"] + 1
    t = best_tile(cube_dir, burst_id, "interferogram", z)
    tile_url = tj["tiles"][0].format(z=z, x=t.x, y=t.y)
    assert "tilesize=512" in tile_url  # titiler's TileJSON asks for 512-pixel tiles by default
    r = client.get(tile_url.replace("tilesize=512", "tilesize=256"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    rgba = decode_png(r.content)

    layer = zarr_layer(url, burst_id, "interferogram", (0, 2))
    ref = tile_reference(layer, grid_of(cube_dir, burst_id)["epsg"], z, t.x, t.y)
    phase = np.angle(ref)
    valid = np.isfinite(phase)
    drawn = rgba[..., 3] == 255
    assert valid.sum() > 5000, "the tile should hold much of the burst's valid area"
    assert (drawn == valid).mean() >= 0.99, "the mask is where the product has no value"
    both = drawn & valid
    match = colours_match(rgba, colour_index(phase, -np.pi, np.pi), "phase")
    assert match[both].mean() >= 0.99, f"only {match[both].mean():.3f} of the pixels have the product's colour"
    # not blank, not noise: many fringes, each a smooth ramp from pixel to pixel
    assert np.ptp(phase[valid]) > 6.0
    assert len(np.unique(rgba[both][:, :3], axis=0)) > 100
    step = np.angle(np.exp(1j * np.diff(phase, axis=1)))
    assert np.nanmedian(np.abs(step)) < 0.5, "the phase should be smooth (noise would be ~π/2)"


# unwrapped, displacement, velocity are made per burst by a job: test_displacement.py renders them
@pytest.mark.parametrize("product", sorted(set(PRODUCTS) - {"unwrapped", "displacement", "velocity"}))
def test_default_rendering_of_every_product(product, client, url, bursts, cube_dir, deformation):
    """Each product's default view, rescale and colour map (the table in docs/tiles.md)."""
    burst_id, lon, lat = deformation
    view, (lo, hi), name = DEFAULTS[product]
    assert (VIEWS[product][view].rescale, VIEWS[product][view].colormap) == ((lo, hi), name)
    pair = PRODUCTS[product].pair
    z = 14 if PRODUCTS[product].options().looks == (1, 1) else 13
    t = best_tile(cube_dir, burst_id, product, z)
    r = client.get(f"/tiles/{product}/WebMercatorQuad/{z}/{t.x}/{t.y}.png", params={"burst_id": burst_id})
    assert r.status_code == 200, r.text
    rgba = decode_png(r.content)
    n = len(bursts[burst_id])
    layer = zarr_layer(url, burst_id, product, (n - 2, n - 1) if pair else (n - 1,))  # the latest by default
    ref = to_display(product, tile_reference(layer, grid_of(cube_dir, burst_id)["epsg"], z, t.x, t.y))
    drawn, valid = rgba[..., 3] == 255, np.isfinite(ref)
    assert valid.sum() > 5000 and (drawn == valid).mean() >= 0.99
    match = colours_match(rgba, colour_index(ref, lo, hi), name)
    assert match[drawn & valid].mean() >= 0.99, f"{product}: {match[drawn & valid].mean():.3f}"
    assert len(np.unique(rgba[drawn][:, :3], axis=0)) > 20, "not a flat tile"


def test_user_rescale_colormap_and_view(client, url, bursts, cube_dir, deformation):
    """rescale=, colormap_name= and view= replace the defaults; npy gives the values themselves."""
    burst_id, lon, lat = deformation
    t = best_tile(cube_dir, burst_id, "backscatter", 13)
    layer = zarr_layer(url, burst_id, "backscatter", (len(bursts[burst_id]) - 1,))
    ref_linear = tile_reference(layer, grid_of(cube_dir, burst_id)["epsg"], 13, t.x, t.y)
    params = {"burst_id": burst_id, "view": "linear", "rescale": "0,0.3", "colormap_name": "magma"}
    rgba = decode_png(client.get(f"/tiles/backscatter/WebMercatorQuad/13/{t.x}/{t.y}.png", params=params).content)
    drawn = rgba[..., 3] == 255
    match = colours_match(rgba, colour_index(ref_linear, 0.0, 0.3), "magma")
    assert drawn.sum() > 5000 and match[drawn].mean() >= 0.99
    # the values themselves (numpy): data then mask, as rio-tiler writes them
    r = client.get(f"/tiles/backscatter/WebMercatorQuad/13/{t.x}/{t.y}.npy", params={"burst_id": burst_id})
    assert r.status_code == 200, r.text
    arr = np.load(io.BytesIO(r.content))
    values = arr[0]
    db = to_display("backscatter", ref_linear)
    ok = np.isfinite(db) & np.isfinite(values)
    assert ok.sum() > 5000
    assert np.mean(np.abs(values[ok] - db[ok]) < 1e-4) >= 0.99


def test_pair_dates_default_to_the_latest_pair_and_fill_in(client, bursts, cube_dir, deformation):
    burst_id, lon, lat = deformation
    d = bursts[burst_id]
    t = best_tile(cube_dir, burst_id, "coherence", 13)
    path = f"/tiles/coherence/WebMercatorQuad/13/{t.x}/{t.y}.png"

    def get(**params):
        r = client.get(path, params={"burst_id": burst_id, **params})
        assert r.status_code == 200, r.text
        return r.content

    latest = get()
    assert latest == get(reference=d[1], secondary=d[2])
    assert get(reference=d[0]) == get(reference=d[0], secondary=d[1])
    assert get(secondary=d[2]) == latest
    assert get(reference=d[0], secondary=d[2]) != latest
    day = f"{d[0][:4]}-{d[0][4:6]}-{d[0][6:8]}"
    assert get(reference=day, secondary=d[1]) == get(reference=d[0], secondary=d[1])


# -- TileJSON, WMTS, mosaic -----------------------------------------------------------------------
@pytest.mark.parametrize("product", ["backscatter", "coherence", "cslc"])
def test_tilejson_bounds_match_the_burst_footprint(product, client, url, bursts, cube_dir):
    for burst_id in bursts:
        r = client.get(f"/tiles/{product}/WebMercatorQuad/tilejson.json", params={"burst_id": burst_id})
        assert r.status_code == 200, r.text
        tj = r.json()
        np.testing.assert_allclose(tj["bounds"], lonlat_bounds(cube_dir, burst_id, product), atol=1e-7)
        assert tj["tiles"][0].startswith(f"{url}/tiles/{product}/WebMercatorQuad/{{z}}/{{x}}/{{y}}?")
        assert f"burst_id={burst_id}" in tj["tiles"][0]
        # maxzoom: a tile pixel no coarser than twice the product's pixel on the ground
        g = grid_of(cube_dir, burst_id)
        ly, lx = PRODUCTS[product].options().looks
        lat = (tj["bounds"][1] + tj["bounds"][3]) / 2
        pixel_m = WM.matrix(tj["maxzoom"]).cellSize * np.cos(np.radians(lat))
        assert pixel_m <= 2 * max(g["dx"] * lx, g["dy"] * ly)
        assert tj["minzoom"] <= tj["maxzoom"]
        assert tj["raster_layers"]["default"]["colormap_name"] == DEFAULTS[product][2]
        # what a legend and a chart need, for any product: the colour map's stops (rio-tiler's
        # table, read here), units, and the dB factor of /point's linear values
        layer = tj["raster_layers"]["default"]
        table = cmap.get(DEFAULTS[product][2])
        assert layer["colormap_stops"][0] == list(table[0][:3])
        assert layer["colormap_stops"][-1] == list(table[255][:3])
        assert layer["units"] == {"backscatter": "dB", "coherence": "1", "cslc": "dB"}[product]
        assert layer["db_factor"] == {"backscatter": 10, "coherence": None, "cslc": 20}[product]


def test_mosaic_of_the_bursts_that_cover_a_tile(client, bursts, cube_dir):
    """Without burst_id, a tile is the mosaic of every burst covering it (first by burst ID);
    TileJSON bounds are the union of the footprints."""
    ids = sorted(bursts)
    tj = client.get("/tiles/backscatter/WebMercatorQuad/tilejson.json").json()
    boxes = np.array([lonlat_bounds(cube_dir, b, "backscatter") for b in ids])
    union = [boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()]
    np.testing.assert_allclose(tj["bounds"], union, atol=1e-7)
    # the deepest tile that holds both bursts
    z = max(z for z in range(6, 16) if WM.tile(union[0], union[3], z) == WM.tile(union[2], union[1], z))
    t = WM.tile(union[0], union[3], z)
    path = f"/tiles/backscatter/WebMercatorQuad/{z}/{t.x}/{t.y}.npy"
    day = "2024-01-06"  # one acquisition: each burst's own date that day
    size = {"tilesize": 1024}
    mosaic = np.load(io.BytesIO(client.get(path, params={"datetime": day, **size}).content))
    parts = [np.load(io.BytesIO(client.get(path, params={"burst_id": b, "datetime": day, **size}).content))
             for b in ids]
    first, second = (p[0] for p in parts)
    ok1, ok2 = np.isfinite(first) & (parts[0][1] > 0), np.isfinite(second) & (parts[1][1] > 0)
    assert ok1.sum() > 100 and (ok2 & ~ok1).sum() > 100, "the tile holds both bursts"
    expected = np.where(ok1, first, np.where(ok2, second, np.nan))
    got = np.where(mosaic[1] > 0, mosaic[0], np.nan)
    np.testing.assert_array_equal(got, expected)
    # bbox picks the bursts: only the first burst's box → only its pixels
    w, s, e, n = boxes[0]
    only = np.load(io.BytesIO(client.get(path, params={
        "datetime": day, "bbox": f"{w},{s},{e},{(s + n) / 2}", **size}).content))
    np.testing.assert_array_equal(np.where(only[1] > 0, only[0], np.nan), np.where(ok1, first, np.nan))


def test_wmts_capabilities(client, bursts, cube_dir):
    burst_id = sorted(bursts)[0]
    r = client.get("/tiles/coherence/WMTSCapabilities.xml", params={"burst_id": burst_id, "window": "3x6"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "{http://www.opengis.net/wmts/1.0}Capabilities"
    layers = root.findall("w:Contents/w:Layer", WMTS_NS)
    sets = {e.findtext("ows:Identifier", namespaces=WMTS_NS) for e in root.findall("w:Contents/w:TileMatrixSet", WMTS_NS)}
    assert {"WebMercatorQuad", "WorldCRS84Quad"} <= sets
    layer = next(x for x in layers if x.findtext("w:TileMatrixSetLink/w:TileMatrixSet", namespaces=WMTS_NS)
                 == "WebMercatorQuad")
    lower = [float(v) for v in layer.findtext("ows:WGS84BoundingBox/ows:LowerCorner", namespaces=WMTS_NS).split()]
    upper = [float(v) for v in layer.findtext("ows:WGS84BoundingBox/ows:UpperCorner", namespaces=WMTS_NS).split()]
    g = grid_of(cube_dir, burst_id)
    x0, y0 = g["x0"], g["y0"]
    extent = (x0, y0 - (g["height"] // 3) * 30, x0 + (g["width"] // 6) * 30, y0)  # window=3x6: 30 m × 30 m
    expect = Transformer.from_crs(g["epsg"], 4326, always_xy=True).transform_bounds(*extent, densify_pts=21)
    np.testing.assert_allclose([*lower, *upper], expect, atol=1e-7)
    limits = layer.findall("w:TileMatrixSetLink/w:TileMatrixSetLimits/w:TileMatrixLimits", WMTS_NS)
    last = limits[-1]
    z = int(last.findtext("w:TileMatrix", namespaces=WMTS_NS))
    row = int(last.findtext("w:MinTileRow", namespaces=WMTS_NS))
    col = int(last.findtext("w:MinTileCol", namespaces=WMTS_NS))
    template = layer.find("w:ResourceURL", WMTS_NS).get("template")
    assert "window=3x6" in template and f"burst_id={burst_id}" in template
    tile = client.get(template.replace("{TileMatrix}", str(z)).replace("{TileCol}", str(col))
                      .replace("{TileRow}", str(row)))
    assert tile.status_code == 200, tile.text
    direct = client.get(f"/tiles/coherence/WebMercatorQuad/{z}/{col}/{row}.png",
                        params={"burst_id": burst_id, "window": "3x6"})
    assert tile.content == direct.content
    assert (decode_png(tile.content)[..., 3] > 0).any()


def test_info_tilesets_and_point(client, url, bursts, cube_dir):
    """titiler's /info, OGC tilesets and /point on the same layer agree with the grid and /zarr."""
    burst_id = sorted(bursts)[0]
    info = client.get("/tiles/backscatter/info", params={"burst_id": burst_id}).json()
    assert info["dtype"] == "float32" and info["attrs"]["units"] == "dB"
    np.testing.assert_allclose(info["bounds"], product_extent(cube_dir, burst_id, "backscatter"))
    feature = client.get("/tiles/backscatter/info.geojson", params={"burst_id": burst_id}).json()
    np.testing.assert_allclose(feature["bbox"], lonlat_bounds(cube_dir, burst_id, "backscatter"), atol=1e-7)
    sets = client.get("/tiles/backscatter/tiles", params={"burst_id": burst_id})
    assert sets.status_code == 200, sets.text
    links = [unquote(link["href"]) for ts in sets.json()["tilesets"] for link in ts["links"] if link["rel"] == "tile"]
    assert f"{url}/tiles/backscatter/WebMercatorQuad/{{z}}/{{x}}/{{y}}?burst_id={burst_id}" in links
    one = client.get("/tiles/backscatter/tiles/WebMercatorQuad", params={"burst_id": burst_id})
    assert one.status_code == 200, one.text
    layer = zarr_layer(url, burst_id, "backscatter", (len(bursts[burst_id]) - 1,))
    g = grid_of(cube_dir, burst_id)
    row, col = layer.shape[0] // 2, layer.shape[1] // 2
    lon, lat = Transformer.from_crs(g["epsg"], 4326, always_xy=True).transform(
        float(layer.x[col]), float(layer.y[row]))
    r = client.get(f"/tiles/backscatter/point/{lon},{lat}", params={"burst_id": burst_id})
    assert r.status_code == 200, r.text
    assert r.json()["values"][0] == pytest.approx(10 * np.log10(float(layer.values[row, col])), abs=1e-4)


# -- the lazy engine ---------------------------------------------------------------------------
def test_a_cold_tile_computes_its_chunks_once(cube_dir, bursts, tmp_path, deformation):
    burst_id, lon, lat = deformation
    app = create_app(cube_url=str(cube_dir), ard_url=str(tmp_path / "ard.zarr"), jobs_url=str(tmp_path / "j.sqlite"),
                     allow_anonymous=True)
    t = best_tile(cube_dir, burst_id, "interferogram", 13)
    path = f"/tiles/interferogram/WebMercatorQuad/13/{t.x}/{t.y}.png?burst_id={burst_id}"
    with serve(app) as base:
        cold = httpx.get(base + path, timeout=120)
        warm = httpx.get(base + path, timeout=120)
    assert cold.status_code == warm.status_code == 200
    assert int(cold.headers["x-sarcube-chunks-computed"]) >= 1
    assert warm.headers["x-sarcube-chunks-computed"] == "0"
    assert cold.content == warm.content
    assert list((tmp_path / "ard.zarr" / burst_id / "vv" / "interferogram").rglob("c/*/*"))


def test_a_tile_past_the_chunk_limit_starts_a_job(cube_dir, bursts, tmp_path):
    """More missing chunks than max_chunks_per_request → 202 + /jobs/{id}; when the job is
    done the same tile is served without computing."""
    burst_id = sorted(bursts)[0]
    app = create_app(cube_url=str(cube_dir), ard_url=str(tmp_path / "ard.zarr"),
                     jobs_url=str(tmp_path / "j.sqlite"), max_chunks_per_request=1, api_keys=API_KEYS)
    w, s, e, n = lonlat_bounds(cube_dir, burst_id, "amplitude")
    t = WM.tile((w + e) / 2, (s + n) / 2, 11)  # the whole burst: 2 × 2 chunks of amplitude
    path = f"/tiles/amplitude/WebMercatorQuad/11/{t.x}/{t.y}.png?burst_id={burst_id}"
    with serve(app) as base, httpx.Client(base_url=base, timeout=60, headers=bearer("alice")) as c:
        r = c.get(path)
        assert r.status_code == 202, r.text
        location = r.headers["location"]
        assert location == f"/jobs/{r.json()['job_id']}" and "repeat the request" in r.json()["detail"]
        deadline = time.monotonic() + 240
        while (state := c.get(location).json()["state"]) not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, "the job did not finish"
            time.sleep(0.5)
        assert state == "succeeded"
        again = c.get(path)
        assert again.status_code == 200 and again.headers["x-sarcube-chunks-computed"] == "0"


def test_fast_tiles_equal_rio_tilers_xarray_reader(cube_dir, bursts, deformation):
    """The tile path (pixel-centre mapping + nearest) gives rio-tiler's pixels (rioxarray clip
    + GDAL nearest warp on the same DataArray) at zooms in, at and out of the native one."""
    engine = ArdEngine(open_store(str(cube_dir)))
    cache = TileCache(engine)
    burst_id, lon, lat = deformation
    for product in ("backscatter", "interferogram", "coherence"):
        src = TileSource(engine, cache, product, Variant.of(product), view_of(product, None), "VV", 64)
        reader = burst_reader(src, src.layer_of(burst_id), WM)
        for dz in (1, 0, -2):
            z = reader.maxzoom + dz
            for t in {WM.tile(lon, lat, z), WM.tile(lon + 0.01, lat + 0.01, z)}:
                ours = reader.tile(t.x, t.y, t.z)
                theirs = XarrayReader(reader.input, tms=WM).tile(t.x, t.y, t.z)
                a, b = ours.array[0], theirs.array[0]
                assert (a.mask == b.mask).mean() >= 0.99
                both = ~a.mask & ~b.mask
                assert both.sum() > 50
                same = np.isclose(a.data[both], b.data[both], rtol=1e-6)
                assert same.mean() >= (0.99 if dz >= 0 else 0.9), f"{product} z{z}: {same.mean():.3f}"
        # other resampling: GDAL warps the window in both (edges of NaN areas may differ)
        t = WM.tile(lon, lat, reader.maxzoom)
        ours = reader.tile(t.x, t.y, t.z, reproject_method="bilinear").array[0]
        theirs = XarrayReader(reader.input, tms=WM).tile(t.x, t.y, t.z, reproject_method="bilinear").array[0]
        both = ~ours.mask & ~theirs.mask
        assert both.sum() > 50 and (ours.mask == theirs.mask).mean() >= 0.95
        assert np.isclose(ours.data[both], theirs.data[both], rtol=1e-4, atol=1e-4).mean() >= 0.9


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/tiles/nope/WebMercatorQuad/13/0/0.png?burst_id={b}", 404, "not_found"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id=t001_000001_iw1", 404, "not_found"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&datetime=2019-01-01", 404, "not_found"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}", 404, "tile_outside_bounds"),
        ("/tiles/backscatter/NoSuchTMS/13/0/0.png?burst_id={b}", 422, "invalid_request"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&multilook=0x4", 422, "invalid_options"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&view=phase", 400, "bad_request"),
        ("/tiles/coherence/WebMercatorQuad/13/0/0.png?burst_id={b}&datetime=2024-01-06", 400, "bad_request"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&reference=2024-01-06", 400, "bad_request"),
        ("/tiles/coherence/WebMercatorQuad/13/0/0.png?burst_id={b}&reference=2024-01-06&secondary=2024-01-06",
         400, "bad_request"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&bbox=0,0,1,1", 400, "bad_request"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?bbox=0,0,1,1", 404, "not_found"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?bbox=1,0,0,1", 400, "bad_request"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&tilesize=4096", 422, "invalid_request"),
        ("/tiles/backscatter/WebMercatorQuad/13/0/0.png?burst_id={b}&colormap_name=nope", 422, "invalid_request"),
        ("/tiles/backscatter/WebMercatorQuad/tilejson.json?burst_id={b}&datetime=nonsense", 400, "bad_request"),
        ("/tiles/backscatter/point/0,0?burst_id={b}", 404, "point_outside_bounds"),
        ("/tiles/backscatter/WMTSCapabilities.xml?burst_id=nope", 404, "not_found"),
    ],
)
def test_errors_are_4xx_code_detail(path, status, code, client, bursts):
    r = client.get(path.format(b=sorted(bursts)[0]))
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code and body["detail"]


def test_png_encoder_gives_titilers_pixels(cube_dir, deformation):
    """render_tile (imagecodecs PNG) and titiler's render_image (GDAL PNG) decode to the same
    pixels, with a colour map, with a grey one (written as grey + alpha) and without."""
    engine = ArdEngine(open_store(str(cube_dir)))
    burst_id, lon, lat = deformation
    src = TileSource(engine, TileCache(engine), "backscatter", Variant.of("backscatter"), view_of("backscatter", None),
                     "VV", 64)
    reader = burst_reader(src, src.layer_of(burst_id), WM)
    t = best_tile(cube_dir, burst_id, "backscatter", 13)
    for colormap, bands in ((cmap.get("viridis"), 4), (cmap.get("gray"), 2), (None, 2)):
        ours, media = render_tile(reader.tile(t.x, t.y, t.z), colormap=colormap, rescale=[(-25, 0)],
                                  output_format=ImageType.png)
        theirs, _ = render_image(reader.tile(t.x, t.y, t.z), colormap=colormap, rescale=[(-25, 0)],
                                 output_format=ImageType.png)
        assert media == "image/png"
        a, b = imagecodecs.png_decode(ours), imagecodecs.png_decode(theirs)
        assert a.shape[-1] == bands, "grey colour maps are written as grey + alpha"
        if colormap is not None and bands == 2:  # titiler writes RGBA with R = G = B
            np.testing.assert_array_equal(b[..., 0], b[..., 1])
            b = b[..., [0, 3]]
        np.testing.assert_array_equal(a, b)


def test_tile_formats(client, bursts, cube_dir, deformation):
    """jpeg/webp images; tif and npy carry the same float32 values (GeoTIFF in the TMS CRS)."""
    import rasterio

    burst_id, _, _ = deformation
    t = best_tile(cube_dir, burst_id, "coherence", 13)
    path = f"/tiles/coherence/WebMercatorQuad/13/{t.x}/{t.y}"
    for fmt, media in (("jpeg", "image/jpeg"), ("webp", "image/webp")):
        r = client.get(f"{path}.{fmt}", params={"burst_id": burst_id})
        assert r.status_code == 200 and r.headers["content-type"] == media, r.text
    npy = np.load(io.BytesIO(client.get(f"{path}.npy", params={"burst_id": burst_id}).content))
    tif = client.get(f"{path}.tif", params={"burst_id": burst_id})
    assert tif.status_code == 200, tif.text
    with rasterio.MemoryFile(tif.content) as mem, mem.open() as ds:
        assert ds.crs.to_epsg() == 3857 and ds.dtypes[0] == "float32"
        np.testing.assert_allclose(ds.bounds, WM.xy_bounds(t), rtol=1e-9)
        values, mask = ds.read(1), ds.read(2)
    np.testing.assert_array_equal(values[mask > 0], npy[0][npy[1] > 0])
