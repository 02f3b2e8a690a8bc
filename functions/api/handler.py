"""ApiFunction (zip package + ApiLayer): the STAC API at ``/stac`` and the viewer at ``/``.

No numba here: the layer has none (it would not fit a zip function). /zarr, /tiles, /ard,
/point, /zonal and /jobs need the lazy engine and run in the container-image functions. The
product registry imports without numba, so the STAC API serves every product collection too.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cube import __version__
from cube.api.stac import make_stac_app
from cube.config import Settings
from functions.lambda_glue import lambda_settings, make_http_handler, make_powertools

log = logging.getLogger(__name__)


def make_app(settings: Settings) -> FastAPI:
    """The STAC API of the cube mounted at ``/stac``, and the viewer (if it is packaged)."""
    app = FastAPI(title="sarcube", version=__version__, description="STAC search and the viewer")
    app.state.settings = settings

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return JSONResponse({"code": codes.get(exc.status_code, "error"), "detail": str(exc.detail)},
                            status_code=exc.status_code)

    app.mount("/stac", make_stac_app(settings.cube_url, storage_options=settings.storage_options))
    try:
        from cube.api.viewer import make_viewer_router
    except ImportError as exc:
        log.warning("the viewer is not packaged (%s); / answers 404", exc)
    else:
        app.include_router(make_viewer_router())
    return app


tools = make_powertools()  # first: the cold start logs as JSON too
app = make_app(lambda_settings())
handler = make_http_handler(app, tools=tools)
