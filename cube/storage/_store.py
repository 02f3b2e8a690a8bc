"""A cube root on a local path or an object store, with atomic small-file writes.

Local writes go to a temporary file renamed into place; object-store PUTs are atomic
already. Zarr stores for subpaths come from the same URL and options.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import zarr.storage
from fsspec.implementations.local import LocalFileSystem

from cube.errors import CubeError, NotFoundError, StorageUnavailableError

#: Object-store clients give up quickly when the server is down (botocore's default is 5 tries
#: with back-off and a 60 s connect timeout: 8-30 s before an error), yet ride over a transient
#: 5xx: 3 tries, with back-offs of at most 1 and 2 s. Options given by the caller win.
S3_CLIENT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 2,
    "read_timeout": 30,
    "retries": {"total_max_attempts": 3, "mode": "standard"},
}


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the store cannot be reached", not "the request is wrong"."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
        from botocore.exceptions import HTTPClientError

        errors += [BotoConnectionError, HTTPClientError]
    except ImportError:  # no S3 support installed
        pass
    try:
        from aiohttp import ClientConnectionError

        errors.append(ClientConnectionError)
    except ImportError:
        pass
    return tuple(errors)


UNREACHABLE_ERRORS = _unreachable_errors()


def _server_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is an object store's 5xx answer (InternalError, ServiceUnavailable,
    SlowDown), as botocore raises it or as s3fs passes it on (an OSError caused by it)."""
    for e in (exc, exc.__cause__, exc.__context__):
        meta = getattr(e, "response", None)
        status = meta.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(meta, dict) else 0
        if isinstance(status, int) and status >= 500:
            return True
    return False


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn "cannot reach the store" errors raised inside (connection refused or timed out,
    or the store's own 5xx answer) into StorageUnavailableError."""
    try:
        yield
    except (CubeError, FileNotFoundError):
        raise
    except UNREACHABLE_ERRORS as exc:
        raise StorageUnavailableError(
            f"storage {url} is unreachable ({type(exc).__name__}: {exc}); retry in a few seconds"
        ) from exc
    except Exception as exc:
        if not _server_fault(exc):
            raise
        raise StorageUnavailableError(
            f"storage {url} failed ({type(exc).__name__}: {exc}); retry in a few seconds"
        ) from exc


def with_client_defaults(url: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    """``storage_options`` plus bounded connect timeouts and retries for ``s3://`` URLs."""
    if not url.startswith(("s3://", "s3a://")):
        return dict(storage_options)
    config = {**S3_CLIENT_DEFAULTS, **storage_options.get("config_kwargs", {})}
    return {**storage_options, "config_kwargs": config}


@dataclass
class CubeStore:
    """The root of a cube: ``url`` plus fsspec ``storage_options`` (credentials, endpoint)."""

    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.storage_options = with_client_defaults(self.url, self.storage_options)
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self.is_local = isinstance(self.fs, LocalFileSystem)

    def path(self, rel: str) -> str:
        """Filesystem path of ``rel`` (relative to the cube root)."""
        return posixpath.join(self.root, rel)

    def child_url(self, rel: str) -> str:
        """URL of ``rel`` (relative to the cube root)."""
        return f"{self.url}/{rel}"

    def exists(self, rel: str) -> bool:
        """Whether ``rel`` exists (StorageUnavailableError if the store cannot be reached)."""
        with storage_errors(self.url):
            return self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        """Bytes of ``rel``; NotFoundError naming the cube if absent."""
        try:
            with storage_errors(self.url):
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
            with storage_errors(self.url):
                self.fs.pipe_file(path, data)

    def write_json(self, rel: str, obj: Any) -> None:
        """Write ``obj`` as indented JSON, atomically."""
        self.write_bytes(rel, json.dumps(obj, indent=1, default=str).encode())

    def list(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty if it does not exist)."""
        try:
            with storage_errors(self.url):
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
