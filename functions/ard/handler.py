"""ArdFunction (container image): ``/ard``, ``/point``, ``/zonal`` and ``/jobs``.

Requests that need more chunks than one request may compute answer 202 with a ``/jobs/{id}``
location; the job runs on the configured executor (Step Functions in the deployed stack).
"""

from __future__ import annotations

from typing import Any

from cube.api._lambda import lambda_settings, make_http_handler, make_powertools, seed_numba_cache

ROUTERS = ("ard", "analysis", "jobs")


def _build() -> tuple[Any, Any]:
    tools = make_powertools()  # first: the cold start logs as JSON too
    seed_numba_cache()  # before the kernels load
    from cube.api.app import create_app

    app = create_app(lambda_settings(), routers=ROUTERS)
    return app, make_http_handler(app, engine=app.state.engine, tools=tools)


app, handler = _build()
