"""Read Sentinel-1 SLC products and write them into the SLC cube."""

from cube.ingest._burst_id import make_burst_id, relative_orbit
from cube.ingest._ingest import BurstDate, IngestReport, ingest
from cube.ingest._orbit import read_orbit_file
from cube.ingest._safe import SafeProduct, open_safe, read_tiff_lines

__all__ = [
    "BurstDate",
    "IngestReport",
    "ingest",
    "SafeProduct",
    "make_burst_id",
    "open_safe",
    "read_orbit_file",
    "read_tiff_lines",
    "relative_orbit",
]
