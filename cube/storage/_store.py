"""A cube root on a local path or an object store, with atomic, durable writes.

`CubeStore` is the interface; `open_store` picks its implementation from the URL:
`LocalCubeStore`, `S3CubeStore` or `FsspecCubeStore`. Local writes go to a temporary file
(``*.partial``), fsynced, then renamed into place, and the directory is fsynced after the
rename: after a crash or power loss a file holds its old or its new bytes, never a part,
and a published file stays published. Object-store PUTs are atomic and durable already.
Zarr stores for subpaths come from the same URL and options; locally they write chunks the
same way (`DurableLocalStore`).
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import posixpath
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from cube.errors import CubeError, InputError, NotFoundError, StorageUnavailableError
from cube.storage._files import PARTIAL_SUFFIX, fsync_dir, write_file_durably, write_partial
from cube.storage._leases import LeaseBackend, make_lease_backend

if TYPE_CHECKING:
    import fsspec
    import zarr.storage

#: Object-store clients give up quickly when the server is down (botocore's default is 5 tries
#: with back-off and a 60 s connect timeout: 8-30 s before an error), yet ride over a transient
#: 5xx: 3 tries, with back-offs of at most 1 and 2 s. Options given by the caller win.
S3_CLIENT_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 2,
    "read_timeout": 30,
    "retries": {"total_max_attempts": 3, "mode": "standard"},
}


@functools.cache
def unreachable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the store cannot be reached", not "the request is wrong".

    Built on first use (an ``except`` clause calls it only when something was raised): botocore
    and aiohttp cost a third of a second to import.
    """
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


def __getattr__(name: str) -> object:
    """``UNREACHABLE_ERRORS``: `unreachable_errors`, built on first use."""
    if name == "UNREACHABLE_ERRORS":
        return unreachable_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _server_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is an object store's 5xx answer (InternalError, ServiceUnavailable, SlowDown).

    As botocore raises it, or as s3fs passes it on (an OSError caused by it).
    """
    for e in (exc, exc.__cause__, exc.__context__):
        meta = getattr(e, "response", None)
        status = meta.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(meta, dict) else 0
        if isinstance(status, int) and status >= 500:
            return True
    return False


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Turn "cannot reach the store" errors raised inside into StorageUnavailableError.

    Those are a connection refused or timed out, or the store's own 5xx answer.
    """
    try:
        yield
    except (CubeError, FileNotFoundError):
        raise
    except unreachable_errors() as exc:
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

