"""The lazy engine: ARD chunks computed on first request, kept in an ARD store, served after.

- :class:`ArdEngine`: chunk bytes/arrays/windows of any product variant, single-flight compute;
- :class:`Variant`: (product, options) → key ``<product>/v<version>-<digest>`` and chunk shape;
- :class:`ProductStore`: a read-only zarr v3 store presenting one burst's product as
  (time, y, x) or (reference_time, secondary_time, y, x), for ``xr.open_zarr`` and ``/zarr``;
- leases (`single_flight`, file/S3/DynamoDB backends), re-exported from `cube.storage`.
"""

from cube.materialize._ard import ARD_STORE, CSLC_CHUNK, Variant, array_path, chunk_path, decode_block
from cube.materialize._engine import CSLC, LEASE_DIR, ArdEngine, ChunkState, Tally, default_lease_backend
from cube.materialize._product_store import ProductStore, open_product
from cube.storage import (
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
    "LEASE_DIR",
    "ArdEngine",
    "ChunkState",
    "HeldLease",
    "Lease",
    "LeaseBackend",
    "LeaseLostError",
    "ProductStore",
    "Tally",
    "Variant",
    "array_path",
    "chunk_path",
    "decode_block",
    "default_lease_backend",
    "exclusive",
    "make_lease_backend",
    "open_product",
    "single_flight",
    "store_lease_backend",
]
