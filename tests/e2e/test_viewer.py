"""The web viewer in a real browser: Debian's chromium driven by Playwright, against uvicorn.

A tiny simulated cube (3 dates of one burst ID) is ingested and served on a free loopback
port. What the page must show is taken from what ingest wrote (``catalog/*.json``), not from
the page or the API:

- ``test_viewer_end_to_end`` (the whole app, ``cube.api.create_app``): the page loads with no
  console error, over its base map (a loopback XYZ URL whose tiles the test serves, with its
  attribution); a search lists the burst dates of the chosen period; picking one shows the
  product as tiles (the map changes where the burst is, and the opacity slider hides it
  again); the date slider steps through the dates; a click inside the burst draws the time
  series (``#timeseries circle``); a drawn polygon gives zonal statistics (the polygon sent is
  the one clicked) and a GeoTIFF download of its bounding box; the permalink, opened in a new
  page, shows the same layer; a pair product (coherence, interferogram) asks for its tiles
  by reference and secondary date, its legend has the colours of the server's colormap
  (rio-tiler's, read here), and draws its series. The browser asks nothing of any host but
  loopback. Screenshots go to ``tests/artifacts/``.
- ``test_viewer_search_and_errors_on_stac_alone`` (the STAC app and the viewer router only,
  no ``/tiles``): search works, and the 404 of the missing tile endpoint shows in the status
  line, with no script error.
- ``test_viewer_velocity_a_per_burst_layer`` (7 dates, a velocity made over the first 6: stale):
  its tiles answer 202 naming one job, which the page follows before drawing the layer; no date
  picker or slider; the legend in mm/yr; a click gives one value ± its standard error, equal to
  numpy's line through the displacement of all 7 dates at that pixel.
- the router alone: 503 ``viewer_not_built`` without MapLibre's files, static files, no path
  escapes.

The browser tests skip when /usr/bin/chromium is absent (``apt-get install chromium``) or
the viewer's vendor files are not built (``cube/api/viewer/build.sh``, which needs node and
npm). In CI (the ``CI`` variable set, as ``.ci/run`` does) they fail instead: CI installs all
of it, so a missing piece there is a broken viewer build.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import shapely.geometry
from _live import serve
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rio_tiler.colormap import cmap as colormaps

from cube.api.viewer import STATIC_DIR, VENDOR_FILES, make_viewer_router, viewer_built

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--enable-unsafe-swiftshader", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VIEWPORT = {"width": 1400, "height": 900}
PAGE_S = 30          # page load, search
COMPUTE_S = 240      # tiles and points computed on request from the cube (numba compiles first)
BASEMAP = "http://127.0.0.1:9/basemap/{z}/{x}/{y}.png"  # never reached: the test answers it
BASEMAP_RGB = (46, 110, 72)
BASEMAP_ATTRIBUTION = "© test basemap contributors"


# -- the router alone (no browser) --------------------------------------------------------------
def _router_app(static_dir: Path) -> TestClient:
    app = FastAPI()
    app.include_router(make_viewer_router(static_dir))
    return TestClient(app)


def test_router_answers_503_until_the_viewer_is_built(tmp_path):
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>x</title>")
    with _router_app(static) as client:
        r = client.get("/")
        assert r.status_code == 503
        assert r.json() == {"code": "viewer_not_built",
                            "detail": "run cube/api/viewer/build.sh (make setup does it)"}
        (static / "vendor").mkdir()
        for f in VENDOR_FILES:
            (static / f).write_text("/* built */")
        r = client.get("/")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.text == "<!doctype html><title>x</title>"


def test_router_serves_the_static_folder_and_nothing_outside(tmp_path):
    static = tmp_path / "static"
    (static / "vendor").mkdir(parents=True)
    (static / "app.js").write_text("export const a = 1;\n")
    (static / "vendor" / "maplibre-gl.css").write_text("a{}")
    (tmp_path / "secret.txt").write_text("no")
    with _router_app(static) as client:
        r = client.get("/viewer/static/app.js")
        assert r.status_code == 200 and r.text == "export const a = 1;\n"
        assert "javascript" in r.headers["content-type"]  # an ES module needs a JS media type
        again = client.get("/viewer/static/app.js", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        assert client.get("/viewer/static/vendor/maplibre-gl.css").headers["content-type"].startswith("text/css")
        missing = client.get("/viewer/static/nope.js")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
        for escape in ("/viewer/static/../secret.txt", "/viewer/static/%2e%2e/secret.txt",
                       "/viewer/static/vendor/%2e%2e/%2e%2e/secret.txt"):
            r = client.get(escape)
            assert r.status_code == 404 and "no" != r.text, escape


def test_the_page_uses_relative_urls_only():
    """The page is served at the API's root, wherever that is mounted: no absolute paths."""
    html = (STATIC_DIR / "index.html").read_text()
    js = (STATIC_DIR / "app.js").read_text()
    for attr in ('href="/', 'src="/', "http://", "https://"):
        assert attr not in html, attr
    for call in ('fetch("/', "api(\"/", "api(`/", "`/tiles", "\"/stac", "`/point"):
        assert call not in js, call


