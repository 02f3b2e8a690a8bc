"""A cube root on a local path or an object store, with atomic, durable writes.

Local writes go to a temporary file (``*.partial``), fsynced, then renamed into place, and
the directory is fsynced after the rename: after a crash or power loss a file holds its old
or its new bytes, never a part, and a published file stays published. Object-store PUTs are
atomic and durable already. Zarr stores for subpaths come from the same URL and options;
locally they write chunks the same way (`DurableLocalStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import posixpath
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
import fsspec.asyn
import zarr.storage
from fsspec.implementations.local import LocalFileSystem
from zarr.core.buffer import Buffer

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

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
"""Suffix of the temporary files local writes rename into place (zarr's LocalStore uses it too)."""


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or create inside directory ``path`` durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_partial(path: str, data: Any) -> str:
    """Write ``data`` to a new ``<path>.<random>.partial`` and fsync it; its name."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_file_durably(path: str | os.PathLike[str], data: Any, *, sync_dir: bool = True) -> None:
    """Write ``data`` (bytes-like) to ``path`` through ``<path>.<random>.partial``: write,
    fsync, rename into place, then (``sync_dir``) fsync the directory.

    A crash leaves either the old file or the new one, whole; at worst a stray ``*.partial``
    (``sarcube verify --repair`` removes old ones). Without ``sync_dir`` a crash soon after
    may lose the rename itself (the file then still holds its old bytes, or is absent).
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    tmp = write_partial(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(directory)


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

    def write_bytes(self, rel: str, data: bytes, *, sync_dir: bool = True) -> None:
        """Write ``rel`` atomically: readers see the old or the new bytes, never a part.

        Locally the file is fsynced before its rename and (``sync_dir``) its directory
        after; pass ``sync_dir=False`` for files whose loss in a crash costs only a
        recomputation (ARD chunks).
        """
        path = self.path(rel)
        if self.is_local:
            write_file_durably(path, data, sync_dir=sync_dir)
        else:
            with storage_errors(self.url):
                self.fs.pipe_file(path, data)

    def delete(self, rel: str) -> None:
        """Remove the file ``rel``; nothing happens if it is already gone."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(rel))

    def write_json(self, rel: str, obj: Any) -> None:
        """Write ``obj`` as indented JSON, atomically."""
        self.write_bytes(rel, json.dumps(obj, indent=1, default=str).encode())

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        """Bytes of ``rel`` and their version tag, read together; ``(None, None)`` if absent.

        The tag is the object's ETag on an object store and the SHA-256 of the bytes locally.
        Pass it to `write_if` to write only if nobody changed ``rel`` in between.
        """
        path = self.path(rel)
        if self.is_local:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                return None, None
            return data, hashlib.sha256(data).hexdigest()
        bucket, key, _ = self.fs.split_path(path)

        async def get() -> tuple[bytes, str]:
            resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key)
            async with resp["Body"] as body:
                return await body.read(), resp["ETag"]

        try:
            return fsspec.asyn.sync(self.fs.loop, get)
        except FileNotFoundError:
            return None, None

    def write_if(
        self, rel: str, data: bytes, version: str | None, guard: Callable[[], None] | None = None
    ) -> bool:
        """Write ``rel`` atomically if its version is still ``version`` (None: if absent).

        Returns False, writing nothing, when another writer changed (or created) ``rel``
        since it was read: a compare-and-swap, with ``If-Match``/``If-None-Match`` on an
        object store and under an exclusive file lock locally. ``guard`` (a writer's lease
        check) runs right before the write and may raise to stop it: a writer stopped inside
        its compare-and-swap, woken after others went on, then writes nothing.
        """
        path = self.path(rel)
        if not self.is_local:
            bucket, key, _ = self.fs.split_path(path)
            condition = {"IfMatch": version} if version else {"IfNoneMatch": "*"}
            if guard is not None:
                guard()
            try:
                self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **condition)
            except Exception as exc:  # s3fs turns 412/409 into OSError subclasses
                if _is_precondition_failure(exc):
                    return False
                raise
            finally:
                self.fs.invalidate_cache(path)
            return True
        # the slow part (write and fsync a temporary file) first: the locked section between
        # the compare, the guard and the rename that publishes lasts microseconds
        directory = os.path.dirname(path)
        tmp = write_partial(path, data)
        try:
            with _cas_lock(self.path(CAS_LOCK)):
                _, tag = self.read_versioned(rel)
                if tag != version:
                    return False
                if guard is not None:
                    guard()
                os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        fsync_dir(directory)
        return True

    def list(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty if it does not exist)."""
        try:
            with storage_errors(self.url):
                entries = self.fs.ls(self.path(rel), detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)

    def zarr_store(self, rel: str, read_only: bool = False) -> zarr.storage.StoreLike:
        """A zarr v3 store at ``rel`` (`DurableLocalStore` locally; FsspecStore else)."""
        if self.is_local:
            return DurableLocalStore(self.path(rel), read_only=read_only)
        return zarr.storage.FsspecStore.from_url(
            self.child_url(rel), storage_options=self.storage_options, read_only=read_only
        )


#: The lock file that serializes local compare-and-swap writes (`CubeStore.write_if`).
CAS_LOCK = ".leases/cas.lock"
#: After how long a local compare-and-swap waiting for its lock says so in the log, s.
CAS_LOCK_WARN_S = 5.0


@contextmanager
def _cas_lock(path: str) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (threads and processes of this machine).

    The kernel frees it when its holder dies. A holder that is stopped (SIGSTOP) or hung inside
    its compare-and-swap holds it until it goes on: waiting is the price of a swap that stays
    correct (a waiter that went on without the lock could be overwritten by the holder's
    stale rename when it wakes). The section it guards lasts microseconds.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with _CAS_THREADS, open(path, "a+b") as f:
        waited = 0.0
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.005)
                waited += 0.005
                if waited >= CAS_LOCK_WARN_S and waited - 0.005 < CAS_LOCK_WARN_S:
                    log.warning("%s: waiting for a writer that holds it (stopped or hung?)", path)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


_CAS_THREADS = threading.Lock()  # flock is per open file: threads of one process queue here


def _is_precondition_failure(exc: BaseException) -> bool:
    """Whether an S3 error (as raised by s3fs or botocore) is a failed If-Match/If-None-Match."""
    seen: BaseException | None = exc
    while seen is not None:
        text = f"{type(seen).__name__} {seen}"
        if any(s in text for s in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def open_store(url: str, storage_options: dict[str, Any] | None = None) -> CubeStore:
    """A CubeStore for ``url`` (a local path, ``file://``, ``s3://`` ...)."""
    return CubeStore(url, dict(storage_options or {}))
