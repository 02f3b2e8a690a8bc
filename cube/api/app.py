"""The app factory: every router over one cube, its ARD store, job records and executor.

A router is imported on the first request under its paths (:class:`LazyRoutes`), the STAC
sub-app built on the first request under ``/stac`` (:class:`LazyApp`): a fresh server answers its
first request after importing only what that request needs (titiler, rasterio, stac-fastapi,
shapely, dask wait for the routes that use them). ``/openapi.json`` loads every router first.
The keys of ``/zarr`` are served by a route of their own (`cube.api.zarr.ZarrKeys`), there from
the start: it needs no FastAPI route built, and no per-request FastAPI work.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

from cube import __version__
from cube.api._errors import install_error_handlers
from cube.api.auth import Authenticator, Guarded, authenticate, install_auth_errors
from cube.config import Settings, make_engine
from cube.errors import InputError
from cube.products import ArdArray, Variant

ROUTERS = ("stac", "zarr", "ard", "analysis", "jobs", "tiles", "viewer")

#: router name → (the path prefixes it serves, "module:router" or "module:factory", its mount prefix).
_LAZY: dict[str, tuple[tuple[str, ...], str, str]] = {
    "zarr": (("/zarr",), "cube.api.zarr:make_zarr_router", ""),
    "ard": (("/ard",), "cube.api.ard:router", ""),
    "analysis": (("/point", "/zonal"), "cube.api.point:router", ""),
    "jobs": (("/jobs",), "cube.api.jobs:router", ""),
    "tiles": (("/tiles",), "cube.api.tiles:make_tiles_router", "/tiles"),
    "viewer": (("/", "/viewer"), "cube.api.viewer:make_viewer_router", ""),
}


class LazyRoutes(BaseRoute):
    """A stand-in for a router's routes, loaded on the first request under ``prefixes``.

    It imports the router, includes it in the app in its place, and hands the request to the
    app's router. ``"/"`` as a prefix matches only the path ``/``.
    """

    def __init__(self, app: FastAPI, prefixes: tuple[str, ...], target: str, mount: str = "",
                 **factory_kwargs: Any):
        self.app, self.prefixes, self.target, self.mount = app, prefixes, target, mount
        self.factory_kwargs = factory_kwargs
        self._lock = threading.Lock()
        self.loaded = False
        self.added: list[BaseRoute] = []

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL for an HTTP request under one of the prefixes (nothing else)."""
        if scope["type"] == "http":
            path = scope["path"]
            for p in self.prefixes:
                if path == p or (p != "/" and path.startswith(p + "/")):
                    return Match.FULL, {}
        return Match.NONE, {}

    def load(self) -> None:
        """Import the router and put its routes where this stand-in was (once)."""
        with self._lock:
            if self.loaded:
                return
            module, _, attr = self.target.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            router = obj(**self.factory_kwargs) if callable(obj) and not hasattr(obj, "routes") else obj
            routes = self.app.router.routes
            before = len(routes)
            self.app.include_router(router, prefix=self.mount)
            added = routes[before:]
            del routes[before:]
            at = routes.index(self)
            routes[at : at + 1] = added
            self.added = added
            self.app.openapi_schema = None
            self.loaded = True

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the router's route ``name`` (loading the router); NoMatchFound if it has none."""
        self.load()
        for route in self.added:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Load the router, then route the request again."""
        self.load()
        await self.app.router.app(scope, receive, send)


class LazyApp:
    """An ASGI app built by ``factory()`` on its first request (once)."""

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self._app: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        """The app, built now if it was not yet."""
        with self._lock:
            if self._app is None:
                self._app = self.factory()
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Build the app if needed, then pass the request on."""
        await self.get()(scope, receive, send)


def create_app(
    settings: Settings | None = None, *, routers: tuple[str, ...] = ROUTERS, **overrides
) -> FastAPI:
    """The sarcube API.

    ``settings`` default to ``SARCUBE_*`` environment variables; keyword ``overrides``
    (``cube_url=...``) replace single settings. ``routers`` picks what to serve (a Lambda serves
    one).

    Every route, the STAC sub-app included, runs `cube.api.auth.authenticate`. InputError if
    the settings name no way to identify callers and do not allow anonymous reads either.
    """
    settings = settings or Settings(**overrides)
    if overrides and settings is not None:
        settings = settings.model_copy(update=overrides)
    auth = Authenticator(settings)
    if not auth.configured and not settings.allow_anonymous:
        raise InputError(
            "no authentication is configured: give API keys (--api-keys FILE, SARCUBE_API_KEYS_FILE), "
            "an OIDC issuer (--jwt-issuer URL --jwt-audience ID), auth_mode=gateway behind an API Gateway "
            "authorizer, or allow anonymous reads explicitly (--allow-anonymous, "
            "SARCUBE_ALLOW_ANONYMOUS=true)"
        )
    engine = make_engine(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        executor = getattr(app.state, "_executor", None)
        if executor is not None and hasattr(executor, "shutdown"):
            executor.shutdown()

    app = FastAPI(
        title="sarcube",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(authenticate)],
        description="Sentinel-1 analysis-ready data on request: each chunk is computed on first "
        "request, stored, and served from then on. Errors are `{code, detail}`.",
    )
    app.state.settings = settings
    app.state.auth = auth
    app.state.engine = engine
    app.state.product_stores = {}
    from cube.jobs import make_job_store

    app.state.jobs = make_job_store(settings.resolved_jobs_url())
    install_error_handlers(app)
    install_auth_errors(app)

    app.state._executor = None  # started by the first job (cube.api.jobs.executor_of)
    factory_kwargs: dict[str, dict[str, Any]] = {
        "viewer": {"basemap": settings.basemap, "basemap_attribution": settings.basemap_attribution}}
    if "zarr" in routers:  # its keys' GET and HEAD, ahead of the router that documents them
        from cube.api.zarr import ZarrKeys

        app.router.routes.append(ZarrKeys())
    lazy = [LazyRoutes(app, *_LAZY[name], **factory_kwargs.get(name, {}))
            for name in _LAZY if name in routers]
    app.router.routes.extend(lazy)
    if "stac" in routers:

        def materialized(product: str, burst_id: str, dates: tuple[str, ...]) -> bool:
            """Whether a product item's default variant is stored (VV, the items' polarization)."""
            return engine.materialized(ArdArray(burst_id, "VV", Variant.of(product), tuple(dates)))

        def stac_app() -> Any:
            from cube.api.stac import make_stac_app

            return make_stac_app(settings.cube_url, storage_options=settings.storage_options,
                                 materialized=materialized)

        app.state.stac = LazyApp(stac_app)
        app.mount("/stac", Guarded(app.state.stac, auth))
    openapi = app.openapi

    def openapi_of_every_router() -> dict[str, Any]:
        for route in lazy:
            route.load()
        return openapi()

    app.openapi = openapi_of_every_router  # type: ignore[method-assign]
    return app
