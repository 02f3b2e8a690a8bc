"""Keep-up mode.

A new SLC arrives, it is ingested, and the products users subscribed to over its area are
materialized for the new date (and its pairs with the dates already in the cube).

- Subscriptions live in the cube as ``subscriptions.json``: a list of
  ``{"id", "bbox": [west, south, east, north], "polarization", "products": [{"product", "options"}]}``
  (:func:`read_subscriptions`, :func:`subscribe`, :func:`unsubscribe`).
- :func:`slc_urls_from_event` reads the new object's URL from an EventBridge ``Object Created``
  event or an S3 event notification; :func:`sqs_message_event` unwraps one SQS record
  (the deployed stack's keep-up FIFO queue) that carries such an event in its body.
- :func:`plan_keep_up` turns new burst dates and subscriptions into :class:`~cube.jobs.BurstJob`
  work: only the chunks that cover each subscription's bbox, only the new date's dates/pairs.
- :func:`keep_up` does it all: ingest, plan, then run the job here (recording it in a job
  store) or hand it to an executor. A failing step marks the job failed, then re-raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

import numpy as np
import shapely
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from cube.errors import CubeFormatError, InputError, NotFoundError
from cube.format import new_pairs
from cube.geometry import BurstGrid, transformer
from cube.ingest import BurstDate, ingest
from cube.jobs import BurstJob, JobSpec, JobStore, ProductJob, make_job_record, run_burst
from cube.materialize import ArdEngine, select
from cube.products import Variant
from cube.storage import CubeStore

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "subscriptions.json"
"""The cube file that holds the keep-up subscriptions (a JSON list of :class:`Subscription`)."""
SLC_SUFFIXES = (".zip", ".safe", ".safe/")
"""Object keys keep-up ingests (a zipped SAFE, as the template's rule filters: incoming/*.zip)."""


# ---------------------------------------------------------------------------------------- subscriptions


class SubscribedProduct(BaseModel):
    """One product a subscription asks for, with its options (the product's options model)."""

    model_config = ConfigDict(extra="forbid")

    product: str = Field(description="product name, e.g. coherence")
    options: dict[str, Any] = Field(default_factory=dict, description="the product's options")

    @model_validator(mode="after")
    def _known(self) -> SubscribedProduct:
        try:
            self.variant()
        except NotFoundError as exc:  # an unknown product: a validation error like bad options
            raise ValueError(str(exc)) from None
        return self

    def variant(self) -> Variant:
        """The product variant (validates the name and the options)."""
        return Variant.of(self.product, self.options)


class Subscription(BaseModel):
    """Products to keep up to date over an area: each new date that covers ``bbox`` gets them."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="name of the subscription")
    bbox: tuple[float, float, float, float] = Field(description="west, south, east, north, degrees")
    polarization: Literal["VV", "VH", "HH", "HV"] = "VV"
    products: list[SubscribedProduct] = Field(min_length=1)

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        west, south, east, north = bbox
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError(
                f"bbox {list(bbox)} is not west,south,east,north in degrees (west < east, south < north)"
            )
        return bbox


_SUBSCRIPTION_LIST = TypeAdapter(list[Subscription])


def read_subscriptions(store: CubeStore) -> list[Subscription]:
    """The cube's subscriptions (empty if it has none); CubeFormatError if the file is invalid."""
    try:
        raw = store.read_bytes(SUBSCRIPTIONS)
    except NotFoundError:
        return []
    try:
        return _SUBSCRIPTION_LIST.validate_json(raw)
    except (ValidationError, ValueError) as exc:
        raise CubeFormatError(
            f"{store.child_url(SUBSCRIPTIONS)} is not a list of subscriptions ({exc}); fix or remove it"
        ) from None


def write_subscriptions(store: CubeStore, subscriptions: Iterable[Subscription]) -> None:
    """Replace the cube's subscriptions (one atomic write; InputError on duplicate ids)."""
    subs = list(subscriptions)
    ids = [s.id for s in subs]
    if len(set(ids)) != len(ids):
        raise InputError(f"subscription ids must be unique, got {ids}")
    store.write_bytes(SUBSCRIPTIONS, _SUBSCRIPTION_LIST.dump_json(subs, indent=1))


def subscribe(store: CubeStore, subscription: Subscription | Mapping[str, Any]) -> list[Subscription]:
    """Add ``subscription`` (or replace the one with its id); the cube's subscriptions after.

    Read-modify-write: two concurrent calls may lose one update, so manage subscriptions from
    one place (the CLI).
    """
    sub = subscription if isinstance(subscription, Subscription) else _validate(subscription)
    subs = [s for s in read_subscriptions(store) if s.id != sub.id] + [sub]
    write_subscriptions(store, subs)
    return subs


def unsubscribe(store: CubeStore, subscription_id: str) -> list[Subscription]:
    """Remove a subscription by id (NotFoundError listing the ids if absent); the rest."""
    subs = read_subscriptions(store)
    rest = [s for s in subs if s.id != subscription_id]
    if len(rest) == len(subs):
        raise NotFoundError(
            f"no subscription {subscription_id!r} in {store.url}; it has {[s.id for s in subs] or 'none'} "
            "(`sarcube subscriptions CUBE` lists them)"
        )
    write_subscriptions(store, rest)
    return rest


def _validate(doc: Mapping[str, Any]) -> Subscription:
    try:
        return Subscription.model_validate(doc)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'subscription'}: {e['msg']}"
                           for e in exc.errors())
        raise InputError(f"invalid subscription: {errors}") from None


