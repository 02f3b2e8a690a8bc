"""A cube root on a local path or an object store, with atomic small-file writes.

Local writes go to a temporary file renamed into place; object-store PUTs are atomic
already. Zarr stores for subpaths come from the same URL and options.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Any

import fsspec
import zarr.storage
from fsspec.implementations.local import LocalFileSystem

from cube.errors import NotFoundError


@dataclass
class CubeStore:
    """The root of a cube: ``url`` plus fsspec ``storage_options`` (credentials, endpoint)."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def path(self, rel: str) -> str:
        """Filesystem path of ``rel`` (relative to the cube root)."""
        return posixpath.join(self.root, rel)

    def child_url(self, rel: str) -> str:
        """URL of ``rel`` (relative to the cube root)."""
        return f"{self.url}/{rel}"

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists."""
        return self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        """Bytes of ``rel``; NotFoundError naming the cube if absent."""
        try:
            return self.fs.cat_file(self.path(rel))
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.child_url(rel)} does not exist") from exc

    def read_json(self, rel: str) -> Any:
        """Parsed JSON of ``rel``."""
        return json.loads(self.read_bytes(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Write ``rel`` atomically: readers see the old or the new bytes, never a part."""
        path = self.path(rel)
        if self.is_local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{uuid.uuid4().hex}.partial"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        else:
            self.fs.pipe_file(path, data)

    def write_json(self, rel: str, obj: Any) -> None:
        """Write ``obj`` as indented JSON, atomically."""
        self.write_bytes(rel, json.dumps(obj, indent=1, default=str).encode())

    def list(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty if it does not exist)."""
        try:
            entries = self.fs.ls(self.path(rel), detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)

    def zarr_store(self, rel: str, read_only: bool = False) -> zarr.storage.StoreLike:
        """A zarr v3 store at ``rel`` (LocalStore locally: atomic renames; FsspecStore else)."""
        if self.is_local:
            return zarr.storage.LocalStore(self.path(rel), read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.child_url(rel), storage_options=self.storage_options, read_only=read_only
        )


def open_store(url: str, storage_options: dict[str, Any] | None = None) -> CubeStore:
    """A CubeStore for ``url`` (a local path, ``file://``, ``s3://`` ...)."""
    return CubeStore(url, dict(storage_options or {}))
