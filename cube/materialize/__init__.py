"""The lazy engine: ARD chunks computed on first request, kept in an ARD store, served after.

- :class:`ArdEngine`: chunk bytes/arrays/windows of any product variant, single-flight compute;
- :class:`Variant`: (product, options) → key ``<product>/v<version>-<digest>`` and chunk shape;
- :func:`read_pixels`, :func:`read_strided`: a product's values at scattered pixels or on a
  strided window, gathered chunk by chunk (map tiles, ``/point``);
- :class:`ProductStore`: a read-only zarr v3 store presenting one burst's product as
  (time, y, x) or (reference_time, secondary_time, y, x), for ``xr.open_zarr`` and ``/zarr``;
- leases (`single_flight`, file/S3/DynamoDB backends) and job records (SQLite/DynamoDB).
"""

from cube.materialize._ard import ARD_STORE, CSLC_CHUNK, Variant, array_path, chunk_path
from cube.materialize._engine import CSLC, ArdEngine, ChunkState, Tally, default_lease_backend
from cube.materialize._jobs_store import (
    BurstMetrics,
    JobRecord,
    JobState,
    JobStore,
    Progress,
    job_id_of,
    make_job_record,
    make_job_store,
    request_allowlist,
)
from cube.materialize._pixels import read_pixels, read_strided
from cube.materialize._product_store import ProductStore, open_product
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

__all__ = [
    "ARD_STORE",
    "CSLC",
    "CSLC_CHUNK",
    "ArdEngine",
    "BurstMetrics",
    "ChunkState",
    "JobRecord",
    "JobState",
    "JobStore",
    "HeldLease",
    "Lease",
    "LeaseBackend",
    "LeaseLostError",
    "ProductStore",
    "Progress",
    "Tally",
    "Variant",
    "array_path",
    "chunk_path",
    "default_lease_backend",
    "exclusive",
    "job_id_of",
    "make_job_record",
    "make_job_store",
    "make_lease_backend",
    "open_product",
    "read_pixels",
    "read_strided",
    "request_allowlist",
    "single_flight",
    "store_lease_backend",
]
