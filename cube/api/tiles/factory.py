"""The ``/tiles`` router.

The titiler.xarray TilerFactory over the ARD products (:class:`ArdTilerFactory`), its route class
(rio-tiler errors as ``{code, detail}``) and :func:`make_tiles_router`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Literal

import numpy as np
import rasterio
from attrs import define
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from morecantile.defaults import TileMatrixSets
from pydantic import Field
from rio_tiler.colormap import cmap as colormaps
from rio_tiler.errors import EmptyMosaicError, PointOutsideBounds, RioTilerError, TileOutsideBounds
from rio_tiler.io import BaseReader
from starlette.responses import Response
from titiler.core.algorithm import BaseAlgorithm
from titiler.core.dependencies import DefaultDependency
from titiler.core.factory import img_endpoint_params
from titiler.core.resources.enums import ImageType
from titiler.xarray.factory import TilerFactory

from cube.api._common import error
from cube.api._plan import count_missing, job_if_too_many, job_reason, start_job
from cube.api.tiles.dependencies import ArdDatasetParams, post_process, tile_source
from cube.api.tiles.readers import BurstReader, MosaicReader, open_reader
from cube.api.tiles.render import DATA_FORMATS, render_tile
from cube.api.tiles.source import TileSource
from cube.api.tiles.tms import MAX_TILESIZE, MAX_ZOOM, SUPPORTED_TMS, TMS_BY_ID, TMS_IDS, TMS_URI, check_tile
from cube.api.tiles.wmts import WmtsExtension
from cube.products import Selection


def zoom_override_error(request: Request) -> Response | None:
    """422 when ``minzoom``/``maxzoom`` lie outside the matrix set's zooms.

    Titiler's tileset, TileJSON and map routes take them unbounded, and loop over every zoom
    between them.
    """
    tms = TMS_BY_ID.get(request.path_params.get("tileMatrixSetId", "WebMercatorQuad"))
    top = tms.maxzoom if tms is not None else MAX_ZOOM
    for name in ("minzoom", "maxzoom"):
        text = request.query_params.get(name)
        try:
            value = int(text) if text is not None else None
        except ValueError:
            continue  # not a number: the route's own validation answers 422
        if value is not None and not 0 <= value <= top:
            detail = f"query.{name}: {value} is not a zoom of the matrix set (0 to {top})"
            return error(422, "invalid_request", detail)
    return None


#: Modules whose synchronous dependencies only parse the query: run inline, not in a thread.
_PARSERS = ("titiler.", "rio_tiler.", "cube.api.tiles.dependencies")
_INLINE: dict[Callable[..., Any], Callable[..., Any]] = {}


def _inline(call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` as a coroutine function, which FastAPI awaits on the event loop.

    One wrapper per callable, so FastAPI's per-request cache of dependencies still shares one value.
    """
    if call not in _INLINE:

        async def run(*args: Any, **kwargs: Any) -> Any:
            return call(*args, **kwargs)

        run.__name__ = run.__qualname__ = getattr(call, "__name__", "dependency")
        _INLINE[call] = run
    return _INLINE[call]


def inline_parsers(dependant: Dependant) -> int:
    """Make the query-parsing dependencies of a route run on the event loop; how many were changed.

    FastAPI runs each synchronous dependency in the thread pool: titiler's tile route has ~35 of
    them, each a thread hop (about 0.2 ms idle, ms on a busy machine) to parse a parameter.
    Functions and classes of :data:`_PARSERS` are wrapped; the ones that read the cube
    (:func:`tile_source`), authentication and the endpoint stay in the thread pool.
    """
    changed = 0
    for sub in dependant.dependencies:
        changed += inline_parsers(sub)
        call = sub.call
        if call is None or call is tile_source or call in _INLINE.values():
            continue
        plain = inspect.isclass(call) or (
            inspect.isfunction(call)
            and not (inspect.iscoroutinefunction(call) or inspect.isgeneratorfunction(call)
                     or inspect.isasyncgenfunction(call))
        )
        if plain and getattr(call, "__module__", "").startswith(_PARSERS):
            sub.call = _inline(call)
            changed += 1
    return changed


