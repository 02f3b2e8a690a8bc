"""``/tiles``: map tiles of every ARD product (titiler.xarray), TileJSON and a WMTS document.

Routes, under a per-product prefix (titiler's scheme)::

    /tiles/{product}/{tileMatrixSetId}/{z}/{x}/{y}[.{format}]     a tile (png, jpeg, webp, tif, npy …)
    /tiles/{product}/{tileMatrixSetId}/tilejson.json              TileJSON 3.0
    /tiles/{product}/WMTSCapabilities.xml                         OGC WMTS 1.0 (RESTful)
    /tiles/{product}/tiles[/{tileMatrixSetId}]                    OGC API tilesets
    /tiles/{product}/info, /info.geojson, /point/{lon},{lat}      titiler's metadata and pixel value

Query parameters pick the layer: ``burst_id`` (one burst), or none and an optional ``bbox``
(a mosaic of every burst that covers the tile); ``datetime`` (instant, day or ``a/b``; the
latest matching date) or, for pair products, ``reference`` and ``secondary`` (default: the
latest two dates); ``pol`` (VV); ``view`` (what to show of the values, see :data:`VIEWS`); and
the product's own options (``window=7x7``, ``quantity=gamma0`` …). titiler's rendering
parameters (``rescale``, ``colormap_name``, ``colormap``, ``color_formula``, ``algorithm``,
``tilesize``, ``reproject``) work as in titiler; without them each view has its own defaults.

A tile reads its window through the lazy engine: chunks never computed are computed (and
kept) first. A tile that needs more missing chunks than ``max_chunks_per_request`` is answered
``202`` with a ``/jobs/{id}`` location, as every other endpoint; so is a tile of a product made
by jobs (unwrapped, displacement, velocity) with a chunk absent, or of a velocity made before the
burst's latest date (stale). A tile outside the data is a
``404 {code: "tile_outside_bounds"}``, as titiler answers it.

The package, in titiler's order (readers → dependencies → factory)::

    tms.py           the tile matrix sets served, check_tile
    views.py         View / VIEWS (what a tile shows of a product), Layer (one burst's 2-D layer)
    footprints.py    the bursts' lon/lat footprints
    cache.py         TileCache: lazy xarray views of the layers, per app
    source.py        TileSource (titiler's src_path): the layer or the mosaic a request names
    readers.py       BurstReader, MosaicReader; where a tile's pixels fall in a product grid
    dependencies.py  tile_source (the path dependency), dataset parameters, post-processing
    render.py        render_tile: titiler's render_image with a fast 8-bit PNG path
    wmts.py          WmtsExtension: /WMTSCapabilities.xml
    factory.py       ArdTilerFactory, TileRoute, make_tiles_router

The pixels themselves are gathered through the engine by ``cube.materialize.read_pixels`` /
``read_strided``.
"""

from cube.api.tiles.cache import TileCache
from cube.api.tiles.dependencies import tile_source
from cube.api.tiles.factory import ArdTilerFactory, TileRoute, make_tiles_router
from cube.api.tiles.readers import BurstReader, MosaicReader, burst_reader, open_reader
from cube.api.tiles.render import render_tile
from cube.api.tiles.source import TileSource
from cube.api.tiles.views import VIEWS, Layer, View, view_of

__all__ = [
    "VIEWS",
    "ArdTilerFactory",
    "BurstReader",
    "Layer",
    "MosaicReader",
    "TileCache",
    "TileRoute",
    "TileSource",
    "View",
    "burst_reader",
    "make_tiles_router",
    "open_reader",
    "render_tile",
    "tile_source",
    "view_of",
]
