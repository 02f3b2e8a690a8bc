"""One store interface for local paths, ``s3://`` and any fsspec URL, with leases and state.

The leases let many writers share a store (SQLite locally, S3 conditional writes, DynamoDB);
the state backends (SQLite, the DynamoDB state table) are shared by leases and job records.

- `CubeStore`: the interface; `open_store` picks `LocalCubeStore`, `S3CubeStore` or
  `FsspecCubeStore` from the URL;
- leases: `single_flight`, `exclusive`, `make_lease_backend`, `store_lease_backend`;
- `storage_errors`: the store's unreachable errors (`unreachable_errors`) as StorageUnavailableError;
- state: `SQLiteDatabase`, `dynamodb_table_spec`, `boto3_client`, `aws_error_code`.
"""

from cube.storage._cube import list_burst_groups, open_slc, read_date_metadata, slc_complex
from cube.storage._leases import (
    LEASE_DB_NAME,
    DynamoDBLeaseBackend,
    FileLeaseBackend,
    HeldLease,
    Lease,
    LeaseBackend,
    LeaseLostError,
    S3LeaseBackend,
    exclusive,
    make_lease_backend,
    single_flight,
    store_lease_backend,
)
from cube.storage._state import (
    JOBS_INDEX,
    SQLiteDatabase,
    aws_error_code,
    boto3_client,
    dynamodb_table,
    dynamodb_table_spec,
    ensure_dynamodb_table,
    is_condition_failure,
)
from cube.storage._store import (
    CAS_LOCK,
    PARTIAL_SUFFIX,
    S3_CLIENT_DEFAULTS,
    CubeStore,
    FsspecCubeStore,
    LocalCubeStore,
    S3CubeStore,
    open_store,
    storage_errors,
    unreachable_errors,
    with_client_defaults,
)


def __getattr__(name: str) -> object:
    """``UNREACHABLE_ERRORS`` (`unreachable_errors()`), built on first use (botocore, aiohttp)."""
    if name == "UNREACHABLE_ERRORS":
        return unreachable_errors()
    raise AttributeError(f"module 'cube.storage' has no attribute {name!r}")


__all__ = [
    "CAS_LOCK",
    "JOBS_INDEX",
    "LEASE_DB_NAME",
    "PARTIAL_SUFFIX",
    "S3_CLIENT_DEFAULTS",
    "UNREACHABLE_ERRORS",
    "CubeStore",
    "DynamoDBLeaseBackend",
    "FileLeaseBackend",
    "FsspecCubeStore",
    "HeldLease",
    "Lease",
    "LeaseBackend",
    "LeaseLostError",
    "LocalCubeStore",
    "S3CubeStore",
    "S3LeaseBackend",
    "SQLiteDatabase",
    "aws_error_code",
    "boto3_client",
    "dynamodb_table",
    "dynamodb_table_spec",
    "ensure_dynamodb_table",
    "exclusive",
    "is_condition_failure",
    "list_burst_groups",
    "make_lease_backend",
    "open_slc",
    "open_store",
    "read_date_metadata",
    "single_flight",
    "slc_complex",
    "store_lease_backend",
    "storage_errors",
    "unreachable_errors",
    "with_client_defaults",
]
