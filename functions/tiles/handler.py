"""TilesFunction (container image): XYZ tiles, TileJSON and WMTS of every product at ``/tiles``.

A tile over chunks that were never computed computes them through the lazy engine.
"""

from __future__ import annotations

from functions.lambda_glue import image_function

ROUTERS = ("tiles",)

app, handler = image_function(ROUTERS)