def test_basemap_setting_defaults_to_openstreetmap_and_reaches_the_page(tmp_path):
    from cube.config import Settings
    from cube.errors import InputError

    settings = Settings(cube_url=str(tmp_path))
    assert settings.basemap.endswith("/{z}/{x}/{y}.png") and "openstreetmap" in settings.basemap
    assert settings.basemap_attribution == "© OpenStreetMap contributors"
    static = tmp_path / "static"
    static.mkdir()
    cases = [(settings.basemap, {"kind": "raster", "url": settings.basemap,
                                 "attribution": "© OpenStreetMap contributors"}),
             ("https://maps.example/style.json", {"kind": "style", "url": "https://maps.example/style.json",
                                                  "attribution": "© OpenStreetMap contributors"}),
             ("none", None), (None, None)]
    for basemap, expected in cases:
        app = FastAPI()
        app.include_router(make_viewer_router(static, basemap=basemap,
                                              basemap_attribution=settings.basemap_attribution))
        with TestClient(app) as client:
            assert client.get("/viewer/config.json").json() == {"basemap": expected}, basemap
    with pytest.raises(InputError, match="SARCUBE_BASEMAP"):
        make_viewer_router(static, basemap="tiles/{z}/{x}/{y}.png")


# -- a cube and a live server --------------------------------------------------------------------
def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _cannot_run(reason: str) -> NoReturn:
    """Skip with ``reason``; in CI fail instead (CI installs chromium, node and npm)."""
    if _in_ci():
        pytest.fail(f"CI is set, so the viewer must be testable: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright (skips when it or the viewer's files are missing)."""
    if not CHROMIUM.is_file():
        _cannot_run(f"{CHROMIUM} not found: the browser tests need Debian's chromium "
                    "(apt-get install -y chromium)")
    if not viewer_built():
        _cannot_run("the viewer's vendor files (MapLibre GL) are not built: "
                    "run cube/api/viewer/build.sh (make setup does it; needs node and npm)")
    try:
        from playwright import sync_api
    except ImportError as exc:
        _cannot_run(f"playwright is not installed ({exc}): run make setup")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def cube_dir(tmp_path_factory) -> Path:
    """A cube of 3 dates × 1 burst ID (tiny simulated SAFEs), with its DEM set."""
    from cube.ingest import ingest
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack
    from cube.storage import open_store

    root = tmp_path_factory.mktemp("viewer")
    stack = simulate_stack(root / "sim", dates=3, bursts=1, size="tiny", seed=5)
    store = open_store(str(root / "cube"))
    ingest([str(p) for p in stack.safe_paths], store, progress=False)
    set_cube_dem(store, str(stack.truth_dir / "dem.tif"))
    return root / "cube"


@pytest.fixture(scope="module")
def slc_items(cube_dir) -> list[dict]:
    """The SLC items ingest wrote, by date: the independent expectation of the search."""
    items = [json.loads(p.read_text()) for p in (cube_dir / "catalog").rglob("*.json")]
    items.sort(key=lambda it: it["properties"]["datetime"])
    assert len(items) == 3
    return items


class PageLog:
    """Console errors, script errors, failed responses and the API requests of one page."""

    def __init__(self, page):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed: list[tuple[int, str]] = []
        self.requests: list[tuple[str, str, str | None]] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append((r.method, r.url, r.post_data)))
        page.on("response", lambda r: self.failed.append((r.status, r.url)) if r.status >= 400 else None)

    def script_errors(self) -> list[str]:
        """Errors other than the browser's own line for each failed HTTP response."""
        return self.page_errors + [m for m in self.console_errors
                                   if not m.startswith("Failed to load resource")]

    def urls(self, part: str) -> list[str]:
        return [u for _, u, _ in self.requests if part in u]

    def hosts(self) -> set[str]:
        """Hosts of the network requests (data: and blob: URLs are not)."""
        return {urlsplit(u).hostname or "" for _, u, _ in self.requests
                if urlsplit(u).scheme in ("http", "https", "ws", "wss")}