# ---------------------------------------------------------------------------------------- events


def slc_urls_from_event(event: Mapping[str, Any]) -> list[str]:
    """``s3://bucket/key`` of each new SLC in an event.

    Accepts an EventBridge event from S3 (``source`` ``aws.s3``, ``detail-type``
    ``Object Created``) and an S3 event notification (``Records[].s3``, keys URL-encoded as S3
    sends them). InputError for anything else (an SQS event too: see :func:`sqs_message_event`), or
    for a key that is not a zip or SAFE.
    """
    if is_sqs_event(event):
        raise InputError("an SQS event carries S3 events in its records' bodies: "
                         "unwrap each with sqs_message_event")
    if event.get("source") == "aws.s3" and "detail" in event:
        if event.get("detail-type") != "Object Created":
            raise InputError(f"keep-up handles 'Object Created' events, not {event.get('detail-type')!r}")
        detail = event["detail"]
        pairs = [(detail["bucket"]["name"], detail["object"]["key"])]
    elif isinstance(event.get("Records"), list):
        pairs = []
        for record in event["Records"]:
            if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
                "ObjectCreated:"
            ):
                raise InputError(f"keep-up handles S3 ObjectCreated records, not {record.get('eventName')!r}")
            pairs.append((record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])))
    else:
        raise InputError(
            "not an S3 event: expected EventBridge (source aws.s3, detail.bucket.name, detail.object.key) "
            f"or an S3 notification (Records[].s3); got keys {sorted(event)}"
        )
    urls = []
    for bucket, key in pairs:
        if not key.lower().endswith(SLC_SUFFIXES):
            raise InputError(f"s3://{bucket}/{key} is not a Sentinel-1 SLC (.zip or .SAFE); not ingested")
        urls.append(f"s3://{bucket}/{key}")
    return urls


def is_sqs_event(event: Mapping[str, Any]) -> bool:
    """True for an SQS event as Lambda's event source mapping sends it (``Records[].eventSource``)."""
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)


