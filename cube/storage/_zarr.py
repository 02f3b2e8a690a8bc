"""zarr-python's side of the local store (imported when a zarr store is opened, not before)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import zarr.storage
from zarr.core.buffer import Buffer

from cube.storage._files import write_file_durably


class DurableLocalStore(zarr.storage.LocalStore):
    """zarr's LocalStore whose writes are fsynced before the rename, and their directory after.

    The SLC writer commits a date (the group's ``zarr.json``) only after its chunks: with
    these writes, a commit that survives a power loss never points at chunks that did not.
    """

    def set_sync(self, key: str, value: Buffer) -> None:
        self._ensure_open_sync()
        self._check_writable()
        write_file_durably(Path(self.root) / key, value.as_buffer_like())

    async def set(self, key: str, value: Buffer) -> None:
        if not self._is_open:
            await self._open()
        self._check_writable()
        await asyncio.to_thread(write_file_durably, Path(self.root) / key, value.as_buffer_like())
