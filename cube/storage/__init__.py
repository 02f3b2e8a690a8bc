"""One store abstraction for local paths and ``s3://`` (and any fsspec URL)."""

from cube.storage._cube import list_burst_groups, open_slc, read_date_metadata, slc_complex
from cube.storage._store import CubeStore, open_store, storage_errors

__all__ = [
    "CubeStore",
    "list_burst_groups",
    "open_slc",
    "open_store",
    "read_date_metadata",
    "slc_complex",
    "storage_errors",
]