def _basemap_tile() -> bytes:
    import imagecodecs

    return imagecodecs.png_encode(np.full((256, 256, 3), BASEMAP_RGB, np.uint8))


def _open(browser, url: str, headers: dict[str, str] | None = None):
    context = browser.new_context(viewport=VIEWPORT, extra_http_headers=headers)
    tile = _basemap_tile()
    context.route("http://127.0.0.1:9/basemap/**",
                  lambda route: route.fulfill(status=200, body=tile, content_type="image/png"))
    page = context.new_page()
    log = PageLog(page)
    page.goto(url)
    page.wait_for_function("window.sarcube && window.sarcube.ready", timeout=PAGE_S * 1000)
    return context, page, log


def _search(page, log, items: list[dict]) -> list[dict]:
    """Search the first two dates in the page's date inputs; return the items expected."""
    first, second = (it["properties"]["datetime"][:10] for it in items[:2])
    page.fill("#date-start", first)
    page.fill("#date-end", second)
    n_before = len(log.urls("/stac/search"))
    page.click("#search-button")
    page.wait_for_function("document.querySelectorAll('#results li').length === 2"
                           " && !document.getElementById('search-button').disabled",
                           timeout=PAGE_S * 1000)
    searches = [(m, u, b) for m, u, b in log.requests if "/stac/search" in u][n_before:]
    assert searches, "the search button sent no search"
    method, _, body = searches[-1]
    assert method == "POST"
    sent = json.loads(body)
    assert sent["collections"] == ["sentinel-1-slc-bursts"]
    assert sent["limit"] == 50
    assert sent["datetime"].startswith(f"{first}T00:00:00") and f"/{second}T23:59:59" in sent["datetime"]
    west, south, east, north = sent["bbox"]
    for it in items:  # the view (the cube's extent at start) holds every burst
        bx = it["bbox"]
        assert west <= bx[0] and bx[2] <= east and south <= bx[1] and bx[3] <= north, (sent["bbox"], bx)
    expected = [it for it in items if first <= it["properties"]["datetime"][:10] <= second]
    texts = page.locator("#results li").all_inner_texts()
    assert len(texts) == len(expected) == 2
    for it, text in zip(expected, texts, strict=True):
        assert it["properties"]["sarcube:burst_id"] in text
        assert it["properties"]["datetime"][:10] in text
    return expected


def _map_png(page) -> np.ndarray:
    import imagecodecs

    return np.asarray(imagecodecs.png_decode(page.locator("#map").screenshot()))[..., :3].astype(int)


def _settle(page, timeout_s: float) -> None:
    """Wait until the product's tiles are loaded and the map has stopped moving and painting."""
    page.wait_for_function("window.sarcube.productLoaded() && !window.sarcube.map.isMoving()",
                           timeout=timeout_s * 1000)
    page.evaluate("""() => new Promise((done) => {
        const map = window.sarcube.map;
        map.once('idle', done);
        map.triggerRepaint();
    })""")


