"""Where things live inside a cube (see docs/cube-format.md). Paths are relative to the cube root."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT_VERSION = "1.1"  # 1.1: crc32c on every chunk of new burst groups and of ARD chunks
#: ESA burst IDs: relative orbit, burst number, subswath (``t071_151200_iw3``).
BURST_ID_PATTERN = r"^t\d{3}_\d{6}_iw[123]$"
CUBE_DOC = "cube.json"
SLC_STORE = "slc.zarr"
METADATA_DIR = "metadata"
CATALOG_DIR = "catalog"


def burst_group_path(burst_id: str, polarization: str) -> str:
    """Zarr group of one burst ID and polarization, relative to the SLC store."""
    return f"{burst_id}/{polarization.lower()}"


def date_key_time(date_key: str) -> datetime:
    """The UTC sensing start of a date key ``YYYYmmddTHHMMSS[.ffffff]`` (``BurstMetadata.date_key``)."""
    fmt = "%Y%m%dT%H%M%S.%f" if "." in date_key else "%Y%m%dT%H%M%S"
    return datetime.strptime(date_key, fmt).replace(tzinfo=UTC)


def date_metadata_path(burst_id: str, polarization: str, date_key: str) -> str:
    """JSON document with the full metadata of one burst date."""
    return f"{METADATA_DIR}/{burst_id}/{polarization.lower()}/{date_key}.json"


def catalog_item_path(burst_id: str, date_key: str) -> str:
    """STAC item of one burst date (all its polarizations)."""
    return f"{CATALOG_DIR}/{burst_id}/{date_key}.json"


GRID_DIR = "grids"


def grid_path(burst_id: str) -> str:
    """The fixed UTM grid of a burst ID (``BurstGrid`` JSON), written once, never changed."""
    return f"{GRID_DIR}/{burst_id}.json"