class CubeStore(ABC):
    """The root of a cube: ``url`` plus fsspec ``storage_options`` (credentials, endpoint).

    An interface with one implementation per kind of store, picked by `open_store`:
    `LocalCubeStore` (files of this machine), `S3CubeStore` (``s3://``, with conditional
    writes) and `FsspecCubeStore` (any other fsspec URL). Keys (``rel``) are ``/``-separated
    paths relative to the root. Reads, listing and deletes go through the fsspec file system
    ``fs`` the same way on every store; what differs is how a write is made atomic and
    durable, the compare-and-swap pair (`read_versioned`, `write_if`), the zarr store, the
    leases beside the data and the leftovers a crash can leave.

    A new kind of store subclasses this, implements the abstract methods, is picked in
    `open_store`, and joins the stores of ``tests/integration/test_store_conformance.py``.

    Parameters
    ----------
    url : str
        A local path, ``file://``, ``s3://bucket/prefix`` ...; a trailing ``/`` is dropped.
    storage_options : dict, optional
        fsspec options; for ``s3://`` bounded timeouts and retries are added
        (`S3_CLIENT_DEFAULTS`, the caller's options win).
    """

    #: Whether the store's files are files of this machine (plain paths, SQLite beside them).
    is_local: ClassVar[bool] = False

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.storage_options = with_client_defaults(self.url, dict(storage_options or {}))
        self._fs: fsspec.AbstractFileSystem | None = None
        self.root = self._root()

    def _root(self) -> str:
        """The root path on the file system (`fs` made here: fsspec's URL parsing)."""
        import fsspec

        self._fs, root = fsspec.core.url_to_fs(self.url, **self.storage_options)
        return root

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        """The fsspec file system of the store (made on first use for a local store)."""
        if self._fs is None:
            import fsspec

            self._fs = fsspec.filesystem("file", **self.storage_options)
        return self._fs

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and other.url == self.url
                and other.storage_options == self.storage_options)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was

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

    def read_many(self, rels: builtins.list[str]) -> builtins.list[bytes | None]:
        """Bytes of each of ``rels``, None where absent: fetched concurrently (fsspec's ``cat_ranges``).

        ``cat_ranges`` answers in the order asked and takes each path as it is (``cat`` would
        expand a ``[`` or ``*`` in the store's URL as a glob).
        """
        if not rels:
            return []
        with storage_errors(self.url):
            got = self.fs.cat_ranges([self.path(rel) for rel in rels], None, None, on_error="return")
        out: builtins.list[bytes | None] = []
        for value in got:
            if isinstance(value, FileNotFoundError):
                out.append(None)
            elif isinstance(value, BaseException):
                with storage_errors(self.url):
                    raise value
            else:
                out.append(value)
        return out

    def read_json(self, rel: str) -> Any:
        """Parsed JSON of ``rel``."""
        return json.loads(self.read_bytes(rel))

    @abstractmethod
    def write_bytes(self, rel: str, data: bytes, *, sync_dir: bool = True) -> None:
        """Write ``rel`` atomically: readers see the old or the new bytes, never a part.

        Locally the file is fsynced before its rename and (``sync_dir``) its directory
        after; pass ``sync_dir=False`` for files whose loss in a crash costs only a
        recomputation (ARD chunks). Object stores ignore ``sync_dir``.
        """

    def write_json(self, rel: str, obj: Any) -> None:
        """Write ``obj`` as indented JSON, atomically."""
        self.write_bytes(rel, json.dumps(obj, indent=1, default=str).encode())

    def delete(self, rel: str) -> None:
        """Remove the file ``rel``; nothing happens if it is already gone."""
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(rel))

    @abstractmethod
    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        """Bytes of ``rel`` and their version tag, read together; ``(None, None)`` if absent.

        Pass the tag to `write_if` to write only if nobody changed ``rel`` in between.
        """

    @abstractmethod
    def write_if(
        self, rel: str, data: bytes, version: str | None, guard: Callable[[], None] | None = None
    ) -> bool:
        """Write ``rel`` atomically if its version is still ``version`` (None: if absent).

        Returns False, writing nothing, when another writer changed (or created) ``rel``
        since it was read: a compare-and-swap. ``guard`` (a writer's lease check) runs right
        before the write and may raise to stop it: a writer stopped inside its
        compare-and-swap, woken after others went on, then writes nothing.
        """

    def list(self, rel: str) -> list[str]:
        """Names directly under ``rel`` (empty if it does not exist)."""
        try:
            with storage_errors(self.url):
                entries = self.fs.ls(self.path(rel), detail=False)
        except FileNotFoundError:
            return []
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)

    # `list` below is the method above: the annotations name the builtin
    def find(self, rel: str = "") -> builtins.list[str]:
        """Every file under ``rel``, at any depth, as keys relative to ``rel``.

        Sorted; empty if ``rel`` does not exist.
        """
        base = self.path(rel).rstrip("/")
        try:
            with storage_errors(self.url):
                files = self.fs.find(base)
        except FileNotFoundError:
            return []
        prefix = base + "/"
        return sorted(f[len(prefix):] if f.startswith(prefix) else f for f in files)

    @abstractmethod
    def zarr_store(self, rel: str, read_only: bool = False) -> zarr.storage.StoreLike:
        """A zarr v3 store at ``rel`` whose writes are as atomic and durable as `write_bytes`."""

    @abstractmethod
    def lease_backend(self, rel: str = ".leases") -> LeaseBackend:
        """Leases kept beside the data, under ``rel``: many writers of this store take turns."""

    def stale_partials(self, age_s: float) -> builtins.list[str]:
        """Paths of the temporary files (``*.partial``) that killed writers left behind.

        Only files older than ``age_s`` seconds; remove them with ``fs.rm_file``. Empty where
        writes publish in one step (object stores).
        """
        return []


