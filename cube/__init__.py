"""sarcube: on-demand Sentinel-1 analysis-ready data from zarr burst cubes."""
__version__ = "0.1.0"
