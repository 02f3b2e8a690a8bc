"""TilesFunction (container image): XYZ tiles, TileJSON and WMTS of every product at ``/tiles``.

A tile over chunks that were never computed computes them through the lazy engine.
"""

from __future__ import annotations

import importlib
from typing import Any

from cube.api._lambda import lambda_settings, make_http_handler, make_powertools, seed_numba_cache

ROUTERS = ("tiles",)


def _build() -> tuple[Any, Any]:
    tools = make_powertools()  # first: the cold start logs as JSON too
    seed_numba_cache()  # before the kernels load
    # The app factory skips a router it cannot import; this function is nothing without it.
    importlib.import_module("cube.api.tiles")
    from cube.api.app import create_app

    app = create_app(lambda_settings(), routers=ROUTERS)
    return app, make_http_handler(app, engine=app.state.engine, tools=tools)


app, handler = _build()
