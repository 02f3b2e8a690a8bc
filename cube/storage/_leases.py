"""Single-flight leases: one worker computes a missing chunk while the others wait for it.

A lease is a named, expiring claim with a random token. ``try_acquire`` succeeds for one
caller at a time; a lease whose holder crashed expires after its TTL and can then be taken
over; ``release`` and ``renew`` act only while the token is still the holder's, so a late
releaser never frees someone else's lease. Expiry times are Unix seconds: the clocks of the
machines that share a backend must agree to well within the TTL (NTP does this).

Backends:

- `FileLeaseBackend`: one SQLite database in a local directory (threads and processes on
  one machine);
- `S3LeaseBackend`: one object per lease, written with conditional requests
  (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to take over, renew and delete);
- `DynamoDBLeaseBackend`: one item per lease in the sarcube state table, written with
  conditional ``PutItem``/``UpdateItem``/``DeleteItem``.

`single_flight` runs a computation under a lease; `make_lease_backend` builds a backend from
a URL. This module imports no AWS library: the cloud backends take a boto3 client, and
`make_lease_backend` imports boto3 only to build one.
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from cube.errors import BusyError, InputError
from cube.storage._state import (
    SQLiteDatabase,
    aws_error_code,
    boto3_client,
    dynamodb_table,
    is_condition_failure,
)

log = logging.getLogger(__name__)

#: Name of the SQLite database that `FileLeaseBackend` keeps in its directory.
LEASE_DB_NAME = "leases.sqlite"


@dataclass(frozen=True)
class Lease:
    """A held lease.

    Attributes
    ----------
    key : str
        What the lease protects (e.g. a chunk key).
    token : str
        Random token of this holder (32 hex digits); release and renew check it.
    expires : float
        Expiry, Unix time in seconds.
    version : str
        The backend's version tag of the lease record (the S3 ETag; empty elsewhere).
    """

    key: str
    token: str
    expires: float
    version: str = ""


@runtime_checkable
class LeaseBackend(Protocol):
    """Where leases live. Every method is safe to call from many threads and processes."""

    def try_acquire(self, key: str, ttl_s: float) -> Lease | None:
        """Take the lease on ``key`` for ``ttl_s`` seconds; None if someone holds a live one."""
        ...

    def release(self, lease: Lease) -> None:
        """Give the lease back, only if it is still ours (token check); never raises if not."""
        ...

    def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Extend our lease to ``ttl_s`` seconds from now; None if it is no longer ours."""
        ...

    def peek(self, key: str) -> Lease | None:
        """The live lease on ``key`` (someone is computing it), or None."""
        ...


def _new_token() -> str:
    return secrets.token_hex(16)


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _check_key(key: str) -> str:
    if not key or key.startswith("/") or "\x00" in key:
        raise InputError(f"lease key {key!r} is empty, starts with '/' or holds a NUL; use a chunk key")
    return key


def _check_ttl(ttl_s: float) -> float:
    if not ttl_s > 0:
        raise InputError(f"lease ttl_s must be > 0 seconds, got {ttl_s!r}")
    return float(ttl_s)


# --------------------------------------------------------------------------------------------
# SQLite (local)


_LEASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    expires REAL NOT NULL,
    holder TEXT NOT NULL
);
"""


class FileLeaseBackend:
    """Leases in a SQLite database, ``<directory>/leases.sqlite``, for one machine.

    Why SQLite and not lock files: taking a lease is one atomic SQL statement (an upsert
    that only overwrites an expired row), and SQLite's own file locks make it atomic across
    threads and processes. The kernel drops those locks when a process dies, and the journal
    rolls back a half-done write, so a SIGKILLed holder leaves only its row, which expires
    after the TTL. Lock files would need an exclusive create plus a second lock to take over
    an expired file safely, and would leave one file per chunk behind. The directory must be
    on a local file system (SQLite locking is unreliable on NFS).

    Parameters
    ----------
    directory : str or os.PathLike
        Created if missing.
    busy_timeout_s : float
        How long one statement waits for SQLite's write lock, s.
    """

    def __init__(self, directory: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.directory = Path(directory)
        self._db = SQLiteDatabase(
            self.directory / LEASE_DB_NAME, _LEASE_SCHEMA, busy_timeout_s=busy_timeout_s
        )

    def __repr__(self) -> str:
        return f"FileLeaseBackend({str(self.directory)!r})"

    def try_acquire(self, key: str, ttl_s: float) -> Lease | None:
        """Take the lease on ``key``, or take over an expired one; None if a live one exists."""
        _check_key(key)
        now = time.time()
        lease = Lease(key, _new_token(), now + _check_ttl(ttl_s))
        cur = self._db.connection().execute(
            "INSERT INTO leases (key, token, expires, holder) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET token = excluded.token, expires = excluded.expires, "
            "holder = excluded.holder WHERE leases.expires <= ?",
            (key, lease.token, lease.expires, _holder(), now),
        )
        return lease if cur.rowcount == 1 else None

    def release(self, lease: Lease) -> None:
        """Delete the lease row if it still carries our token."""
        self._db.connection().execute(
            "DELETE FROM leases WHERE key = ? AND token = ?", (lease.key, lease.token)
        )

    def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Move our lease's expiry to ``ttl_s`` from now; None if it is no longer ours."""
        new = replace(lease, expires=time.time() + _check_ttl(ttl_s))
        cur = self._db.connection().execute(
            "UPDATE leases SET expires = ? WHERE key = ? AND token = ?", (new.expires, lease.key, lease.token)
        )
        return new if cur.rowcount == 1 else None

    def peek(self, key: str) -> Lease | None:
        """The live lease on ``key``, or None."""
        row = self._db.connection().execute(
            "SELECT token, expires FROM leases WHERE key = ? AND expires > ?", (key, time.time())
        ).fetchone()
        return None if row is None else Lease(key, row[0], row[1])

    def purge_expired(self, *, dry_run: bool = False) -> int:
        """Delete the rows of expired leases (crashed holders); the number of them.

        Safe at any time: an expired lease is free to take over already, and its late
        holder's release and renew check the token.
        """
        con, now = self._db.connection(), time.time()
        if dry_run:
            return int(con.execute("SELECT COUNT(*) FROM leases WHERE expires <= ?", (now,)).fetchone()[0])
        return con.execute("DELETE FROM leases WHERE expires <= ?", (now,)).rowcount

    def close(self) -> None:
        """Close this thread's database connection."""
        self._db.close()


# --------------------------------------------------------------------------------------------
# S3


def _is_conditional_failure(exc: Exception) -> bool:
    """A conditional request lost: 412 precondition, 409 concurrent conflict, 404 gone."""
    code, status = aws_error_code(exc)
    return status in (404, 409, 412) or code in (
        "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "NotFound"
    )


