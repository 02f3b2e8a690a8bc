"""The app factory: every router over one cube, its ARD store, job records and executor."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from cube import __version__
from cube.api._common import install_error_handlers
from cube.api.auth import Authenticator, Guarded, authenticate, install_auth_errors
from cube.config import Settings, make_engine
from cube.errors import InputError
from cube.jobs import make_job_store
from cube.products import ArdArray, Variant

ROUTERS = ("stac", "zarr", "ard", "analysis", "jobs", "tiles", "viewer")


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
    app.state.jobs = make_job_store(settings.resolved_jobs_url())
    install_error_handlers(app)
    install_auth_errors(app)

    app.state._executor = None  # started by the first job (cube.api.jobs.executor_of)
    from cube.api import ard, jobs, point, zarr

    for name, module in (("zarr", zarr), ("ard", ard), ("analysis", point), ("jobs", jobs)):
        if name in routers:
            app.include_router(module.router)
    if "tiles" in routers:
        from cube.api.tiles import make_tiles_router

        app.include_router(make_tiles_router(), prefix="/tiles")
    if "viewer" in routers:
        from cube.api.viewer import make_viewer_router

        app.include_router(make_viewer_router(basemap=settings.basemap,
                                              basemap_attribution=settings.basemap_attribution))
    if "stac" in routers:
        from cube.api.stac import make_stac_app

        def materialized(product: str, burst_id: str, dates: tuple[str, ...]) -> bool:
            """Whether a product item's default variant is stored (VV, the items' polarization)."""
            return engine.materialized(ArdArray(burst_id, "VV", Variant.of(product), tuple(dates)))

        stac_app = make_stac_app(settings.cube_url, storage_options=settings.storage_options,
                                 materialized=materialized)
        app.mount("/stac", Guarded(stac_app, auth))
    return app
