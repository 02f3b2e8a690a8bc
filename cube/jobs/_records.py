"""Job records: the state and progress of long requests, readable by the API (``GET /jobs/{id}``).

A request that needs more chunks than one call may compute becomes a job. Its record says
where it stands (queued → running → succeeded | failed), how far it got, and what each
burst cost. Workers update it; the API reads it. Two stores share one protocol:

- `SQLiteJobStore`: one SQLite file in WAL mode, safe for threads and processes on one machine;
- `DynamoDBJobStore`: items ``pk = "job#<id>", sk = "job"`` in the sarcube state table that
  also holds the leases of `cube.storage` (see `cube.storage.dynamodb_table_spec`).

Every ``update`` writes its set of fields atomically; `JobStore.record_burst` adds one
burst's metrics and advances ``progress.done`` in one atomic step, so workers running in
parallel never lose each other's updates.

A record belongs to its ``owner`` (the user who submitted it; ``list(owner=...)`` lists one
user's jobs). Its ``request`` keeps an allowlist of fields (`request_allowlist`): the bursts,
products, options, dates, pairs and windows, and the engine, never the storage options,
URLs or anything else a caller passes, so that no credential is ever stored. `JobStore.claim`
inserts a record unless one with the same id is queued, running or succeeded: with ids made
from the owner and the canonical request (`job_id_of`), identical submissions are one job.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import os
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from cube.errors import ConflictError, InputError, NotFoundError
from cube.storage import JOBS_INDEX, SQLiteDatabase, aws_error_code, dynamodb_table, is_condition_failure

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "succeeded", "failed"]

#: Fields that `JobStore.update` may set (``updated`` is always set to now).
UPDATABLE_FIELDS = frozenset({"state", "progress", "message", "request", "metrics", "result"})


class Progress(BaseModel):
    """How far a job got, in work units (usually chunks or bursts)."""

    model_config = ConfigDict(extra="forbid")

    done: int = Field(0, ge=0, description="units finished")
    total: int = Field(0, ge=0, description="units planned (0 while unknown)")

    def report(self, elapsed_s: float, state: JobState) -> dict[str, Any]:
        """What ``GET /jobs/{id}`` shows: done, total, the fraction done, elapsed and remaining s.

        ``remaining_s`` extrapolates the elapsed time by the fraction done, elapsed × (total −
        done) / done: None until a unit is done (and for a failed job), 0 once succeeded.
        """
        fraction = self.done / self.total if self.total else None
        if state == "succeeded":
            remaining: float | None = 0.0
        elif state == "failed" or not self.done or not self.total:
            remaining = None
        else:
            remaining = elapsed_s * max(self.total - self.done, 0) / self.done
        return {"done": self.done, "total": self.total,
                "fraction": round(min(fraction, 1.0), 4) if fraction is not None else None,
                "elapsed_s": round(elapsed_s, 3),
                "remaining_s": round(remaining, 3) if remaining is not None else None}


class BurstMetrics(BaseModel):
    """What computing one burst of a job cost."""

    model_config = ConfigDict(extra="forbid")

    wall_s: float = Field(0.0, ge=0, description="wall-clock time, s")
    cpu_s: float = Field(0.0, ge=0, description="CPU time (user + system), s")
    bytes_read: int = Field(0, ge=0, description="bytes read from the SLC cube and auxiliary data")
    bytes_written: int = Field(0, ge=0, description="bytes written to the ARD store")
    chunks_computed: int = Field(0, ge=0, description="ARD chunks computed (not those found present)")


#: The fields of a job request a record keeps, by level (text fields; lists of plain values),
#: besides ``bursts``, ``products`` and ``options``; everything else is dropped. URLs are kept
#: without user info, query or fragment.
REQUEST_FIELDS = ("engine",)
URL_FIELDS = ("cube_url", "ard_url")
BURST_FIELDS = ("burst_id", "polarization")
PRODUCT_FIELDS = ("dates", "pairs", "window")
#: States in which a job with the same id is the same job (`JobStore.claim` does not replace it).
LIVE_STATES = ("queued", "running", "succeeded")


def _scalars(value: Any) -> bool:
    """Whether ``value`` is a number, bool or short string, or a list of those (an option value)."""
    if isinstance(value, list | tuple):
        return all(_scalars(v) for v in value)
    if isinstance(value, str):
        return len(value) <= 64
    return value is None or isinstance(value, bool | int | float)


def _options_allowlist(product: str, options: Any) -> dict[str, Any]:
    """The options that are fields of the product's options model, with plain values only."""
    if not isinstance(options, dict):
        return {}
    try:
        from cube.products import get_product

        fields = set(get_product(product).options.model_fields)
    except Exception:  # an unknown product: keep no options at all
        return {}
    return {k: v for k, v in options.items() if k in fields and _scalars(v)}