def _click_inside(page, item: dict) -> None:
    """Click the map at a point inside the burst's footprint."""
    inner = shapely.geometry.shape(item["geometry"]).representative_point()
    x, y = page.evaluate("""([lon, lat]) => {
        const map = window.sarcube.map;
        const p = map.project([lon, lat]);
        const r = map.getCanvas().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }""", [inner.x, inner.y])
    page.mouse.click(x, y)


# -- the browser tests ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app_url(browser, cube_dir, tmp_path_factory):
    """The whole app (STAC, tiles, point, viewer) on uvicorn."""
    from cube.api import create_app

    ard = tmp_path_factory.mktemp("ard")
    app = create_app(cube_url=str(cube_dir), ard_url=str(ard), allow_anonymous=True,
                     basemap=BASEMAP, basemap_attribution=BASEMAP_ATTRIBUTION)
    with serve(app) as url:
        yield url


def test_viewer_end_to_end(browser, app_url, slc_items):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context, page, log = _open(browser, f"{app_url}/")
    try:
        # 1. the page loads: no console error at all, the product picker is filled
        assert log.console_errors == [] and log.page_errors == [], (log.console_errors, log.page_errors)
        products = page.locator("#product option").evaluate_all("os => os.map(o => o.value)")
        assert "backscatter" in products and "coherence" in products, products
        assert "sentinel-1-slc-bursts" not in products
        # ... over the base map, with its attribution
        page.wait_for_function("window.sarcube.map.areTilesLoaded()", timeout=PAGE_S * 1000)
        assert log.urls("127.0.0.1:9/basemap/"), "no base map tile was requested"
        assert BASEMAP_ATTRIBUTION in page.locator(".maplibregl-ctrl-attrib").inner_text()
        basemap = (np.abs(_map_png(page) - BASEMAP_RGB).max(axis=-1) <= 12).mean()
        assert basemap > 0.3, f"the base map covers {basemap:.0%} of the map"

        # 2. a search lists the burst dates of the period
        expected = _search(page, log, slc_items)

        # 3. picking a result shows the product as tiles
        item = expected[1]
        page.locator("#results button").nth(1).click()
        _settle(page, COMPUTE_S)
        tilejson = log.urls("/tiles/backscatter/WebMercatorQuad/tilejson.json")[-1]
        assert f"burst_id={item['properties']['sarcube:burst_id']}" in tilejson
        assert "datetime=" + item["properties"]["datetime"].replace(":", "%3A") in tilejson
        assert page.locator("#date").input_value() == item["properties"]["datetime"]
        tiles = [u for u in log.urls("/tiles/backscatter/WebMercatorQuad/") if "tilejson.json" not in u]
        assert tiles, "no tile was requested"
        assert not [f for f in log.failed if "/tiles/" in f[1]], log.failed
        shown = _map_png(page)
        page.locator("#opacity").fill("0")
        _settle(page, PAGE_S)
        hidden = _map_png(page)
        page.locator("#opacity").fill("1")
        _settle(page, PAGE_S)
        changed = np.abs(shown - hidden).sum(axis=-1) > 24
        assert changed.mean() > 0.005, f"the tiles changed {changed.mean():.2%} of the map: blank?"
        levels = np.unique(shown[changed] // 8, axis=0)
        assert len(levels) >= 4, f"the product shows as {len(levels)} flat colours"
        assert not page.locator("#legend").is_hidden()
        assert "dB" in page.locator("#legend-title").inner_text()

        # 3b. the date slider steps through the burst's dates in the results
        assert page.locator("#slider-field").is_visible()
        assert page.locator("#date-slider").get_attribute("max") == str(len(expected) - 1)
        for step in (0, 1):
            when = expected[step]["properties"]["datetime"]
            page.locator("#date-slider").fill(str(step))
            page.wait_for_function(f"document.getElementById('date').value === '{when}'",
                                   timeout=PAGE_S * 1000)
            _settle(page, COMPUTE_S)
            assert "datetime=" + when.replace(":", "%3A") in log.urls("/tilejson.json")[-1]
            assert when[:10] in page.locator("#slider-value").inner_text()

        # 4. a click inside the burst draws its time series
        _click_inside(page, item)
        page.wait_for_selector("#timeseries circle", timeout=COMPUTE_S * 1000)
        n_points = page.locator("#timeseries circle").count()
        assert 1 <= n_points <= len(slc_items)
        point = log.urls("/point?")[-1]
        assert "product=backscatter" in point and f"burst_id={item['properties']['sarcube:burst_id']}" in point
        assert page.locator("#timeseries .axis-label").count() == 2
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "viewer.png"))

        # 4b. a drawn polygon: zonal statistics of the pixels inside, a download of its box
        burst_id = item["properties"]["sarcube:burst_id"]
        centre = shapely.geometry.shape(item["geometry"]).representative_point()
        x, y = page.evaluate("""([lon, lat]) => {
            const p = window.sarcube.map.project([lon, lat]);
            const r = window.sarcube.map.getCanvas().getBoundingClientRect();
            return [r.left + p.x, r.top + p.y];
        }""", [centre.x, centre.y])
        # whole CSS pixels: a mouse event's clientX/clientY are whole
        clicks = [(round(x) + dx, round(y) + dy) for dx, dy in ((-60, -80), (60, -80), (60, -10), (-60, -10))]
        page.click("#draw-button")
        for cx, cy in clicks:
            page.mouse.click(cx, cy)
        page.click("#draw-finish")
        corners = page.evaluate("""(pts) => pts.map(([x, y]) => {
            const r = window.sarcube.map.getCanvas().getBoundingClientRect();
            const ll = window.sarcube.map.unproject([x - r.left, y - r.top]);
            return [ll.lng, ll.lat];
        })""", clicks)
        with page.expect_request(lambda r: r.url.endswith("/zonal")) as sent:
            page.click("#zonal-button")
        body = json.loads(sent.value.post_data)
        assert body["product"] == "backscatter" and body["burst_id"] == burst_id
        ring = body["features"]["features"][0]["geometry"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]
        np.testing.assert_allclose(ring[:4], corners, atol=1e-6)
        page.wait_for_selector("#zonal-table tbody tr", timeout=COMPUTE_S * 1000)
        rows = page.locator("#zonal-table tbody tr").all_inner_texts()
        assert len(rows) == len(slc_items), rows  # every date of the burst
        for row, it in zip(rows, slc_items, strict=True):
            when, mean, _median, count = row.split("\t")
            assert when == it["properties"]["datetime"][:10] and int(count) > 100, row
            assert -40 < float(mean) < 10, row  # σ0 in dB, as the tiles show it
        href = page.locator("#ard-link").get_attribute("href")
        query = parse_qs(urlsplit(href).query)
        assert href.startswith("ard/backscatter?") and query["format"] == ["tif"]
        sent_area = json.loads(query["intersects"][0])
        assert sent_area["type"] == "Polygon" and "bbox" not in query
        np.testing.assert_allclose(sent_area["coordinates"][0][:4], corners, atol=1e-6)
        tif = page.request.get(f"{app_url}/{href}")
        assert tif.status == 200 and tif.body()[:4] in (b"II*\x00", b"MM\x00*"), tif.status
        page.screenshot(path=str(ARTIFACTS / "viewer-area.png"))

        # 4c. the permalink, opened anew, shows the same layer at the same place
        link = parse_qs(urlsplit(page.url).fragment)
        assert link["product"] == ["backscatter"] and link["burst"] == [burst_id]
        assert link["date"] == [item["properties"]["datetime"]]
        again = context.new_page()
        log_again = PageLog(again)
        again.goto(page.url)
        again.wait_for_function("window.sarcube && window.sarcube.ready", timeout=PAGE_S * 1000)
        _settle(again, COMPUTE_S)
        first = parse_qs(urlsplit(log.urls("/tilejson.json")[-1]).query)
        second = parse_qs(urlsplit(log_again.urls("/tilejson.json")[-1]).query)
        assert first == second
        assert again.locator("#date").input_value() == item["properties"]["datetime"]
        view = "() => { const c = window.sarcube.map.getCenter(); return [c.lng, c.lat, window.sarcube.map.getZoom()]; }"
        got, want = again.evaluate(view), page.evaluate(view)
        np.testing.assert_allclose(got[:2], want[:2], atol=2e-5)  # the link keeps 5 decimals
        assert abs(got[2] - want[2]) <= 0.005, (got, want)  # and the zoom's 2
        assert log_again.script_errors() == [], log_again.script_errors()
        again.close()

        # 5. the pair products: tiles by reference and secondary date, their time series
        # (the date picked was the last one searched: the pair is the date before → that date)
        ref, sec = (it["properties"]["datetime"].replace(":", "%3A") for it in expected)
        for product, title in (("coherence", "Coherence"), ("interferogram", "Interferogram")):
            page.select_option("#product", product)
            assert page.locator("#secondary-field").is_visible()
            _settle(page, COMPUTE_S)
            tilejson = log.urls(f"/tiles/{product}/WebMercatorQuad/tilejson.json")[-1]
            assert f"reference={ref}" in tilejson and f"secondary={sec}" in tilejson, tilejson
            assert "datetime=" not in tilejson
            page.wait_for_function(
                f"document.getElementById('timeseries-title').textContent.startsWith('{title}')"
                " && document.querySelectorAll('#timeseries circle').length >= 1",
                timeout=COMPUTE_S * 1000)
            assert f"product={product}" in log.urls("/point?")[-1]
            # the legend: the server's colormap, read here from rio-tiler itself
            colormap_name = json.loads(page.request.get(tilejson).body())["raster_layers"]["default"]["colormap_name"]
            table = colormaps.get(colormap_name)
            ends = page.evaluate("""() => {
                const c = document.getElementById('legend-canvas');
                const d = c.getContext('2d').getImageData(0, 7, c.width, 1).data;
                return [[d[0], d[1], d[2]], [d[d.length - 4], d[d.length - 3], d[d.length - 2]]];
            }""")
            np.testing.assert_allclose(ends, [table[0][:3], table[255][:3]], atol=2)
            if product == "coherence":  # the product's options go to the tiles and the permalink
                page.fill("#options", "window=7x7")
                page.locator("#options").press("Enter")
                page.wait_for_function("window.sarcube.state.options === 'window=7x7'", timeout=PAGE_S * 1000)
                _settle(page, COMPUTE_S)
                assert "window=7x7" in log.urls("/tiles/coherence/WebMercatorQuad/tilejson.json")[-1]
                assert parse_qs(urlsplit(page.url).fragment)["options"] == ["window=7x7"]
                page.fill("#options", "")
                page.locator("#options").press("Enter")
                page.wait_for_function("window.sarcube.state.options === ''", timeout=PAGE_S * 1000)
                _settle(page, COMPUTE_S)
            page.wait_for_timeout(300)
            page.screenshot(path=str(ARTIFACTS / f"viewer-{product}.png"))

        assert log.script_errors() == [], log.script_errors()
        assert not [f for f in log.failed if "/tiles/" in f[1] or "/point" in f[1]], log.failed
        assert "error" not in (page.locator("#status").get_attribute("class") or ""), \
            page.locator("#status").inner_text()
        assert log.hosts() <= {"127.0.0.1", "localhost"}, log.hosts()
    finally:
        context.close()


