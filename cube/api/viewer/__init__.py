"""The web viewer: a MapLibre GL page served at ``/``, its files at ``/viewer/static/...``.

The page (``static/index.html``, ``app.js``, ``style.css``) uses relative URLs only, so it works
wherever the app is mounted, as long as ``/stac``, ``/tiles`` and ``/point`` sit beside it.
MapLibre GL itself is an npm package: ``build.sh`` copies its dist files into
``static/vendor/`` (git-ignored). Until that is done, ``GET /`` answers 503
``{"code": "viewer_not_built", ...}``. ``GET /viewer/config.json`` tells the page its base map
(``SARCUBE_BASEMAP``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from cube.errors import InputError

__all__ = ["STATIC_DIR", "VENDOR_FILES", "basemap_config", "make_viewer_router", "viewer_built"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_FILES = ("vendor/maplibre-gl.js", "vendor/maplibre-gl.css")
"""Files ``build.sh`` puts under ``STATIC_DIR``; the page needs both."""

NOT_BUILT = {"code": "viewer_not_built",
             "detail": "run cube/api/viewer/build.sh (make setup does it)"}


def viewer_built(static_dir: Path = STATIC_DIR) -> bool:
    """Whether the vendor files (MapLibre GL) are in place."""
    return all((static_dir / f).is_file() and (static_dir / f).stat().st_size > 0
               for f in VENDOR_FILES)


def basemap_config(basemap: str | None, attribution: str = "") -> dict | None:
    """What the page needs to draw ``basemap``: ``{kind, url, attribution}``, or None for none.

    ``kind`` is ``raster`` for an XYZ tile URL (``{z}``, ``{x}``, ``{y}``) or ``style`` for a
    MapLibre style URL. InputError for anything else, naming the setting.
    """
    if basemap is None or basemap.strip().lower() in ("", "none", "off", "false"):
        return None
    url = basemap.strip()
    if not url.startswith(("http://", "https://")):
        raise InputError(f"SARCUBE_BASEMAP={basemap!r}: give an http(s) URL (XYZ tiles or a "
                         "MapLibre style), or none")
    if all(k in url for k in ("{z}", "{x}", "{y}")):
        return {"kind": "raster", "url": url, "attribution": attribution}
    return {"kind": "style", "url": url, "attribution": attribution}


def make_viewer_router(static_dir: Path | str = STATIC_DIR, basemap: str | None = None,
                       basemap_attribution: str = "") -> APIRouter:
    """Router of the viewer: ``GET /`` (the page), ``/viewer/config.json`` and ``/viewer/static/{path}``.

    Parameters
    ----------
    static_dir
        Folder with ``index.html``, ``app.js``, ``style.css`` and ``vendor/`` (default: the
        package's own ``static/``).
    basemap, basemap_attribution
        The base map (see :func:`basemap_config`; default none) and its attribution.
    """
    static_dir = Path(static_dir)
    config = {"basemap": basemap_config(basemap, basemap_attribution)}
    # StaticFiles resolves paths safely (no escape from the folder), guesses media types and
    # answers conditional requests (ETag, Last-Modified → 304); the routes below only call it.
    files = StaticFiles(directory=static_dir, check_dir=False)
    router = APIRouter(tags=["Viewer"])

    @router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> Response:
        """The viewer page, or 503 ``viewer_not_built`` when MapLibre GL is not copied in."""
        if not viewer_built(static_dir):
            return JSONResponse(NOT_BUILT, status_code=503)
        return FileResponse(static_dir / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @router.get("/viewer/config.json", include_in_schema=False)
    def viewer_config() -> JSONResponse:
        """The page's settings: ``{"basemap": {kind, url, attribution} | null}``."""
        return JSONResponse(config, headers={"Cache-Control": "no-cache"})

    @router.api_route("/viewer/static/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def static(path: str, request: Request) -> Response:
        """A file of the viewer (page code, styles, vendor files)."""
        try:
            response = await files.get_response(path, request.scope)
        except HTTPException as exc:
            code = "not_found" if exc.status_code == 404 else "bad_request"
            return JSONResponse({"code": code, "detail": f"viewer file {path!r}: {exc.detail}"},
                                status_code=exc.status_code)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response

    return router
