"""FastAPI routers of sarcube (stac, tiles, point, zarr, ard, jobs, viewer) and the app factory."""
