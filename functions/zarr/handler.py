"""ZarrFunction (container image): each burst's products as zarr v3 stores at ``/zarr``.

Reading a chunk that was never computed computes it (the lazy engine), stores it, serves it.
"""

from __future__ import annotations

from functions.lambda_glue import image_function

ROUTERS = ("zarr",)

app, handler = image_function(ROUTERS)