def test_viewer_search_and_errors_on_stac_alone(browser, cube_dir, slc_items):
    """Only the STAC API and the viewer: search works; the missing /tiles is a status line."""
    from cube.api.stac import make_stac_app

    app = FastAPI()
    app.mount("/stac", make_stac_app(str(cube_dir)))
    app.include_router(make_viewer_router())
    with serve(app) as url:
        context, page, log = _open(browser, f"{url}/")
        try:
            assert log.console_errors == [] and log.page_errors == [], (log.console_errors, log.page_errors)
            _search(page, log, slc_items)
            # the footprints are on the map: one burst ID
            n = page.evaluate("async () => (await window.sarcube.map.getSource('footprints').getData()).features.length")
            assert n == 1
            page.locator("#results button").first.click()
            page.wait_for_function("document.getElementById('status').classList.contains('error')",
                                   timeout=PAGE_S * 1000)
            status = page.locator("#status").inner_text()
            assert "404" in status and "Not Found" in status, status
            assert [s for s, u in log.failed if "/tiles/backscatter/WebMercatorQuad/tilejson.json" in u] == [404]
            assert log.script_errors() == [], log.script_errors()
            # no base map by default of the router: nothing but the server is asked
            assert log.urls("/viewer/config.json") and not log.urls("/basemap/")
            assert log.hosts() <= {"127.0.0.1", "localhost"}, log.hosts()
        finally:
            context.close()