class TileRoute(APIRoute):
    """Routes that answer rio-tiler's errors as ``{code, detail}``.

    Outside the data → 404 (as titiler), other rio-tiler input errors → 400; zoom overrides outside
    the matrix set → 422. Query-parsing dependencies run on the event loop (:func:`inline_parsers`).
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        inline_parsers(self.dependant)

    def get_route_handler(self):
        """The route's handler, answering rio-tiler's errors as ``{code, detail}``."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            bad = zoom_override_error(request)
            if bad is not None:
                return bad
            try:
                return await handler(request)
            except (TileOutsideBounds, EmptyMosaicError) as exc:
                return error(404, "tile_outside_bounds", f"{exc}; the TileJSON gives the bounds and zooms")
            except PointOutsideBounds as exc:
                return error(404, "point_outside_bounds", str(exc))
            except RioTilerError as exc:
                return error(400, "bad_request", f"{type(exc).__name__}: {exc}")

        return route


_NAME_PREFIX = "sarcube_tiles_"


@define(kw_only=True)
class ArdTilerFactory(TilerFactory):
    """titiler.xarray's TilerFactory over the ARD products.

    The product is a path parameter of the router's prefix (``/{product}``); the reader is
    :func:`open_reader` and the path dependency :func:`tile_source`. Tiles sit at
    ``/{tileMatrixSetId}/{z}/{x}/{y}.{format}`` (no ``/tiles`` segment: the router is mounted
    at ``/tiles``), apply the view's defaults, and may compute chunks (or start a job).
    """

    reader: Callable[..., BaseReader] = open_reader  # type: ignore[assignment]
    path_dependency: Callable[..., Any] = tile_source
    reader_dependency: type[DefaultDependency] = DefaultDependency
    dataset_dependency: type[DefaultDependency] = ArdDatasetParams
    process_dependency: Callable[..., BaseAlgorithm | None] = post_process
    supported_tms: TileMatrixSets = SUPPORTED_TMS
    add_viewer: bool = False
    add_part: bool = False
    add_preview: bool = False

    def register_routes(self):
        """Titiler's routes, renamed to be unique in the app."""
        super().register_routes()
        for route in self.router.routes:  # unique names in the app (its /point is "point")
            route.name = _NAME_PREFIX + route.name

    def url_for(self, request: Request, name: str, **path_params: Any) -> str:
        """Absolute URL of one of this factory's routes, for the request's product."""
        params = {"product": request.path_params["product"], **path_params}
        return str(request.url_for(_NAME_PREFIX + name, **params))

    def statistics(self):
        """No /statistics here: /zonal serves statistics over parcels."""

    def tile(self):  # noqa: C901
        """Register ``/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]``."""

        @self.router.get(
            "/{tileMatrixSetId}/{z}/{x}/{y}",
            operation_id=f"{self.operation_prefix}getTile",
            **img_endpoint_params,
        )
        @self.router.get(
            "/{tileMatrixSetId}/{z}/{x}/{y}.{format}",
            operation_id=f"{self.operation_prefix}getTileWithFormat",
            **img_endpoint_params,
        )
        def tile(
            request: Request,
            z: Annotated[int, Path(ge=0, le=MAX_ZOOM, description="zoom (TileMatrix)")],
            x: Annotated[int, Path(ge=0, lt=2 ** (MAX_ZOOM + 1), description="column (TileCol)")],
            y: Annotated[int, Path(ge=0, lt=2 ** (MAX_ZOOM + 1), description="row (TileRow)")],
            tileMatrixSetId: Annotated[Literal[TMS_IDS], Path(description="tile matrix set")],
            src=Depends(self.path_dependency),  # noqa: B008
            layer_params=Depends(self.layer_dependency),  # noqa: B008
            dataset_params=Depends(self.dataset_dependency),  # noqa: B008
            post_process=Depends(self.process_dependency),  # noqa: B008
            colormap=Depends(self.colormap_dependency),  # noqa: B008
            render_params=Depends(self.render_dependency),  # noqa: B008
            env=Depends(self.environment_dependency),  # noqa: B008
            format: Annotated[
                ImageType | None, Field(description="png (default when masked), jpeg, webp, tif, npy")
            ] = None,
            tilesize: Annotated[
                int | None, Query(gt=0, le=MAX_TILESIZE, description="pixels (default 256)")
            ] = None,
        ) -> Response:
            """A map tile of the layer.

            The view's values, rescaled and coloured (view defaults unless
            ``rescale``/``colormap_name``/``colormap`` are given). Chunks never computed are
            computed first; ``X-Sarcube-Chunks-Computed`` counts them. 202 and a job instead
            (:func:`tile_job`) for a product made by jobs that is missing or stale, or for too
            many chunks.
            """
            tms = TMS_BY_ID[tileMatrixSetId]
            check_tile(tms, x, y, z)
            with rasterio.Env(**env):
                with self.reader(src, tms=tms) as dst:
                    plans = dst.plans(x, y, z, tilesize)
                    started = tile_job(request, src, plans)
                    if started is not None:
                        return started
                    image = dst.tile(
                        x, y, z, tilesize=tilesize, **layer_params.as_dict(), **dataset_params.as_dict()
                    )
            if post_process:
                image = post_process(image)
            render = render_params.as_dict()
            if format not in DATA_FORMATS:  # images get the view's look; npy/tif keep the values
                if not render.get("rescale"):
                    render["rescale"] = [src.view.rescale]
                if colormap is None and not render.get("color_formula"):
                    colormap = colormaps.get(src.view.colormap)
            content, media_type = self.render_func(image, output_format=format, colormap=colormap, **render)
            headers = {
                "Content-Bbox": ",".join(map(str, image.bounds)),
                "X-Sarcube-Chunks-Computed": str(src.tally.chunks_computed),
                "Cache-Control": "public, max-age=60",
            }
            headers["Content-Crs"] = TMS_URI[tileMatrixSetId]
            return Response(content, media_type=media_type, headers=headers)