class S3LeaseBackend:
    """Leases as small JSON objects ``s3://<bucket>/<prefix>/<key>.lease``.

    Acquire is ``PutObject`` with ``If-None-Match: *`` (only one creator wins); an expired
    lease is taken over with ``PutObject`` ``If-Match: <its ETag>`` (only one of the racers
    wins, since the ETag changes with the token in the body); renew is the same conditional
    overwrite, and release is ``DeleteObject`` with ``If-Match: <our ETag>``.

    Checked here: SeaweedFS 4.48 (the ``s3_server`` test fixture) honours ``If-None-Match: *``
    and ``If-Match`` on PutObject and ``If-Match`` on DeleteObject, answering 412
    PreconditionFailed, and lets exactly one of 16 simultaneous racers win (30 rounds each),
    so the tests run on it. One quirk: when several conditional creates of the same key
    race, SeaweedFS holds some losers for 1-2 s before their 412 (correct, but slow).
    AWS S3 supports conditional writes on PutObject; check that the target service also
    honours ``If-Match`` on DeleteObject, as a server that ignores it would delete
    unconditionally (then a late releaser could free a successor's lease).

    Parameters
    ----------
    bucket : str
    prefix : str
        Key prefix for lease objects (no leading or trailing slash needed).
    client : botocore S3 client
        ``boto3.client("s3", ...)``; thread-safe, share one.
    """

    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        if not bucket:
            raise InputError("S3LeaseBackend needs a bucket name, e.g. s3://my-bucket/leases")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client

    def __repr__(self) -> str:
        return f"S3LeaseBackend('s3://{self.bucket}/{self.prefix}')"

    def object_key(self, key: str) -> str:
        """The S3 key of the lease object of ``key``."""
        _check_key(key)
        return f"{self.prefix}/{key}.lease" if self.prefix else f"{key}.lease"

    def _body(self, lease: Lease) -> bytes:
        return json.dumps({"key": lease.key, "token": lease.token, "expires": lease.expires,
                           "holder": _holder()}).encode()

    def _put(self, lease: Lease, **condition: str) -> Lease | None:
        try:
            out = self.client.put_object(
                Bucket=self.bucket, Key=self.object_key(lease.key), Body=self._body(lease),
                ContentType="application/json", **condition,
            )
        except Exception as exc:
            if _is_conditional_failure(exc):
                return None
            raise
        return replace(lease, version=out["ETag"])

    def _read(self, key: str) -> Lease | None:
        """The lease object as stored (live or not), or None if there is none."""
        try:
            out = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            code, status = aws_error_code(exc)
            if status == 404 or code in ("NoSuchKey", "NotFound"):
                return None
            raise
        body = out["Body"].read()
        try:
            doc = json.loads(body)
            return Lease(key, str(doc["token"]), float(doc["expires"]), out["ETag"])
        except (ValueError, KeyError, TypeError):
            # Not written by us (PutObject is atomic): treat it as expired so it can be taken over.
            log.warning("lease object %s holds no lease record; taking it as expired", self.object_key(key))
            return Lease(key, "", 0.0, out["ETag"])

    def try_acquire(self, key: str, ttl_s: float) -> Lease | None:
        """Create the lease object, or take over an expired one; None if a live one exists.

        Reads first, so that waiting on a live lease costs one GET per attempt, and only
        then writes: ``If-None-Match: *`` when there is no object, ``If-Match`` on the
        expired one's ETag otherwise. Of several racers, one write wins; the rest get None.
        """
        ttl_s = _check_ttl(ttl_s)
        current = self._read(key)
        if current is not None and current.expires > time.time():
            return None
        lease = Lease(key, _new_token(), time.time() + ttl_s)
        if current is None:
            return self._put(lease, IfNoneMatch="*")
        log.info("taking over expired lease %s (expired %.1f s ago)", key, time.time() - current.expires)
        return self._put(lease, IfMatch=current.version)

    def release(self, lease: Lease) -> None:
        """Delete the lease object if its ETag is still ours."""
        try:
            self.client.delete_object(
                Bucket=self.bucket, Key=self.object_key(lease.key), IfMatch=lease.version
            )
        except Exception as exc:
            if not _is_conditional_failure(exc):
                raise

    def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Overwrite our lease object with a later expiry; None if it is no longer ours."""
        return self._put(replace(lease, expires=time.time() + _check_ttl(ttl_s)), IfMatch=lease.version)

    def peek(self, key: str) -> Lease | None:
        """The live lease on ``key``, or None."""
        current = self._read(key)
        return current if current is not None and current.expires > time.time() else None

    def purge_expired(self, *, dry_run: bool = False) -> int:
        """Delete the lease objects of expired leases (``If-Match`` their ETag); the number of them."""
        count = 0
        prefix = f"{self.prefix}/" if self.prefix else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                if not obj["Key"].endswith(".lease"):
                    continue
                lease = self._read(obj["Key"][len(prefix) : -len(".lease")])
                if lease is None or lease.expires > time.time():
                    continue
                count += 1
                if not dry_run:
                    self.release(lease)  # conditional on the ETag: a fresh taker's lease stays
        return count


# --------------------------------------------------------------------------------------------
# DynamoDB


class DynamoDBLeaseBackend:
    """Leases as items ``pk = "lease#<key>", sk = "lease"`` in the sarcube state table.

    Acquire is ``PutItem`` with ``attribute_not_exists(pk) OR expires < :now``; renew and
    release are ``UpdateItem``/``DeleteItem`` conditional on our token. DynamoDB evaluates a
    condition and the write as one atomic step per item. Items carry ``ttl`` = expiry + 1 h
    so that DynamoDB's TTL sweeper removes leases of crashed holders.

    Parameters
    ----------
    table_name : str
        The state table (see `dynamodb_table_spec`).
    client : botocore DynamoDB client
        ``boto3.client("dynamodb", ...)``; thread-safe, share one.
    """

    def __init__(self, table_name: str, client: Any) -> None:
        if not table_name:
            raise InputError("DynamoDBLeaseBackend needs a table name, e.g. dynamodb://sarcube-state")
        self.table_name = table_name
        self.client = client

    def __repr__(self) -> str:
        return f"DynamoDBLeaseBackend('dynamodb://{self.table_name}')"

    @staticmethod
    def _pk(key: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"lease#{_check_key(key)}"}, "sk": {"S": "lease"}}

    def try_acquire(self, key: str, ttl_s: float) -> Lease | None:
        """Put the lease item unless a live one exists; None if it does."""
        now = time.time()
        lease = Lease(key, _new_token(), now + _check_ttl(ttl_s))
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item={**self._pk(key), "token": {"S": lease.token}, "expires": {"N": repr(lease.expires)},
                      "holder": {"S": _holder()}, "ttl": {"N": str(int(lease.expires) + 3600)}},
                ConditionExpression="attribute_not_exists(pk) OR #e < :now",
                ExpressionAttributeNames={"#e": "expires"},
                ExpressionAttributeValues={":now": {"N": repr(now)}},
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return None
            raise
        return lease

    def release(self, lease: Lease) -> None:
        """Delete the lease item if it still carries our token."""
        try:
            self.client.delete_item(
                TableName=self.table_name, Key=self._pk(lease.key), ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#t": "token"},
                ExpressionAttributeValues={":t": {"S": lease.token}},
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise

    def renew(self, lease: Lease, ttl_s: float) -> Lease | None:
        """Move our lease's expiry to ``ttl_s`` from now; None if it is no longer ours."""
        new = replace(lease, expires=time.time() + _check_ttl(ttl_s))
        try:
            self.client.update_item(
                TableName=self.table_name, Key=self._pk(lease.key),
                UpdateExpression="SET #e = :e, #ttl = :ttl", ConditionExpression="#t = :t",
                ExpressionAttributeNames={"#e": "expires", "#t": "token", "#ttl": "ttl"},
                ExpressionAttributeValues={":e": {"N": repr(new.expires)}, ":t": {"S": lease.token},
                                           ":ttl": {"N": str(int(new.expires) + 3600)}},
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return None
            raise
        return new

    def peek(self, key: str) -> Lease | None:
        """The live lease on ``key``, or None (strongly consistent read)."""
        out = self.client.get_item(TableName=self.table_name, Key=self._pk(key), ConsistentRead=True)
        item = out.get("Item")
        if not item or float(item["expires"]["N"]) <= time.time():
            return None
        return Lease(key, item["token"]["S"], float(item["expires"]["N"]))


# --------------------------------------------------------------------------------------------
# single flight


class _Heartbeat:
    """Renews a lease every ``ttl_s / 3`` seconds in a daemon thread while a computation runs."""

    def __init__(self, backend: LeaseBackend, lease: Lease, ttl_s: float) -> None:
        self.backend, self.lease, self.ttl_s = backend, lease, ttl_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat:{lease.key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                renewed = self.backend.renew(self.lease, self.ttl_s)
            except Exception:  # a transient backend error: try again next beat
                log.warning("could not renew lease %s", self.lease.key, exc_info=True)
                continue
            if renewed is None:
                self.lost = True
                log.warning("lost lease %s: another worker may compute it too", self.lease.key)
                return
            self.lease = renewed

    def stop(self) -> Lease:
        """Stop renewing; the latest lease (its version may have changed)."""
        self._stop.set()
        self._thread.join()
        return self.lease


def single_flight(
    backend: LeaseBackend,
    key: str,
    *,
    is_done: Callable[[], bool],
    compute: Callable[[], None],
    ttl_s: float = 60.0,
    poll_s: float = 0.02,
    timeout_s: float = 120.0,
    heartbeat: bool = True,
    max_poll_s: float = 0.25,
) -> bool:
    """Make sure ``key`` is done, computing it here only if nobody else is.

    Loop: if ``is_done()`` return False; try to take the lease; with it, check ``is_done()``
    again (another worker may have finished in between), else run ``compute()`` and release
    the lease in ``finally``; without it, sleep (``poll_s``, growing to ``max_poll_s``) and
    retry until ``timeout_s``. A holder that died stops renewing, so its lease is taken over
    ``ttl_s`` after its last renewal. ``compute`` must publish its result atomically (write,
    then make visible), so that a crash leaves ``is_done()`` False and the next caller
    computes again.

    Parameters
    ----------
    backend : LeaseBackend
    key : str
        Lease key, e.g. ``"<burst>/<product>/<variant>/c/0/3/1"``.
    is_done : callable () -> bool
        True once the result exists.
    compute : callable () -> None
        Produces the result; its exceptions propagate (the lease is released first).
    ttl_s : float
        Lease lifetime, s. With ``heartbeat`` the lease is renewed every ``ttl_s / 3`` s while
        ``compute`` runs, so ``ttl_s`` only bounds how long a crashed holder blocks others.
    poll_s : float
        First wait between attempts, s; each further wait is 1.5 times longer, up to
        ``max_poll_s`` (every wait jittered ±50 %). Each attempt costs one ``is_done()`` and
        one ``try_acquire`` (a GET on S3, a PutItem on DynamoDB), so waiters back off.
    timeout_s : float
        Give up after this many seconds without the result: `BusyError`.
    heartbeat : bool
        Renew the lease during ``compute`` (backends without ``renew`` are not renewed).
    max_poll_s : float
        Longest wait between attempts, s: a waiter sees the result at most about this late.

    Returns
    -------
    bool
        True if this caller computed, False if the result was already there or another
        worker produced it.
    """
    _check_key(key)
    ttl_s = _check_ttl(ttl_s)
    deadline = time.monotonic() + timeout_s
    delay = poll_s
    while True:
        if is_done():
            return False
        lease = backend.try_acquire(key, ttl_s)
        if lease is not None:
            beat = _Heartbeat(backend, lease, ttl_s) if heartbeat and hasattr(backend, "renew") else None
            try:
                if is_done():
                    return False
                compute()
                return True
            finally:
                if beat is not None:
                    lease = beat.stop()
                backend.release(lease)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            holder = backend.peek(key) if hasattr(backend, "peek") else None
            until = f"; its lease expires in {holder.expires - time.time():.1f} s" if holder else ""
            raise BusyError(
                f"{key!r} is being computed by another worker and was not ready after "
                f"{timeout_s:g} s{until}; retry later"
            )
        time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
        delay = max(poll_s, min(delay * 1.5, max_poll_s))


class LeaseLostError(BusyError):
    """The writer's lease expired or was taken over: it must stop writing and retry."""


class HeldLease:
    """A lease held by `exclusive`, renewed in the background.

    ``check(margin_s)`` before each write: it raises `LeaseLostError` if the lease was lost
    or expires within ``margin_s`` seconds by this machine's clock (a writer that was paused
    longer than the TTL finds out here, before it overwrites another writer's work).
    """

    def __init__(self, beat: _Heartbeat) -> None:
        self._beat = beat

    @property
    def lease(self) -> Lease:
        return self._beat.lease

    def check(self, margin_s: float = 1.0) -> None:
        lease = self._beat.lease
        left = lease.expires - time.time()
        if self._beat.lost or left < margin_s:
            raise LeaseLostError(
                f"lost the lease on {lease.key!r} ({left:.1f} s left): another writer may hold it; "
                "retry the write"
            )


@contextmanager
def exclusive(
    backend: LeaseBackend,
    key: str,
    *,
    ttl_s: float = 60.0,
    timeout_s: float = 600.0,
    poll_s: float = 0.05,
    max_poll_s: float = 1.0,
) -> Iterator[HeldLease]:
    """Hold the lease on ``key`` for the block.

    Wait for it (up to ``timeout_s``, then `BusyError`), renew it every ``ttl_s / 3`` s while the
    block runs, release it after.

    A holder that crashed stops renewing, so its lease is taken over ``ttl_s`` after its
    last renewal: writers that use it must leave their shared state valid at every step.
    """
    _check_key(key)
    ttl_s = _check_ttl(ttl_s)
    deadline = time.monotonic() + timeout_s
    delay = poll_s
    while (lease := backend.try_acquire(key, ttl_s)) is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            holder = backend.peek(key)
            until = f"; its lease expires in {holder.expires - time.time():.1f} s" if holder else ""
            raise BusyError(f"{key!r} is held by another writer after {timeout_s:g} s{until}; retry later")
        time.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
        delay = min(delay * 1.5, max_poll_s)
    beat = _Heartbeat(backend, lease, ttl_s)
    try:
        yield HeldLease(beat)
    finally:
        backend.release(beat.stop())


def store_lease_backend(store: Any, rel: str = ".leases") -> LeaseBackend:
    """Leases kept in a cube-like store (`cube.storage.CubeStore`) under ``rel``.

    SQLite in that directory for a local store, one object per lease on ``s3://``
    (``store.lease_backend(rel)``).
    """
    return store.lease_backend(rel)


# --------------------------------------------------------------------------------------------
# factory


def make_lease_backend(url: str | os.PathLike[str], **kw: Any) -> LeaseBackend:
    """A lease backend from a URL.

    Parameters
    ----------
    url : str or os.PathLike
        ``file:///dir`` or a plain directory path → `FileLeaseBackend`;
        ``s3://bucket/prefix`` → `S3LeaseBackend`; ``dynamodb://table`` → `DynamoDBLeaseBackend`.
    **kw
        For S3 and DynamoDB: ``client=`` a boto3 client, or keyword arguments for
        ``boto3.client`` (``endpoint_url``, ``region_name``, credentials). For files:
        ``busy_timeout_s``.
    """
    text = os.fspath(url)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme in ("", "file"):
        path = text[len("file://"):] if scheme == "file" else text
        if not path:
            raise InputError(f"lease URL {text!r} names no directory; use file:///path/to/dir")
        return FileLeaseBackend(path, **kw)
    parts = urlsplit(text)
    if scheme == "s3":
        client = kw.pop("client", None) or boto3_client("s3", **kw)
        return S3LeaseBackend(parts.netloc, parts.path.strip("/"), client)
    if scheme == "dynamodb":
        return DynamoDBLeaseBackend(*dynamodb_table(text, "lease URL", **kw))
    raise InputError(f"lease URL {text!r}: scheme {scheme!r} is not one of file, s3, dynamodb")


__all__ = [
    "LEASE_DB_NAME",
    "DynamoDBLeaseBackend",
    "FileLeaseBackend",
    "Lease",
    "HeldLease",
    "LeaseBackend",
    "LeaseLostError",
    "S3LeaseBackend",
    "make_lease_backend",
    "exclusive",
    "single_flight",
    "store_lease_backend",
]