# -- a per-burst product: velocity ----------------------------------------------------------------
VELOCITY_OPTIONS = {"multilook": [4, 8]}


@pytest.fixture(scope="module")
def velocity_cube(tmp_path_factory) -> dict:
    """7 tiny dates of one burst ID (a nonlinear deformation); a job made the displacement series
    and velocity of the first 6; the 7th was ingested after: the stored velocity is stale."""
    from cube.ingest import ingest
    from cube.jobs import JobSpec, run_burst
    from cube.materialize import ArdEngine
    from cube.products import set_cube_dem
    from cube.simulate import simulate_stack
    from cube.storage import open_store

    root = tmp_path_factory.mktemp("velocity")
    stack = simulate_stack(root / "sim", dates=7, bursts=1, size="tiny", seed=5, deformation="nonlinear")
    cube, ard = root / "cube", root / "ard"
    store = open_store(str(cube))
    safes = [str(p) for p in stack.safe_paths]
    ingest(safes[:6], store, progress=False)
    set_cube_dem(store, str(stack.truth_dir / "dem.tif"))
    engine = ArdEngine(open_store(str(cube)), open_store(str(ard)))
    burst_id = engine.grids()[0].burst_id
    run_burst(JobSpec(cube_url=str(cube), bursts=[{"burst_id": burst_id, "products": [
        {"product": "velocity", "options": VELOCITY_OPTIONS}]}]), 0, engine=engine)
    ingest(safes[6:], store, progress=False)
    items = [json.loads(p.read_text()) for p in (cube / "catalog").rglob("*.json")]
    items = sorted((it for it in items if it.get("collection") == "sentinel-1-slc-bursts"),
                   key=lambda it: it["properties"]["datetime"])
    assert len(items) == 7
    return {"cube": cube, "ard": ard, "burst_id": burst_id, "items": items}