def tile_job(request: Request, src: TileSource, plans: list[tuple[Selection, int]]) -> Response | None:
    """202 + ``Location: /jobs/{id}`` when a tile needs a job; None when it can be drawn now.

    A product made by jobs (unwrapped, displacement, velocity; the ISCE2 CSLC) needs one when a
    chunk under the tile is absent, or stale (a velocity made before the burst's latest date:
    ``follows_selection``): the job makes the whole burst, so its selection is the whole grid and
    every tile of the layer names the same job (a mosaic's job: the bursts that need one). Other
    products need one for more missing chunks than ``max_chunks_per_request``.
    """
    selections = [p for p, _ in plans]
    if any(s.variant.options.made_by_job for s in selections):
        engine = src.engine
        needed = [s for s in selections if count_missing(engine, [s], 0)]  # stops at the first absent chunk
        if not needed:
            return None
        whole = [replace(s, window=engine.product_grid(s.burst_id, s.polarization, s.variant).window_of(None))
                 for s in needed]
        return start_job(request, whole, reason=job_reason(whole))
    if sum(n for _, n in plans) > src.max_chunks:
        return job_if_too_many(request, selections)
    return None


def make_tiles_router() -> APIRouter:
    """The ``/tiles`` router (mount it at ``/tiles``).

    One titiler.xarray factory whose prefix ``/{product}`` names the product, plus the WMTS
    document.
    """
    router = APIRouter(prefix="/{product}", route_class=TileRoute, tags=["tiles"])
    factory = ArdTilerFactory(
        router=router,
        name="tiles",
        extensions=[WmtsExtension()],
        get_renders=_renders,
        render_func=render_tile,
    )
    return factory.router


LEGEND_STOPS = 17
"""Colour stops of a colormap in the TileJSON (evenly spaced over its 256 entries)."""


def _renders(reader: BaseReader) -> dict[str, dict[str, Any]]:
    """TileJSON ``raster_layers``: the view's default rendering, as titiler's render sets.

    Besides titiler's ``rescale`` and ``colormap_name``: ``units``, ``title`` (what the values
    are), ``colormap_stops`` (RGB of the colormap at ``LEGEND_STOPS`` even steps, for a legend
    of any colormap) and ``db_factor`` (set when the tiles show ``db_factor``·log10 of the
    linear values ``/point`` gives).
    """
    if isinstance(reader, MosaicReader):
        view, options = reader.input.view, reader.input.variant.options
    elif isinstance(reader, BurstReader):
        view, options = reader.layer.view, reader.layer.variant.options
    else:
        raise TypeError(f"not a sarcube tile reader: {type(reader).__name__}")
    table = colormaps.get(view.colormap)  # 256 entries: index → (r, g, b, a)
    picks = [table[round(i * 255 / (LEGEND_STOPS - 1))] for i in range(LEGEND_STOPS)]
    stops = np.asarray(picks, dtype=int)[:, :3].tolist()
    linear = view.db_factor is not None and not getattr(options, "db", False)
    return {
        "default": {
            "view": view.name,
            "units": view.units,
            "title": view.description,
            "rescale": [list(view.rescale)],
            "colormap_name": view.colormap,
            "colormap_stops": stops,
            "db_factor": view.db_factor if linear else None,
        }
    }
