"""One burst's product as a read-only zarr v3 store whose chunks are computed on first read.

Layout of the store (what ``xr.open_zarr`` sees)::

    zarr.json                       group, with consolidated metadata of every array
    <variable>/zarr.json            (time, y, x), (reference_time, secondary_time, y, x), or
                                    (y, x) for a per-burst product; one per variable of the
                                    product (its own, named like it, then its companions)
    <variable>/c/<t>/<i>/<j>        chunk (1, cy, cx): the ARD store's bytes, computed if absent
                                    (``c/<i>/<j>``, (cy, cx), for a per-burst product)
    x, y                            pixel-centre map coordinates, m
    time | reference_time, secondary_time   int64 µs since 1970-01-01 (CF), every date of the burst
    spatial_ref                     CF grid mapping (scalar)

Every pair of dates is addressable (the whole matrix); only the chunks that are read are ever
computed. The same store backs ``GET /zarr/...`` and the in-process readers (/ard, /point,
/zonal, tiles).

`ProductStore` itself needs neither zarr-python nor xarray: ``GET /zarr`` serves its keys'
bytes (metadata documents, stored chunks as stored). `ProductStore.as_zarr` wraps it in a
zarr-python store (``_zarr_store``) for ``xr.open_zarr`` (`open_product`).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from cube.format import date_key_time, iso
from cube.geometry import ProductGrid
from cube.materialize._ard import array_metadata
from cube.materialize._engine import ArdEngine, Tally
from cube.products import X_ATTRS, Y_ATTRS, ArdArray, Variant, provenance, time_attrs, variable_attrs

if TYPE_CHECKING:
    import numpy as np
    import xarray as xr
    from zarr.abc.store import Store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CHUNK_KEY = re.compile(r"^c(?:/\d+)+$")


def _micros(date_key: str) -> int:
    delta = date_key_time(date_key) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _coord_meta(n: int, dtype: str, dim: str, attrs: dict) -> dict:
    return {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [n],
        "data_type": dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [max(n, 1)]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "attributes": attrs,
        "dimension_names": [dim],
        "storage_transformers": [],
    }


class ProductStore:
    """Read-only zarr v3 view of one burst × polarization × product variant.

    ``fetch(key)`` gives a key's bytes (used by the HTTP router); `as_zarr` a zarr-python store
    over it.
    """

    def __init__(self, engine: ArdEngine, burst_id: str, polarization: str, variant: Variant):
        self.engine = engine
        self.burst_id = burst_id
        self.polarization = polarization.upper()
        self.variant = variant
        self.stack = engine.stack(burst_id, polarization)  # NotFoundError for an unknown burst

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ProductStore)
            and other.engine is self.engine
            and (other.burst_id, other.polarization, other.variant)
            == (self.burst_id, self.polarization, self.variant)
        )

    def __repr__(self) -> str:
        return f"ProductStore({self.burst_id} {self.polarization} {self.variant.key})"

    # -- layout -----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.variant.product

    @property
    def dates(self) -> list[str]:
        """Date keys along the time axis (sorted), re-read as the engine refreshes the burst."""
        return sorted(self.engine.stack(self.burst_id, self.polarization).dates)

    @property
    def time_dims(self) -> list[str]:
        """The dims before (y, x): two for pairs, one per date, none for a per-burst product."""
        return {2: ["reference_time", "secondary_time"], 1: ["time"], 0: []}[self.variant.spec.dates]

    @cached_property
    def variables(self) -> dict[str, Variant]:
        """The variant of each variable of the store, by its node name."""
        return {v.var.name: v for v in self.variant.variables}

    @property
    def grid(self) -> ProductGrid:
        """The variant's map grid."""
        return ProductGrid(self.stack.grid, self.variant.looks)

    def _coords(self) -> dict[str, np.ndarray]:
        """The coordinate arrays by name (the only numpy of the store: keys' bytes and metadata need none)."""
        import numpy as np

        times = np.array([_micros(d) for d in self.dates], "<i8")
        x, y = self.grid.xy()
        coords = {"x": x.astype("<f8"), "y": y.astype("<f8")}
        for dim in self.time_dims:
            coords[dim] = times
        return coords

    def metadata(self) -> dict[str, dict]:
        """zarr.json documents by node path ('' = the root group)."""
        v = self.variant
        rows, cols = self.grid.shape
        nt = len(self.dates)
        about = provenance(self.burst_id, self.polarization, v)
        docs: dict[str, dict] = {
            name: json.loads(
                array_metadata(
                    var,
                    (nt,) * len(self.time_dims) + (rows, cols),
                    (1,) * len(self.time_dims) + v.chunks,
                    [*self.time_dims, "y", "x"],
                    {**about, **variable_attrs(var), "coordinates": "spatial_ref"},
                )
            )
            for name, var in self.variables.items()
        }
        docs.update({
            "x": _coord_meta(cols, "float64", "x", X_ATTRS),
            "y": _coord_meta(rows, "float64", "y", Y_ATTRS),
            "spatial_ref": {
                "zarr_format": 3,
                "node_type": "array",
                "shape": [],
                "data_type": "int64",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": []}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": 0,
                "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
                "attributes": self.grid.cf_attrs(),
                "dimension_names": [],
                "storage_transformers": [],
            },
        })
        for dim in self.time_dims:
            docs[dim] = _coord_meta(
                nt,
                "int64",
                dim,
                {
                    "units": "microseconds since 1970-01-01T00:00:00",
                    "calendar": "proleptic_gregorian",
                    **time_attrs(dim),
                },
            )
        root = {
            "zarr_format": 3,
            "node_type": "group",
            "attributes": {**about, **self._coverage(), "Conventions": "CF-1.8"},
            "consolidated_metadata": {"kind": "inline", "must_understand": False, "metadata": docs},
        }
        return {"": root, **docs}

    def _coverage(self) -> dict[str, str]:
        """A per-burst product's dates (it has no time axis): first and last, ACDD names."""
        dates = self.dates
        if not self.variant.spec.dateless or not dates:
            return {}
        return {"time_coverage_start": iso(dates[0]), "time_coverage_end": iso(dates[-1]),
                "dates": ",".join(dates)}

    # -- reads ------------------------------------------------------------------------------------
    def fetch(self, key: str, tally: Tally | None = None) -> bytes | None:
        """The bytes of ``key``, or None if it is not in the store.

        Product chunks are computed if absent; NotFoundError/InputError for chunk keys outside the
        grid or date list.
        """
        if key == "zarr.json" or key.endswith("/zarr.json"):
            node = key[: -len("zarr.json")].rstrip("/")
            doc = self.metadata().get(node)
            return None if doc is None else json.dumps(doc, indent=1).encode()
        node, _, rest = key.partition("/")
        if not _CHUNK_KEY.match(rest):
            return None
        if node in self.variables:
            chunk = self.chunk_of(key)
            if chunk is None:
                return None
            ref, i, j = chunk
            return self.engine.chunk_bytes(ref, i, j, tally)
        index = [int(p) for p in rest.split("/")[1:]]
        coords = self._coords()
        if node in coords and index == [0]:
            return coords[node].tobytes()
        return None

    def chunk_of(self, key: str) -> tuple[ArdArray, int, int] | None:
        """(array, i, j) of a data chunk key (``<variable>/c/<t>/<i>/<j>``), None for other keys."""
        node, _, rest = key.partition("/")
        if node not in self.variables or not _CHUNK_KEY.match(rest):
            return None
        return self._data_chunk(self.variables[node], [int(p) for p in rest.split("/")[1:]])

    def _data_chunk(self, variant: Variant, index: list[int]) -> tuple[ArdArray, int, int] | None:
        """(array, i, j) of a data chunk index, or None if it names no date (or pair)."""
        nd = len(self.time_dims)
        if len(index) != nd + 2:
            return None
        dates = self.dates
        if any(t >= len(dates) for t in index[:nd]):
            return None
        ref = ArdArray(self.burst_id, self.polarization, variant, tuple(dates[t] for t in index[:nd]))
        return ref, index[nd], index[nd + 1]

    def current(self, ref: ArdArray, i: int, j: int) -> bool:
        """Whether a stored chunk is current.

        A per-burst product that ``follows`` another (velocity) is stale once a date was appended
        and the product it follows was not made again for it (its chunk at that date absent).
        """
        spec = self.variant.spec
        if not spec.follows:
            return True
        follow = Variant.of(spec.follows, self.variant.options.model_dump())
        latest = ArdArray(self.burst_id, self.polarization, follow, (self.dates[-1],))
        return self.engine.state(latest, i, j) == "present"

    def has(self, key: str) -> bool:
        """Whether ``key`` is in the store.

        A product chunk exists (it can be read) without being computed here.
        """
        node, _, rest = key.partition("/")
        if node in self.variables and _CHUNK_KEY.match(rest):
            chunk = self.chunk_of(key)
            if chunk is None:
                return False
            ny, nx = self.engine.chunk_counts(self.burst_id, self.polarization, self.variant)
            return 0 <= chunk[1] < ny and 0 <= chunk[2] < nx
        return self.fetch(key) is not None

    def keys(self) -> list[str]:
        """The keys of the metadata documents (``zarr.json`` of the group and of each array)."""
        return [f"{node}/zarr.json" if node else "zarr.json" for node in self.metadata()]

    def as_zarr(self) -> Store:
        """A read-only zarr-python store over this one (for ``xr.open_zarr``)."""
        from cube.materialize._zarr_store import ZarrProductStore  # zarr-python, when a client opens it

        return ZarrProductStore(self)


def open_product(
    engine: ArdEngine, burst_id: str, product: str, options=None, polarization: str = "VV", **kwargs
) -> xr.Dataset:
    """The product of one burst as a lazy xarray Dataset (dask; chunks computed when read)."""
    import xarray as xr

    store = ProductStore(engine, burst_id, polarization, Variant.of(product, options))
    return xr.open_zarr(store.as_zarr(), consolidated=True, zarr_format=3, **kwargs)