class LocalCubeStore(CubeStore):
    """A cube in a directory of this machine.

    Writes go to ``<file>.<random>.partial``, fsynced, then renamed into place, and the
    directory is fsynced after: a crash leaves the old or the new file, whole. `write_if`
    compares and renames under an exclusive file lock (`CAS_LOCK`); version tags are the
    SHA-256 of the bytes. Leases live in SQLite in ``<root>/.leases``.
    """

    is_local = True

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        if _protocol(url) != "file":
            raise InputError(f"{url} is not a local path; open it with open_store")
        super().__init__(url, storage_options)

    def _root(self) -> str:
        """The absolute path of the URL, as fsspec's local file system spells it.

        Without importing fsspec: a server's metadata and stored-chunk reads are plain file reads.
        """
        path = self.url
        for prefix in ("file://", "local://", "file:", "local:"):
            if path.startswith(prefix):
                path = path.removeprefix(prefix)
                break
        if os.sep != "/":
            return super()._root()
        if path.startswith("~"):
            path = os.path.expanduser(path)
        elif not path.startswith("/"):
            path = f"{os.getcwd()}/{'' if path == '.' else path.removeprefix('./')}"
        return path.rstrip("/") or "/"

    def exists(self, rel: str) -> bool:
        with storage_errors(self.url):  # a network mount that stopped answering
            return os.path.lexists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        try:
            with storage_errors(self.url), open(self.path(rel), "rb") as f:
                return f.read()
        except FileNotFoundError as exc:
            raise NotFoundError(f"{self.child_url(rel)} does not exist") from exc

    def read_many(self, rels: list[str]) -> list[bytes | None]:
        out: list[bytes | None] = []
        with storage_errors(self.url):
            for rel in rels:
                try:
                    with open(self.path(rel), "rb") as f:
                        out.append(f.read())
                except FileNotFoundError:
                    out.append(None)
        return out

    def write_bytes(self, rel: str, data: bytes, *, sync_dir: bool = True) -> None:
        write_file_durably(self.path(rel), data, sync_dir=sync_dir)

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        """Bytes of ``rel`` and their SHA-256; ``(None, None)`` if absent."""
        try:
            with open(self.path(rel), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def write_if(
        self, rel: str, data: bytes, version: str | None, guard: Callable[[], None] | None = None
    ) -> bool:
        path = self.path(rel)
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

    def zarr_store(self, rel: str, read_only: bool = False) -> zarr.storage.StoreLike:
        """A `DurableLocalStore` at ``rel``."""
        from cube.storage._zarr import DurableLocalStore  # zarr-python when a zarr store is opened

        return DurableLocalStore(self.path(rel), read_only=read_only)

    def lease_backend(self, rel: str = ".leases") -> LeaseBackend:
        """SQLite leases in the directory ``rel``."""
        return make_lease_backend(self.path(rel))

    def stale_partials(self, age_s: float) -> list[str]:
        cutoff = time.time() - age_s
        out = []
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                if not name.endswith(PARTIAL_SUFFIX):
                    continue
                path = os.path.join(dirpath, name)
                try:
                    if os.stat(path).st_mtime <= cutoff:  # younger: a writer may still be at work
                        out.append(path)
                except FileNotFoundError:
                    continue  # renamed or removed meanwhile
        return out


class FsspecCubeStore(CubeStore):
    """A cube on an object store reached through fsspec (``gs://``, ``memory://`` ...).

    A PUT is atomic and durable already, and leaves nothing behind if it fails. No
    compare-and-swap and no leases: use ``s3://`` or a local path for a cube many writers share.
    """

    def write_bytes(self, rel: str, data: bytes, *, sync_dir: bool = True) -> None:
        with storage_errors(self.url):
            self.fs.pipe_file(self.path(rel), data)

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        raise InputError(f"{self.url}: no conditional writes on this store; use s3:// or a local path")

    def write_if(
        self, rel: str, data: bytes, version: str | None, guard: Callable[[], None] | None = None
    ) -> bool:
        raise InputError(f"{self.url}: no conditional writes on this store; use s3:// or a local path")

    def zarr_store(self, rel: str, read_only: bool = False) -> zarr.storage.StoreLike:
        """Zarr's FsspecStore at ``rel``, with the same options."""
        import zarr.storage

        return zarr.storage.FsspecStore.from_url(
            self.child_url(rel), storage_options=self.storage_options, read_only=read_only
        )

    def lease_backend(self, rel: str = ".leases") -> LeaseBackend:
        raise InputError(f"{self.url}: no lease backend for this scheme; pass leases= (dynamodb://table)")


class S3CubeStore(FsspecCubeStore):
    """A cube on S3 (or an S3-compatible server: SeaweedFS, MinIO).

    `write_if` is a conditional ``PutObject`` (``If-Match: <ETag>``, or ``If-None-Match: *``
    to create); version tags are ETags. Leases are objects under ``<root>/.leases``, written
    with the same conditional requests (`S3LeaseBackend`).
    """

    def read_versioned(self, rel: str) -> tuple[bytes | None, str | None]:
        """Bytes of ``rel`` and their ETag, from one GET; ``(None, None)`` if absent."""
        bucket, key, _ = self.fs.split_path(self.path(rel))

        async def get() -> tuple[bytes, str]:
            resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key)
            async with resp["Body"] as body:
                return await body.read(), resp["ETag"]

        try:
            import fsspec.asyn

            return fsspec.asyn.sync(self.fs.loop, get)
        except FileNotFoundError:
            return None, None

    def write_if(
        self, rel: str, data: bytes, version: str | None, guard: Callable[[], None] | None = None
    ) -> bool:
        path = self.path(rel)
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

    def lease_backend(self, rel: str = ".leases") -> LeaseBackend:
        """One object per lease under ``rel``.

        Written through a boto3 client with the store's endpoint and keys.
        """
        options = self.storage_options
        kw = {}
        endpoint = options.get("endpoint_url") or options.get("client_kwargs", {}).get("endpoint_url")
        if endpoint:
            kw["endpoint_url"] = endpoint
        for src, dst in (("key", "aws_access_key_id"), ("secret", "aws_secret_access_key")):
            if options.get(src):
                kw[dst] = options[src]
        return make_lease_backend(self.child_url(rel), **kw)


#: The lock file that serializes local compare-and-swap writes (`LocalCubeStore.write_if`).
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
    """The `CubeStore` for ``url``.

    `LocalCubeStore` for a local path or ``file://``, `S3CubeStore` for ``s3://``, `FsspecCubeStore`
    for any other fsspec URL.
    """
    protocol = _protocol(url)
    cls: type[CubeStore]
    if protocol == "file":
        cls = LocalCubeStore
    elif protocol in ("s3", "s3a"):
        cls = S3CubeStore
    else:
        cls = FsspecCubeStore
    return cls(url, dict(storage_options or {}))


def _protocol(url: str) -> str:
    """``file`` for a local path or ``file://`` URL, else the URL's scheme (fsspec's rules)."""
    if "://" not in url and "::" not in url:
        return "file"
    import fsspec.utils

    protocol = fsspec.utils.get_protocol(url)
    return "file" if protocol in ("file", "local") else protocol
