"""State backends shared by the leases (`cube.storage`) and the job records (`cube.jobs`).

Two places keep small, often-updated records that many workers change at once:

- `SQLiteDatabase`: one SQLite file in WAL mode, for the threads and processes of one machine;
- the sarcube state table on DynamoDB (`dynamodb_table_spec`): one table for leases
  (``pk = "lease#<key>"``) and jobs (``pk = "job#<id>"``), written with conditional requests.

This module imports no AWS library: `boto3_client` imports boto3 only when called.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cube.errors import InputError

# --------------------------------------------------------------------------------------------
# SQLite (local)


class SQLiteDatabase:
    """Connections to one SQLite file: one per thread and process, WAL journal, busy wait.

    sqlite3 connections must not cross threads or a fork, so each (process, thread) opens
    its own and keeps it. ``transaction`` wraps ``BEGIN IMMEDIATE`` … ``COMMIT``: the write
    lock is taken up front, so a read-modify-write inside it is atomic across processes.
    Keep the file on a local file system (SQLite locking is unreliable on NFS).

    Parameters
    ----------
    path : str or os.PathLike
        The database file; its directory is created if missing.
    schema : str
        SQL run once on opening (``CREATE TABLE IF NOT EXISTS ...``).
    busy_timeout_s : float
        How long one statement waits for SQLite's write lock, s.
    """

    def __init__(self, path: str | os.PathLike[str], schema: str, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        deadline = time.monotonic() + busy_timeout_s
        while True:  # switching to WAL needs a moment alone with the file
            try:
                con = self.connection()
                if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    con.execute("PRAGMA journal_mode=WAL")
                con.executescript(schema)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection (autocommit mode; use `transaction` to group statements)."""
        pid, con = getattr(self._local, "con", (None, None))
        if con is None or pid != os.getpid():
            con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = (os.getpid(), con)
        return con

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error) on this thread's connection."""
        con = self.connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        pid, con = getattr(self._local, "con", (None, None))
        if con is not None and pid == os.getpid():
            con.close()
        self._local.con = (None, None)


# --------------------------------------------------------------------------------------------
# AWS (S3 conditional writes, DynamoDB)


def boto3_client(service: str, **kw: Any) -> Any:
    """``boto3.client(service, **kw)``; boto3 is imported here, only by the cloud backends."""
    import boto3

    return boto3.client(service, **kw)


def aws_error_code(exc: BaseException) -> tuple[str, int]:
    """(error code, HTTP status) of a botocore ClientError; ("", 0) for anything else."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "", 0
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_condition_failure(exc: BaseException) -> bool:
    """Whether a DynamoDB write lost its ``ConditionExpression``."""
    return aws_error_code(exc)[0] == "ConditionalCheckFailedException"


def dynamodb_table(url: str, what: str, **kw: Any) -> tuple[str, Any]:
    """(table name, DynamoDB client) of a ``dynamodb://<table>`` URL.

    ``what`` names the URL in errors ("lease URL", "job store URL"); ``kw`` is ``client=`` a
    boto3 client, or keyword arguments for ``boto3.client`` (``endpoint_url``, credentials).
    """
    parts = urlsplit(url)
    if parts.scheme != "dynamodb" or parts.path.strip("/"):
        raise InputError(f"{what} {url!r}: use dynamodb://<table> with no path")
    client = kw.pop("client", None) or boto3_client("dynamodb", **kw)
    return parts.netloc, client


#: Name of the global secondary index that lists jobs by creation time (see `dynamodb_table_spec`).
JOBS_INDEX = "by_created"


def dynamodb_table_spec(table_name: str) -> dict[str, Any]:
    """Arguments of ``CreateTable`` for the sarcube state table (leases and jobs).

    Single-table design: partition key ``pk`` (string: ``lease#<key>``, ``job#<id>``), sort
    key ``sk`` (``lease`` or ``job``), and a sparse global secondary index `JOBS_INDEX` on
    (``sk``, ``created``) that only job items enter. Items carry ``ttl`` (Unix seconds)
    when they may be deleted; enable DynamoDB TTL on that attribute in the deployment.
    """
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "created", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": JOBS_INDEX,
            "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"},
                          {"AttributeName": "created", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    }


def ensure_dynamodb_table(client: Any, table_name: str) -> None:
    """Create the sarcube state table (`dynamodb_table_spec`) unless it exists; wait until active."""
    try:
        client.describe_table(TableName=table_name)
        return
    except Exception as exc:
        if aws_error_code(exc)[0] != "ResourceNotFoundException":
            raise
    try:
        client.create_table(**dynamodb_table_spec(table_name))
    except Exception as exc:
        if aws_error_code(exc)[0] != "ResourceInUseException":  # someone else created it meanwhile
            raise
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


__all__ = [
    "JOBS_INDEX",
    "SQLiteDatabase",
    "aws_error_code",
    "boto3_client",
    "dynamodb_table",
    "dynamodb_table_spec",
    "ensure_dynamodb_table",
    "is_condition_failure",
]
