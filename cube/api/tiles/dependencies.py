"""The titiler dependencies of the tiles.

The path dependency (:func:`tile_source`), the dataset parameters and the post-processing algorithm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import ValidationError
from titiler.core.algorithm import BaseAlgorithm, algorithms
from titiler.xarray.dependencies import DatasetParams

from cube.api._common import POL_PATTERN, option_params, variant_from
from cube.api._plan import parse_bbox
from cube.api.tiles.cache import TileCache
from cube.api.tiles.source import TileSource
from cube.api.tiles.views import view_of
from cube.errors import InputError, NotFoundError
from cube.products import get_product


def tile_source(
    request: Request,
    product: Annotated[
        str, Path(description="ARD product: cslc, backscatter, amplitude, interferogram, coherence")
    ],
    burst_id: Annotated[
        str | None, Query(description="one burst (default: a mosaic of every burst covering the tile)")
    ] = None,
    bbox: Annotated[
        str | None, Query(description="mosaic: only bursts meeting west,south,east,north (deg)")
    ] = None,
    datetime: Annotated[
        str | None, Query(description="date: instant, day or a/b; the latest match (default: the latest); "
                          "none for per-burst products (velocity)")
    ] = None,
    reference: Annotated[str | None, Query(description="pair products: reference date")] = None,
    secondary: Annotated[str | None, Query(description="pair products: secondary date")] = None,
    pol: Annotated[str, Query(pattern=POL_PATTERN, description="polarization")] = "VV",
    view: Annotated[
        str | None, Query(description="what to show of the values (per product; see docs)")
    ] = None,
) -> TileSource:
    """Titiler's path dependency.

    The layer (or mosaic) a request names, checked up front so an unknown product, burst or date is
    a 404 and a wrong mix of parameters a 400.
    """
    get_product(product)  # NotFoundError for an unknown product
    variant = variant_from(product, option_params(product, dict(request.query_params)))
    shown = view_of(product, view)
    if shown.variable is not None:  # a companion variable: velocity_std, components…
        variant = variant.at(shown.variable)
    state = request.app.state
    source = TileSource(
        engine=state.engine,
        cache=cache_of(request),
        product=product,
        variant=variant,
        view=shown,
        polarization=pol.upper(),
        max_chunks=state.settings.max_chunks_per_request,
        bbox=parse_bbox(bbox),
        datetime=datetime,
        reference=reference,
        secondary=secondary,
    )
    if source.bbox is not None:
        w, s, e, n = source.bbox
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise InputError(f"bbox {bbox!r} is not west,south,east,north in degrees with west < east")
    if burst_id:
        if bbox:
            raise InputError("give burst_id= (one burst) or bbox= (a mosaic), not both")
        source.layer = source.layer_of(burst_id)
    elif not source.candidates():
        where = f"bbox {bbox}" if bbox else "the cube"
        raise NotFoundError(f"no burst in {where}; search /stac for the bursts and their burst IDs")
    return source


def cache_of(request: Request) -> TileCache:
    """The app's :class:`TileCache` (a new one when the app's engine changed)."""
    state = request.app.state
    cache = getattr(state, "tile_cache", None)
    if cache is None or cache.engine is not state.engine:
        cache = state.tile_cache = TileCache(state.engine)
    return cache


@dataclass
class ArdDatasetParams(DatasetParams):
    """titiler.xarray's dataset parameters with ``nodata`` checked by the schema.

    A number, ``nan``, ``inf`` or ``-inf`` (titiler's takes any text and fails on ``float('abc')``).
    """

    nodata: Annotated[
        Literal["nan", "inf", "-inf"] | float | None,
        Query(title="Nodata value", description="Overwrite the nodata value: a number, nan, inf or -inf"),
    ] = None


_ALGORITHMS = tuple(algorithms.data)


def post_process(
    algorithm: Annotated[
        Literal[_ALGORITHMS] | None, Query(description="post-processing algorithm name")  # type: ignore[valid-type]
    ] = None,
    algorithm_params: Annotated[
        str | None, Query(description='the algorithm\'s parameters, a JSON object: {"name": value}')
    ] = None,
) -> BaseAlgorithm | None:
    """Titiler's post-processing dependency, with a 400 for parameters that are not a JSON object.

    Titiler's own fails on ``null`` or ``[1]`` (``Algorithm(**None)``).
    """
    kwargs: Any = {}
    if algorithm_params:
        try:
            kwargs = json.loads(algorithm_params)
        except ValueError:
            text = algorithm_params[:80]
            raise InputError(f"algorithm_params {text!r} is not JSON: give an object") from None
        if not isinstance(kwargs, dict):
            kind = {"NoneType": "null", "list": "an array"}.get(type(kwargs).__name__, "a scalar")
            raise InputError(f"algorithm_params must be a JSON object, not {kind}")
    if algorithm is None:
        return None
    try:
        return algorithms.get(algorithm)(**kwargs)
    except ValidationError as exc:
        raise InputError(f"algorithm {algorithm}: {' '.join(str(exc).split())}") from None
