"""One store abstraction for local paths and ``s3://`` (and any fsspec URL), and the leases
that let many writers share it (SQLite locally, S3 conditional writes, DynamoDB)."""

from cube.storage._cube import list_burst_groups, open_slc, read_date_metadata, slc_complex
from cube.storage._leases import (
    HeldLease,
    Lease,
    LeaseBackend,
    LeaseLostError,
    exclusive,
    make_lease_backend,
    single_flight,
    store_lease_backend,
)
from cube.storage._store import CubeStore, open_store, storage_errors

__all__ = [
    "CubeStore",
    "HeldLease",
    "Lease",
    "LeaseBackend",
    "LeaseLostError",
    "exclusive",
    "list_burst_groups",
    "make_lease_backend",
    "open_slc",
    "open_store",
    "read_date_metadata",
    "single_flight",
    "slc_complex",
    "store_lease_backend",
    "storage_errors",
]