def _bare_url(url: str) -> str:
    """``url`` without user info (``user:password@``), query or fragment."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list | tuple) else []


def request_allowlist(request: Any) -> dict[str, Any]:
    """``request`` with only the fields a job record keeps.

    Those are `REQUEST_FIELDS`; per burst `BURST_FIELDS` and ``products``; per product its name,
    `PRODUCT_FIELDS` and the options of the product's model. No storage options, URLs, headers
    or anything else.
    """
    if not isinstance(request, dict):
        return {}
    out: dict[str, Any] = {k: request[k] for k in REQUEST_FIELDS if isinstance(request.get(k), str)}
    out.update({k: _bare_url(request[k]) for k in URL_FIELDS if isinstance(request.get(k), str)})
    bursts = []
    for burst in _dicts(request.get("bursts")):
        b = {k: burst[k] for k in BURST_FIELDS if isinstance(burst.get(k), str) and len(burst[k]) <= 64}
        products = []
        for product in _dicts(burst.get("products")):
            if not isinstance(product.get("product"), str) or len(product["product"]) > 64:
                continue
            p = {k: product[k] for k in PRODUCT_FIELDS if k in product and _scalars(product[k])}
            p["product"] = product["product"]
            p["options"] = _options_allowlist(product["product"], product.get("options"))
            products.append(p)
        b["products"] = products
        bursts.append(b)
    if bursts or "bursts" in request:
        out["bursts"] = bursts
    return out


def job_id_of(owner: str | None, request: dict[str, Any], *, scope: str = "") -> str:
    """The id of the job ``owner`` makes with ``request``.

    The same for identical requests (SHA-256 of the owner, ``scope`` (e.g. the cube URL) and the
    canonical JSON of the kept request fields), 32 hex digits.
    """
    canonical = json.dumps(request_allowlist(request), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256("\0".join([owner or "", scope, canonical]).encode()).hexdigest()
    return digest[:32]


class JobRecord(BaseModel):
    """One job: its owner, request, state, progress, per-burst metrics and result."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    owner: str | None = Field(None, max_length=256, description="the user who submitted it")
    state: JobState = "queued"
    created: AwareDatetime
    updated: AwareDatetime
    progress: Progress = Field(default_factory=Progress)
    message: str = Field("", description="latest human-readable status or error message")
    request: dict[str, Any] = Field(
        default_factory=dict, description="what the job does: the allowlisted fields of its request"
    )
    metrics: dict[str, BurstMetrics] = Field(default_factory=dict, description="per burst ID")
    result: dict[str, Any] | None = Field(None, description="outputs once succeeded (URLs, counts)")

    @field_validator("request", mode="before")
    @classmethod
    def _allowlist(cls, value: Any) -> dict[str, Any]:
        return request_allowlist(value)

    def progress_report(self, now: datetime | None = None) -> dict[str, Any]:
        """`Progress.report` with the time since the job was created.

        That is until ``now`` while it is queued or running, until its last update once it ended.
        """
        end = (now or _now()) if self.state in ("queued", "running") else self.updated
        return self.progress.report(max((end - self.created).total_seconds(), 0.0), self.state)


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(t: datetime) -> str:
    """UTC ISO 8601 with microseconds: sorts as text in time order."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _check_burst(burst: str) -> str:
    if not burst or "." in burst:
        raise InputError(f"burst name {burst!r} is empty or holds a '.'; use the ESA burst ID")
    return burst


def make_job_record(request: dict[str, Any], *, total: int = 0, job_id: str | None = None,
                    owner: str | None = None) -> JobRecord:
    """A new queued job record of ``owner`` for ``request``.

    Only the request's allowlisted fields are kept (`request_allowlist`). The id is ``job_id``,
    else a random 32 hex digits.
    """
    now = _now()
    return JobRecord(id=job_id or uuid.uuid4().hex, owner=owner, created=now, updated=now,
                     progress=Progress(total=total), request=request)


def _check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate ``update`` fields; their JSON-mode values, keyed by field name."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InputError(f"job fields {sorted(unknown)} cannot be updated; use {sorted(UPDATABLE_FIELDS)}")
    probe = {"id": "x", "created": _now(), "updated": _now(), **fields}
    try:
        record = JobRecord.model_validate(probe)
    except ValidationError as exc:
        raise InputError(f"invalid job fields: {exc}") from exc
    dumped = record.model_dump(mode="json")
    return {name: dumped[name] for name in fields}


def _not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"job {job_id!r} not found; list jobs with GET /jobs")


@runtime_checkable
class JobStore(Protocol):
    """Where job records live."""

    def create(self, record: JobRecord) -> JobRecord:
        """Store a new record; `ConflictError` if its id exists."""
        ...

    def get(self, job_id: str) -> JobRecord:
        """The record of ``job_id``; `NotFoundError` naming it if there is none."""
        ...

    def update(self, job_id: str, **fields: Any) -> JobRecord:
        """Set some of `UPDATABLE_FIELDS` atomically (and ``updated``); the new record."""
        ...

    def record_burst(self, job_id: str, burst: str, metrics: BurstMetrics | dict[str, Any], *,
                     done: int = 1) -> JobRecord:
        """Atomically set ``metrics[burst]`` and add ``done`` to ``progress.done``; the new record."""
        ...

    def claim(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Store ``record`` atomically unless a live record has its id.

        A record that is queued, running or succeeded is live; one that failed is replaced.
        Returns (the stored record, whether it is ``record``).
        """
        ...

    def list(self, limit: int = 100, *, owner: str | None = None) -> list[JobRecord]:
        """Up to ``limit`` records (of ``owner`` if given), newest first."""
        ...