def sqs_message_event(record: Mapping[str, Any]) -> dict[str, Any]:
    """The S3 event one SQS record carries in its body (the deployed stack's keep-up FIFO queue).

    The queue receives the EventBridge ``Object Created`` events (or S3 notifications) as message
    bodies; :func:`slc_urls_from_event` reads what this returns. InputError if the body is not a
    JSON object.
    """
    message_id = record.get("messageId")
    try:
        body = json.loads(record.get("body") or "")
    except ValueError as exc:
        raise InputError(f"SQS message {message_id}: the body is not JSON ({exc}); "
                         "expected an S3 event") from None
    if not isinstance(body, dict):
        raise InputError(f"SQS message {message_id}: the body is not a JSON object; expected an S3 event")
    return body


# ---------------------------------------------------------------------------------------- planning


def footprint(grid: BurstGrid) -> shapely.Polygon:
    """The burst grid's outline in lon/lat (degrees), 20 points per edge."""
    x0, y0, x1, y1 = grid.bounds
    t = np.linspace(0, 1, 20, endpoint=False)
    xs = np.concatenate([x0 + (x1 - x0) * t, np.full(20, x1), x1 - (x1 - x0) * t, np.full(20, x0)])
    ys = np.concatenate([np.full(20, y0), y0 + (y1 - y0) * t, np.full(20, y1), y1 - (y1 - y0) * t])
    lon, lat = transformer(grid.epsg, 4326).transform(xs, ys)
    return shapely.Polygon(np.column_stack([lon, lat]))




@dataclass
class KeepUpMatch:
    """A subscription that covers a new burst date, and the product windows it gets."""

    subscription: str
    burst_id: str
    polarization: str
    date_key: str
    products: list[ProductJob]


def plan_keep_up(engine: ArdEngine, new: Iterable[BurstDate],
                 subscriptions: Iterable[Subscription]) -> tuple[list[BurstJob], list[KeepUpMatch]]:
    """The work keep-up does for ``new`` burst dates: one BurstJob per (burst ID, polarization).

    A subscription matches a burst date when its polarization is the burst's and its bbox meets
    the burst grid's footprint. Each of its products gets the new date (per-date products) or
    the new date's pairs (pair products), over the window of the grid that covers the bbox.
    """
    subs = list(subscriptions)
    jobs: dict[tuple[str, str], list[ProductJob]] = {}
    matches: list[KeepUpMatch] = []
    for bd in new:
        candidates = [s for s in subs if s.polarization == bd.polarization]
        if not candidates:
            continue
        stack = engine.stack(bd.burst_id, bd.polarization)
        outline = footprint(stack.grid)
        for sub in candidates:
            if not outline.intersects(shapely.box(*sub.bbox)):
                continue
            products = []
            for wanted in sub.products:
                variant = wanted.variant()
                pair = variant.spec.pair
                pairs = new_pairs(stack.dates, bd.date_key) if pair else None
                if pair and not pairs:
                    continue
                try:
                    selection = select(engine, variant, bd.burst_id, polarization=bd.polarization,
                                       bbox=sub.bbox, dates=None if pair else [bd.date_key], pairs=pairs)
                except InputError:  # the bbox meets the outline but no pixel of this product grid
                    continue
                products.append(ProductJob.of(selection))
            if products:
                jobs.setdefault((bd.burst_id, bd.polarization), []).extend(products)
                matches.append(KeepUpMatch(sub.id, bd.burst_id, bd.polarization, bd.date_key, products))
    # model_validate: pydantic checks the polarization (a str here) as the constructor would
    bursts = [BurstJob.model_validate({"burst_id": b, "polarization": p, "products": products})
              for (b, p), products in jobs.items()]
    return bursts, matches


# ---------------------------------------------------------------------------------------- the flow


