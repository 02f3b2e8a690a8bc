"""A `ProductStore` as a zarr-python store (for ``xr.open_zarr``), imported when one is opened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Protocol

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype

from cube.errors import InputError


class KeyBytes(Protocol):
    """What `ZarrProductStore` reads: a `~cube.materialize.ProductStore`."""

    def fetch(self, key: str) -> bytes | None:
        """The bytes of ``key``, None if absent."""

    def has(self, key: str) -> bool:
        """Whether ``key`` is in the store."""

    def keys(self) -> list[str]:
        """The metadata keys."""


class ZarrProductStore(Store):
    """Read-only zarr v3 store over a `ProductStore`: ``get`` runs its ``fetch`` in a thread."""

    supports_writes = False
    supports_deletes = False
    supports_partial_writes = False
    supports_listing = True

    def __init__(self, product: KeyBytes):
        super().__init__(read_only=True)
        self.product = product

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ZarrProductStore) and other.product == self.product

    def __repr__(self) -> str:
        return repr(self.product)

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        data = await asyncio.to_thread(self.product.fetch, key)
        if data is None:
            return None
        return prototype.buffer.from_bytes(_slice(data, byte_range))

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return [await self.get(k, prototype, r) for k, r in key_ranges]

    async def exists(self, key: str) -> bool:
        """Whether ``key`` is in the store (a product chunk is, computed or not)."""
        return await asyncio.to_thread(self.product.has, key)

    async def set(self, key: str, value: Buffer) -> None:
        raise InputError(f"{self!r} is read-only")

    async def delete(self, key: str) -> None:
        raise InputError(f"{self!r} is read-only")

    async def list(self) -> AsyncIterator[str]:
        for key in self.product.keys():
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        async for key in self.list():
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        prefix = prefix.rstrip("/")
        seen = set()
        async for key in self.list():
            if prefix and not key.startswith(prefix + "/"):
                continue
            head = key[len(prefix) + 1 :] if prefix else key
            name = head.split("/")[0]
            if name not in seen:
                seen.add(name)
                yield name


def _slice(data: bytes, byte_range: ByteRequest | None) -> bytes:
    if byte_range is None:
        return data
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[-byte_range.suffix :]
    raise InputError(f"unsupported byte range {byte_range!r}")
