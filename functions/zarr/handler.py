"""ZarrFunction (container image): each burst's products as zarr v3 stores at ``/zarr``.

Reading a chunk that was never computed computes it (the lazy engine), stores it, serves it.
"""

from __future__ import annotations

from typing import Any

from cube.api._lambda import lambda_settings, make_http_handler, make_powertools, seed_numba_cache

ROUTERS = ("zarr",)


def _build() -> tuple[Any, Any]:
    tools = make_powertools()  # first: the cold start logs as JSON too
    seed_numba_cache()  # before the kernels load
    from cube.api.app import create_app

    app = create_app(lambda_settings(), routers=ROUTERS)
    return app, make_http_handler(app, engine=app.state.engine, tools=tools)


app, handler = _build()
