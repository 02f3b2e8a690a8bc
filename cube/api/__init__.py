"""FastAPI routers of sarcube (stac, zarr, ard, point/zonal, jobs, tiles, viewer) and the app factory.

``create_app(cube_url=...)`` builds the whole API; ``sarcube serve --cube URL`` runs it. The
names are imported on first use, so ``cube.api.stac`` alone (the zip Lambda) needs no numba.
"""

from __future__ import annotations

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from cube.api.app import create_app

        return create_app
    raise AttributeError(name)