# --------------------------------------------------------------------------------------------
# SQLite


_JOB_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
"""


class SQLiteJobStore:
    """Job records as JSON rows in one SQLite file (WAL mode), for one machine.

    Updates are read-modify-write inside ``BEGIN IMMEDIATE`` transactions, which SQLite
    serialises across threads and processes. Keep the file on a local file system.

    Parameters
    ----------
    path : str or os.PathLike
        The database file; its directory is created if missing.
    busy_timeout_s : float
        How long one transaction waits for SQLite's write lock, s.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._db = SQLiteDatabase(self.path, _JOB_SCHEMA, busy_timeout_s=busy_timeout_s)

    def __repr__(self) -> str:
        return f"SQLiteJobStore({str(self.path)!r})"

    def create(self, record: JobRecord) -> JobRecord:
        """Store a new record; `ConflictError` if its id exists."""
        try:
            self._db.connection().execute(
                "INSERT INTO jobs (id, created, record) VALUES (?, ?, ?)",
                (record.id, _stamp(record.created), record.model_dump_json()),
            )
        except sqlite3.IntegrityError as exc:
            raise ConflictError(f"job {record.id!r} exists already; make a new id") from exc
        return record

    def claim(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Insert ``record``, or replace a failed one of the same id, in one transaction.

        Returns the live record of that id if there is one (nothing stored).
        """
        with self._db.transaction() as con:
            row = con.execute("SELECT record FROM jobs WHERE id = ?", (record.id,)).fetchone()
            if row is not None:
                existing = JobRecord.model_validate_json(row[0])
                if existing.state in LIVE_STATES:
                    return existing, False
                con.execute("UPDATE jobs SET created = ?, record = ? WHERE id = ?",
                            (_stamp(record.created), record.model_dump_json(), record.id))
            else:
                con.execute("INSERT INTO jobs (id, created, record) VALUES (?, ?, ?)",
                            (record.id, _stamp(record.created), record.model_dump_json()))
        return record, True

    def get(self, job_id: str) -> JobRecord:
        """The record of ``job_id``; `NotFoundError` if there is none."""
        row = self._db.connection().execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise _not_found(job_id)
        return JobRecord.model_validate_json(row[0])

    def _modify(self, job_id: str, change: Any) -> JobRecord:
        with self._db.transaction() as con:
            row = con.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise _not_found(job_id)
            doc = json.loads(row[0])
            change(doc)
            doc["updated"] = _stamp(_now())
            record = JobRecord.model_validate(doc)
            con.execute("UPDATE jobs SET record = ? WHERE id = ?", (record.model_dump_json(), job_id))
        return record

    def update(self, job_id: str, **fields: Any) -> JobRecord:
        """Set some of `UPDATABLE_FIELDS` (and ``updated``) in one transaction; the new record."""
        values = _check_fields(fields)
        return self._modify(job_id, lambda doc: doc.update(values))

    def record_burst(self, job_id: str, burst: str, metrics: BurstMetrics | dict[str, Any], *,
                     done: int = 1) -> JobRecord:
        """Set ``metrics[burst]`` and add ``done`` to ``progress.done`` in one transaction."""
        value = BurstMetrics.model_validate(metrics).model_dump(mode="json")
        _check_burst(burst)

        def change(doc: dict[str, Any]) -> None:
            doc["metrics"][burst] = value
            doc["progress"]["done"] += done

        return self._modify(job_id, change)

    def list(self, limit: int = 100, *, owner: str | None = None) -> list[JobRecord]:
        """Up to ``limit`` records (of ``owner`` if given), newest first."""
        if owner is None:
            rows = self._db.connection().execute(
                "SELECT record FROM jobs ORDER BY created DESC, id DESC LIMIT ?", (int(limit),)
            ).fetchall()
        else:
            rows = self._db.connection().execute(
                "SELECT record FROM jobs WHERE json_extract(record, '$.owner') = ? "
                "ORDER BY created DESC, id DESC LIMIT ?", (owner, int(limit))
            ).fetchall()
        return [JobRecord.model_validate_json(r[0]) for r in rows]

    def close(self) -> None:
        """Close this thread's database connection."""
        self._db.close()


# --------------------------------------------------------------------------------------------
# DynamoDB

_JSON_FIELDS = ("request", "result")


def _to_item(record: JobRecord) -> dict[str, Any]:
    doc = record.model_dump(mode="json")
    return {
        "pk": {"S": f"job#{record.id}"}, "sk": {"S": "job"},
        "id": {"S": record.id}, "state": {"S": doc["state"]},
        "created": {"S": _stamp(record.created)},
        "updated": {"S": _stamp(record.updated)},
        "message": {"S": doc["message"]},
        "progress_done": {"N": str(doc["progress"]["done"])},
        "progress_total": {"N": str(doc["progress"]["total"])},
        "metrics": {"M": {b: {"S": json.dumps(m)} for b, m in doc["metrics"].items()}},
        **{name: {"S": json.dumps(doc[name])} for name in _JSON_FIELDS},
        **({"owner": {"S": record.owner}} if record.owner is not None else {}),
    }


def _from_item(item: dict[str, Any]) -> JobRecord:
    return JobRecord.model_validate({
        "id": item["id"]["S"], "state": item["state"]["S"], "owner": item.get("owner", {}).get("S"),
        "created": item["created"]["S"], "updated": item["updated"]["S"],
        "message": item["message"]["S"],
        "progress": {"done": int(item["progress_done"]["N"]), "total": int(item["progress_total"]["N"])},
        "metrics": {b: json.loads(v["S"]) for b, v in item["metrics"]["M"].items()},
        **{name: json.loads(item[name]["S"]) for name in _JSON_FIELDS},
    })


class DynamoDBJobStore:
    """Job records as items ``pk = "job#<id>", sk = "job"`` in the sarcube state table.

    Scalars are plain attributes, ``progress`` is two numbers (``progress_done``,
    ``progress_total``), ``metrics`` a map of JSON strings per burst, ``request`` and
    ``result`` JSON strings. ``update`` is one ``UpdateItem`` (atomic for its set of fields),
    ``record_burst`` one ``UpdateItem`` with ``SET metrics.#burst`` and ``ADD progress_done``.
    ``list`` queries the sparse index `JOBS_INDEX` (eventually consistent: a job created a
    moment ago may be missing; ``get`` is strongly consistent), or scans if the table lacks it.
    IAM: GetItem, PutItem, UpdateItem on the table; Query on ``<table>/index/*`` for ``list``.

    Parameters
    ----------
    table_name : str
        The state table (`dynamodb_table_spec`, shared with the leases).
    client : botocore DynamoDB client
        ``boto3.client("dynamodb", ...)``.
    """

    def __init__(self, table_name: str, client: Any) -> None:
        if not table_name:
            raise InputError("DynamoDBJobStore needs a table name, e.g. dynamodb://sarcube-state")
        self.table_name = table_name
        self.client = client

    def __repr__(self) -> str:
        return f"DynamoDBJobStore('dynamodb://{self.table_name}')"

    @staticmethod
    def _key(job_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"job#{job_id}"}, "sk": {"S": "job"}}

    def create(self, record: JobRecord) -> JobRecord:
        """Put a new item; `ConflictError` if its id exists."""
        try:
            self.client.put_item(TableName=self.table_name, Item=_to_item(record),
                                 ConditionExpression="attribute_not_exists(pk)")
        except Exception as exc:
            if is_condition_failure(exc):
                raise ConflictError(f"job {record.id!r} exists already; make a new id") from exc
            raise
        return record

    def claim(self, record: JobRecord) -> tuple[JobRecord, bool]:
        """Put ``record`` if its id is new or its record failed (one conditional ``PutItem``).

        Returns the live record of that id if there is one (nothing stored).
        """
        try:
            self.client.put_item(
                TableName=self.table_name, Item=_to_item(record),
                ConditionExpression="attribute_not_exists(pk) OR #state = :failed",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":failed": {"S": "failed"}},
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return self.get(record.id), False
        return record, True

    def get(self, job_id: str) -> JobRecord:
        """The record of ``job_id`` (strongly consistent read); `NotFoundError` if none."""
        item = self.client.get_item(TableName=self.table_name, Key=self._key(job_id), ConsistentRead=True)
        if "Item" not in item:
            raise _not_found(job_id)
        return _from_item(item["Item"])

    def _update(self, job_id: str, sets: dict[str, dict[str, Any]], adds: dict[str, dict[str, Any]],
                names: dict[str, str] | None = None) -> JobRecord:
        names = dict(names or {})
        values: dict[str, Any] = {}
        clauses = []
        for i, (attr, value) in enumerate({**sets, "updated": {"S": _stamp(_now())}}.items()):
            path = ".".join(f"#s{i}_{j}" for j in range(len(attr.split("."))))
            names.update({f"#s{i}_{j}": part for j, part in enumerate(attr.split("."))})
            values[f":s{i}"] = value
            clauses.append(f"{path} = :s{i}")
        expression = "SET " + ", ".join(clauses)
        if adds:
            expression += " ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(adds)))
            for i, (attr, value) in enumerate(adds.items()):
                names[f"#a{i}"] = attr
                values[f":a{i}"] = value
        try:
            out = self.client.update_item(
                TableName=self.table_name, Key=self._key(job_id), UpdateExpression=expression,
                ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames=names,
                ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if is_condition_failure(exc):
                raise _not_found(job_id) from exc
            raise
        return _from_item(out["Attributes"])

    def update(self, job_id: str, **fields: Any) -> JobRecord:
        """Set some of `UPDATABLE_FIELDS` (and ``updated``) in one ``UpdateItem``; the new record."""
        values = _check_fields(fields)
        sets: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            if name == "progress":
                sets["progress_done"] = {"N": str(value["done"])}
                sets["progress_total"] = {"N": str(value["total"])}
            elif name == "metrics":
                sets["metrics"] = {"M": {b: {"S": json.dumps(m)} for b, m in value.items()}}
            elif name in _JSON_FIELDS:
                sets[name] = {"S": json.dumps(value)}
            else:
                sets[name] = {"S": value}
        return self._update(job_id, sets, {})

    def record_burst(self, job_id: str, burst: str, metrics: BurstMetrics | dict[str, Any], *,
                     done: int = 1) -> JobRecord:
        """Set ``metrics[burst]`` and add ``done`` to ``progress.done`` in one ``UpdateItem``."""
        value = BurstMetrics.model_validate(metrics).model_dump(mode="json")
        _check_burst(burst)  # "metrics.<burst>" is a nested path: no dots in the name
        return self._update(job_id, {f"metrics.{burst}": {"S": json.dumps(value)}},
                            {"progress_done": {"N": str(int(done))}})

    def list(self, limit: int = 100, *, owner: str | None = None) -> list[JobRecord]:
        """Up to ``limit`` records (of ``owner`` if given), newest first.

        A query on the sparse index `JOBS_INDEX`; on a table without that index (a table made
        with only ``pk``/``sk``), a scan of the job items, logged as a warning, since it reads
        every lease item too.
        """
        try:
            return self._query(limit, owner)
        except Exception as exc:
            # DynamoDB says ValidationException, moto ResourceNotFoundException
            missing = aws_error_code(exc)[0] in ("ValidationException", "ResourceNotFoundException")
            if not missing or "index" not in str(exc).lower():
                raise
        log.warning("table %s has no index %r: listing jobs by a full scan; add the index "
                    "(see dynamodb_table_spec)", self.table_name, JOBS_INDEX)
        return self._scan(limit, owner)

    @staticmethod
    def _owner_filter(kwargs: dict[str, Any], owner: str | None) -> None:
        if owner is not None:
            clauses = [kwargs.get("FilterExpression"), "#o = :o"]
            kwargs["FilterExpression"] = " AND ".join(c for c in clauses if c)
            kwargs["ExpressionAttributeNames"] = {"#o": "owner"}
            kwargs["ExpressionAttributeValues"][":o"] = {"S": owner}

    def _query(self, limit: int, owner: str | None = None) -> builtins.list[JobRecord]:
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": JOBS_INDEX, "KeyConditionExpression": "sk = :job",
            "ExpressionAttributeValues": {":job": {"S": "job"}}, "ScanIndexForward": False,
        }
        self._owner_filter(kwargs, owner)
        while len(records) < limit:
            # with a filter, Limit counts the items read before filtering: read whole pages then
            out = self.client.query(**kwargs, **({} if owner else {"Limit": limit - len(records)}))
            records.extend(_from_item(item) for item in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        return records[:limit]

    def _scan(self, limit: int, owner: str | None = None) -> builtins.list[JobRecord]:
        records: list[JobRecord] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "FilterExpression": "sk = :job",
            "ExpressionAttributeValues": {":job": {"S": "job"}},
        }
        self._owner_filter(kwargs, owner)
        while True:
            out = self.client.scan(**kwargs)
            records.extend(_from_item(item) for item in out.get("Items", []))
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        records.sort(key=lambda r: (r.created, r.id), reverse=True)
        return records[:limit]