def test_viewer_velocity_a_per_burst_layer(browser, velocity_cube):
    """Velocity (no date): its tiles of the stale velocity answer 202 and a job, which the page
    follows before drawing the layer; no date picker or slider; the legend in mm/yr; a click
    gives one value ± its standard error, numpy's line through the 7 dates' displacement."""
    from cube.api import create_app
    from cube.materialize import ArdEngine
    from cube.products import ArdArray, Variant
    from cube.storage import open_store
    from tests.integration._users import bearer, keys_file

    v = velocity_cube
    burst_id, items = v["burst_id"], v["items"]
    # a signed-in user: anonymous callers cannot start jobs
    app = create_app(cube_url=str(v["cube"]), ard_url=str(v["ard"]), jobs_url=str(v["ard"].parent / "jobs.sqlite"),
                     api_keys_file=str(keys_file(v["ard"].parent / "keys")), allow_anonymous=True,
                     basemap=BASEMAP, basemap_attribution=BASEMAP_ATTRIBUTION)
    centre = shapely.geometry.shape(items[-1]["geometry"]).representative_point()
    link = (f"#map=14.00/{centre.y:.5f}/{centre.x:.5f}&product=velocity&burst={burst_id}"
            f"&date={items[-1]['properties']['datetime']}&from={items[0]['properties']['datetime'][:10]}"
            f"&to={items[-1]['properties']['datetime'][:10]}&options=multilook%3D4x8")
    with serve(app) as url:
        context, page, log = _open(browser, f"{url}/{link}", headers=bearer("alice"))
        tiles: list[int] = []
        jobs: set[str] = set()

        def on_tile(r) -> None:
            if "/tiles/velocity/WebMercatorQuad/1" in r.url:
                tiles.append(r.status)
                if r.status == 202:
                    jobs.add(r.headers["location"])

        page.on("response", on_tile)
        try:
            # the stale velocity's tiles answer 202; the page follows the job, then draws the layer
            deadline = time.monotonic() + COMPUTE_S
            while 200 not in tiles:  # the responses arrive while the page waits
                status = page.locator("#status").inner_text()
                assert time.monotonic() < deadline, f"{status!r}; tiles {tiles}; failed {log.failed}"
                page.wait_for_timeout(250)
            _settle(page, COMPUTE_S)
            assert page.locator("#status").inner_text().startswith("velocity of"), page.locator("#status").inner_text()
            assert 202 in tiles and 200 in tiles, tiles
            assert len(jobs) == 1, jobs  # one whole-burst job for every tile of the layer
            assert log.urls(jobs.pop()), "the page did not follow the job"
            tilejson = log.urls("/tiles/velocity/WebMercatorQuad/tilejson.json")[-1]
            assert "datetime=" not in tilejson and "multilook=4x8" in tilejson, tilejson
            # no date: neither picker nor slider
            assert page.locator("#slider-field").is_hidden() and page.locator("#date-field").is_hidden()
            assert "mm/yr" in page.locator("#legend-title").inner_text()
            labels = page.locator("#legend-labels span").all_inner_texts()
            assert labels == ["-100", "0", "100"], labels
            # a click: one value ± its standard error, in mm/yr
            _click_inside(page, items[-1])
            page.wait_for_function("/±/.test(document.getElementById('timeseries-chart').textContent)",
                                   timeout=COMPUTE_S * 1000)
            text = page.locator("#timeseries-chart").inner_text()
            point = json.loads(page.request.get(f"{url}/{log.urls('/point?')[-1].split('/', 3)[3]}").body())
            page.screenshot(path=str(ARTIFACTS / "viewer-velocity.png"))
            assert log.script_errors() == [], log.script_errors()
            assert not [f for f in log.failed if "/tiles/" in f[1] or "/point" in f[1]], log.failed
            assert log.hosts() <= {"127.0.0.1", "localhost"}, log.hosts()
        finally:
            context.close()
    m = re.fullmatch(r"(-?[\d.]+) ± ([\d.]+) mm/yr over every date", text.strip())
    assert m, text
    # the reference: numpy's least-squares line through the displacement of all 7 dates there
    engine = ArdEngine(open_store(str(v["cube"])), open_store(str(v["ard"])))
    disp = Variant.of("displacement", VELOCITY_OPTIONS)
    dates = sorted(engine.stack(burst_id).dates)
    row, col = point["row"], point["col"]
    series = [engine.read(ArdArray(burst_id, "VV", disp, (d,)))[row, col] for d in dates]
    days = [(np.datetime64(it["properties"]["datetime"][:19]) - np.datetime64(items[0]["properties"]["datetime"][:19]))
            / np.timedelta64(1, "D") for it in items]
    slope = 1e3 * np.polyfit(np.asarray(days) / 365.25, series, 1)[0]
    assert len(series) == 7 and float(m.group(1)) == pytest.approx(slope, rel=0.01, abs=0.01), (text, slope)
    std = 1e3 * engine.read(ArdArray(burst_id, "VV", Variant.of("velocity", VELOCITY_OPTIONS).at("velocity_std"), ()))
    assert float(m.group(2)) == pytest.approx(std[row, col], rel=0.01, abs=0.01), text
