"""Cube layout, format version and metadata models (no I/O)."""

from cube.format._dates import (
    DAY_US,
    MAX_PAIR_DAYS,
    new_pairs,
    pair_in_rule,
    rule_pair_indices,
    rule_pairs,
)
from cube.format._layout import (
    BURST_ID_PATTERN,
    FORMAT_VERSION,
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
    "DAY_US",
    "FORMAT_VERSION",
    "MAX_PAIR_DAYS",
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
    "date_key_time",
    "date_metadata_path",
    "grid_path",
    "new_pairs",
    "pair_in_rule",
    "rule_pair_indices",
    "rule_pairs",
]