# --------------------------------------------------------------------------------------------
# factory


def make_job_store(url: str | os.PathLike[str], **kw: Any) -> JobStore:
    """A job store from a URL.

    Parameters
    ----------
    url : str or os.PathLike
        ``sqlite:///abs/path/jobs.sqlite`` (the path after ``sqlite://``, as in ``file://``)
        or a path ending in ``.sqlite`` → `SQLiteJobStore`; ``dynamodb://table`` →
        `DynamoDBJobStore`.
    **kw
        For DynamoDB: ``client=`` a boto3 client, or keyword arguments for ``boto3.client``.
        For SQLite: ``busy_timeout_s``.
    """
    text = os.fspath(url)
    scheme = urlsplit(text).scheme if "://" in text else ""
    if scheme == "sqlite":
        path = text[len("sqlite://"):]
        if not path:
            raise InputError(f"job store URL {text!r} names no file; use sqlite:///path/to/jobs.sqlite")
        return SQLiteJobStore(path, **kw)
    if scheme == "" and text.endswith(".sqlite"):
        return SQLiteJobStore(text, **kw)
    if scheme == "dynamodb":
        return DynamoDBJobStore(*dynamodb_table(text, "job store URL", **kw))
    raise InputError(f"job store URL {text!r}: use sqlite:///path, a path ending .sqlite, or dynamodb://table")


__all__ = [
    "LIVE_STATES",
    "UPDATABLE_FIELDS",
    "BurstMetrics",
    "DynamoDBJobStore",
    "JobRecord",
    "JobState",
    "JobStore",
    "Progress",
    "SQLiteJobStore",
    "job_id_of",
    "make_job_record",
    "make_job_store",
    "request_allowlist",
]