@dataclass
class KeepUpReport:
    """What one keep-up run did."""

    sources: list[str]
    added: list[BurstDate] = field(default_factory=list)
    skipped: list[BurstDate] = field(default_factory=list)
    matches: list[KeepUpMatch] = field(default_factory=list)
    job_id: str | None = None
    state: Literal["nothing", "submitted", "succeeded"] = "nothing"
    chunks_computed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what the Lambda handler returns)."""
        return {
            "sources": self.sources,
            "added": [str(b) for b in self.added],
            "skipped": [str(b) for b in self.skipped],
            "subscriptions": sorted({m.subscription for m in self.matches}),
            "bursts": sorted({m.burst_id for m in self.matches}),
            "job_id": self.job_id,
            "state": self.state,
            "chunks_computed": self.chunks_computed,
        }


Submit = Callable[[JobSpec, str], None]
"""``submit(spec, job_id)``: start a job whose record exists (an executor's ``submit``)."""


def keep_up(
    sources: list[str],
    cube: CubeStore,
    engine: ArdEngine,
    *,
    ard_url: str | None = None,
    jobs: JobStore | None = None,
    submit: Submit | None = None,
    orbit_file: str | None = None,
) -> KeepUpReport:
    """Ingest ``sources`` into ``cube``, then materialize what the subscriptions ask for.

    With ``submit`` the work goes to an executor (its job record created first, in ``jobs``);
    without it the bursts run here, one after the other, recorded in ``jobs`` if given. A
    burst that fails marks the job ``failed`` with the error, and the error is re-raised. Dates
    already in the cube are planned again (a retried event completes the work; chunks already
    computed are not recomputed).
    """
    ingested = ingest(sources, cube, orbit_file=orbit_file, progress=False,
                      storage_options=cube.storage_options)
    report = KeepUpReport(sources=list(sources), added=ingested.added, skipped=ingested.skipped)
    bursts, report.matches = plan_keep_up(engine, ingested.added + ingested.skipped, read_subscriptions(cube))
    if not bursts:
        log.info("keep-up: %s: no subscription covers the new bursts", ", ".join(sources))
        return report
    spec = JobSpec(cube_url=cube.url, ard_url=ard_url, storage_options=cube.storage_options, bursts=bursts)
    subs = ", ".join(sorted({m.subscription for m in report.matches}))
    record = make_job_record(spec.model_dump(mode="json"), total=len(bursts))
    report.job_id = record.id
    if jobs is not None:
        jobs.create(record)
        jobs.update(record.id, message=f"keep-up of {', '.join(sources)} for subscriptions {subs}")
    if submit is not None:
        if jobs is None:
            raise InputError("keep-up: submitting to an executor needs a job store (jobs=)")
        submit(spec, record.id)
        report.state = "submitted"
        log.info("keep-up: job %s submitted: %d burst(s) for subscriptions %s", record.id, len(bursts), subs)
        return report
    if jobs is not None:
        jobs.update(record.id, state="running")
    for index, burst in enumerate(spec.bursts):
        try:
            metrics = run_burst(spec, index, engine=engine)
        except Exception as exc:
            if jobs is not None:
                jobs.update(record.id, state="failed",
                            message=f"burst {burst.burst_id}: {type(exc).__name__}: {exc}")
            log.error("keep-up: job %s: burst %s failed: %s", record.id, burst.burst_id, exc)
            raise
        report.chunks_computed += metrics.chunks_computed
        if jobs is not None:
            jobs.record_burst(record.id, burst.burst_id, metrics)
    report.state = "succeeded"
    if jobs is not None:
        jobs.update(record.id, state="succeeded",
                    message=f"keep-up: {report.chunks_computed} chunk(s) computed",
                    result={"chunks_computed": report.chunks_computed})
    return report


__all__ = [
    "SUBSCRIPTIONS",
    "BurstDate",
    "KeepUpMatch",
    "KeepUpReport",
    "SubscribedProduct",
    "Subscription",
    "footprint",
    "keep_up",
    "plan_keep_up",
    "read_subscriptions",
    "is_sqs_event",
    "slc_urls_from_event",
    "sqs_message_event",
    "subscribe",
    "unsubscribe",
    "write_subscriptions",
]
