"""Cube layout, format version and metadata models (no I/O)."""

from cube.format._dates import date_by_prefix, iso, layer_dates, match_dates, parse_instant, pick_date
from cube.format._layout import (
    BURST_ID_PATTERN,
    FORMAT_VERSION,
    GRID_DIR,
    burst_group_path,
    catalog_item_path,
    date_key_time,
    date_metadata_path,
    grid_path,
)
from cube.format._models import (
    SPEED_OF_LIGHT,
    BurstMetadata,
    CalibrationVector,
    GeolocationPoint,
    NoiseAzimuthVector,
    NoiseRangeVector,
    Orbit,
    Polynomial,
    StateVector,
)

__all__ = [
    "BURST_ID_PATTERN",
    "FORMAT_VERSION",
    "GRID_DIR",
    "SPEED_OF_LIGHT",
    "BurstMetadata",
    "CalibrationVector",
    "GeolocationPoint",
    "NoiseAzimuthVector",
    "NoiseRangeVector",
    "Orbit",
    "Polynomial",
    "StateVector",
    "burst_group_path",
    "catalog_item_path",
    "date_by_prefix",
    "date_key_time",
    "date_metadata_path",
    "grid_path",
    "iso",
    "layer_dates",
    "match_dates",
    "parse_instant",
    "pick_date",
]
