"""What every Lambda handler in ``functions/`` shares: settings, the numba cache, powertools, Mangum.

A handler module builds its app once (the cold start) and exposes ``handler(event, context)``:

- :func:`lambda_settings` reads the ``SARCUBE_*`` environment that template.yaml sets;
- :func:`seed_numba_cache` copies the numba cache built into the image to ``NUMBA_CACHE_DIR``
  (Lambda's code directory is read-only, and numba ignores a read-only cache without a word);
- :func:`make_http_handler` runs an ASGI app behind API Gateway (HTTP API, payload 2.0) with
  Mangum, a structured JSON log line per request carrying the correlation ID
  (``requestContext.requestId``), an X-Ray trace when the SDK is installed, and CloudWatch EMF
  metrics of the chunks the request computed (from the engine's ``totals``);
- :func:`make_event_handler` does the same for an event (EventBridge) handler, and re-raises
  any failure after logging it, so that EventBridge retries and dead-letters the event.

The glue lives here, outside the ``cube`` library (which imports no Mangum and no powertools),
as ``functions.lambda_glue``: the container image copies ``functions/`` beside ``cube/``, and
layers/build.sh copies this module into the ApiLayer (``python/functions/lambda_glue.py``) for
the zip API function. It must not import numba (directly or through ``cube.materialize``): the
zip API function imports it, and numba is not in its layer.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from cube.config import Settings
from cube.errors import InputError

log = logging.getLogger(__name__)

LOGGERS = ("cube", "functions")
"""Loggers whose records powertools formats as JSON: the library's and this glue's."""

Handler = Callable[[dict[str, Any], Any], Any]
"""``handler(event, context)`` as the Lambda runtime calls it."""

NUMBA_CACHE_SRC = "/opt/numba-cache"
"""Where functions/Dockerfile.image builds the numba cache (``SARCUBE_NUMBA_CACHE_SRC`` overrides)."""
COPIED_MARKER = ".sarcube-copied"
"""File left in ``NUMBA_CACHE_DIR`` once the cache is copied (the image entrypoint uses the same)."""

#: CloudWatch metrics of the lazy engine, per invocation: (name, unit, Tally attribute, scale).
ENGINE_METRICS = (
    ("ChunksComputed", MetricUnit.Count, "chunks_computed", 1),
    ("CacheHits", MetricUnit.Count, "hits", 1),
    ("ComputeMs", MetricUnit.Milliseconds, "compute_s", 1000),
    ("BytesRead", MetricUnit.Bytes, "bytes_read", 1),
    ("BytesWritten", MetricUnit.Bytes, "bytes_written", 1),
)


# ---------------------------------------------------------------------------------------- settings


def lambda_settings(**overrides: Any) -> Settings:
    """The API settings of a deployed function, from its ``SARCUBE_*`` environment.

    Two things differ from a plain ``Settings()``: with ``SARCUBE_STATE_MACHINE_ARN`` set and no
    ``SARCUBE_EXECUTOR``, jobs go to the ``aws`` executor (Step Functions), not to a process pool
    inside the function; and without ``SARCUBE_AUTH_MODE`` the caller is who the API Gateway's
    JWT authorizer says (``auth_mode="gateway"``: the ``sub`` of
    ``requestContext.authorizer.jwt.claims``, see `cube.api.auth`). A request without those
    claims is anonymous: refused, or reads only with ``SARCUBE_ALLOW_ANONYMOUS=true`` (a stack
    without an authorizer). Job records go to ``dynamodb://<SARCUBE_JOBS_TABLE>``.

    InputError naming the variables if the environment lacks what the function needs.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        names = ", ".join(f"SARCUBE_{'.'.join(map(str, e['loc'])).upper()}" for e in exc.errors())
        raise InputError(
            f"the function's environment is incomplete or invalid ({names}: {exc.errors()[0]['msg']}); "
            "template.yaml (Globals.Function.Environment) sets these variables"
        ) from None
    update: dict[str, Any] = {}
    if "executor" not in settings.model_fields_set and settings.state_machine_arn:
        update["executor"] = "aws"
    if "auth_mode" not in settings.model_fields_set:
        update["auth_mode"] = "gateway"
    return settings.model_copy(update=update) if update else settings


# ---------------------------------------------------------------------------------------- numba cache


def seed_numba_cache(
    src: str | os.PathLike[str] | None = None, dst: str | os.PathLike[str] | None = None
) -> int:
    """Copy the numba cache built into the image to ``NUMBA_CACHE_DIR``, once per sandbox.

    Parameters
    ----------
    src : the cache built at image build time (default ``SARCUBE_NUMBA_CACHE_SRC`` or
        ``/opt/numba-cache``).
    dst : where numba looks (default ``NUMBA_CACHE_DIR``; template.yaml puts it under ``/tmp``).

    Returns
    -------
    int
        Files copied: 0 when there is nothing to do (no source, no destination, the same folder,
        or a copy already made by this function or by the image entrypoint). A failed copy is
        logged and left to numba, which then compiles on first use (about 1 s per kernel set).
    """
    src = Path(src or os.environ.get("SARCUBE_NUMBA_CACHE_SRC") or NUMBA_CACHE_SRC)
    target = dst or os.environ.get("NUMBA_CACHE_DIR")
    if not target or not src.is_dir():
        return 0
    dst = Path(target)
    if dst.resolve() == src.resolve() or (dst / COPIED_MARKER).exists():
        return 0
    t0 = time.perf_counter()
    files = [p for p in src.rglob("*") if p.is_file()]
    try:
        shutil.copytree(src, dst, dirs_exist_ok=True)
        (dst / COPIED_MARKER).touch()
    except OSError as exc:
        log.warning("numba cache: could not copy %s to %s (%s); kernels compile on first use", src, dst, exc)
        return 0
    log.info("numba cache: copied %d files from %s to %s in %.0f ms", len(files), src, dst,
             1e3 * (time.perf_counter() - t0))
    return len(files)


# ---------------------------------------------------------------------------------------- powertools


@dataclass
class Powertools:
    """The powertools of one function: structured logger, tracer, EMF metrics."""

    logger: Logger
    tracer: Tracer
    metrics: Metrics


def make_powertools(service: str | None = None) -> Powertools:
    """Logger, Tracer and Metrics for ``service`` (default ``POWERTOOLS_SERVICE_NAME``).

    The namespace of the metrics is ``POWERTOOLS_METRICS_NAMESPACE`` (``sarcube``). Records of
    the :data:`LOGGERS` go through the same JSON formatter, correlation ID included. Tracing is
    off where the X-Ray SDK is not installed (it is an optional dependency of powertools).
    """
    logger = Logger(service=service)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logger.log_level)
    copy_config_to_registered_loggers(source_logger=logger, include=set(LOGGERS))
    xray = importlib.util.find_spec("aws_xray_sdk") is not None
    tracer = Tracer(service=service, disabled=None if xray else True)
    metrics = Metrics(service=service)
    return Powertools(logger, tracer, metrics)


def tally_of(engine: Any) -> Any:
    """A copy of the engine's running totals (a ``Tally``), or None without an engine."""
    return None if engine is None else engine.totals_snapshot()


def tally_delta(after: Any, before: Any) -> dict[str, Any]:
    """What the engine did between two :func:`tally_of` snapshots, as plain numbers."""
    computed = after.computed - before.computed
    return {
        "chunks_computed": sum(computed.values()),
        "computed": dict(computed),
        "hits": after.hits - before.hits,
        "compute_s": after.compute_s - before.compute_s,
        "bytes_read": after.bytes_read - before.bytes_read,
        "bytes_written": after.bytes_written - before.bytes_written,
    }


def add_engine_metrics(metrics: Metrics, delta: Mapping[str, Any]) -> None:
    """Add :data:`ENGINE_METRICS` of one invocation; chunks per product go in the metadata."""
    for name, unit, attr, scale in ENGINE_METRICS:
        metrics.add_metric(name=name, unit=unit, value=round(float(delta[attr]) * scale, 3))
    if delta["computed"]:
        metrics.add_metadata(key="chunks_computed_by_product", value=dict(delta["computed"]))


# ---------------------------------------------------------------------------------------- handlers


def make_http_handler(app: Any, *, engine: Any = None, tools: Powertools | None = None) -> Handler:
    """``handler(event, context)`` serving ``app`` to API Gateway HTTP API events (payload 2.0).

    Each invocation logs one JSON line (method, path, status, ms, chunks computed) with the
    request ID as correlation ID. With an ``engine`` (an ``ArdEngine``) it also prints one EMF
    document with :data:`ENGINE_METRICS` for this request (and ``ColdStart`` on the first).
    """
    from mangum import Mangum

    tools = tools or make_powertools()
    asgi = Mangum(app, lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        before = tally_of(engine)
        t0 = time.perf_counter()
        response = asgi(event, context)
        http = (event.get("requestContext") or {}).get("http") or {}
        fields: dict[str, Any] = {
            "method": http.get("method"),
            "path": event.get("rawPath"),
            "status": response.get("statusCode"),
            "ms": round(1e3 * (time.perf_counter() - t0), 1),
        }
        if engine is not None:
            delta = tally_delta(tally_of(engine), before)
            add_engine_metrics(tools.metrics, delta)
            fields.update(chunks_computed=delta["chunks_computed"], cache_hits=delta["hits"])
        tools.logger.info("request", extra=fields)
        return response

    wrapped: Handler = tools.tracer.capture_lambda_handler(handle, capture_response=False)
    if engine is not None:
        wrapped = tools.metrics.log_metrics(wrapped, capture_cold_start_metric=True)
    return tools.logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )


def make_event_handler(
    fn: Callable[[dict[str, Any], Any], Any],
    *,
    tools: Powertools | None = None,
    correlation_id_path: str = correlation_paths.EVENT_BRIDGE,
    failure_metric: str = "Failures",
) -> Handler:
    """``handler(event, context)`` running ``fn`` on an event (EventBridge by default).

    ``fn`` may add metrics to ``tools.metrics``; they are printed as one EMF document when it
    returns or fails. A failure is logged with its traceback, counted as ``failure_metric``,
    and re-raised, so the event source sees it (EventBridge retries, then the dead-letter queue).
    """
    tools = tools or make_powertools()

    def handle(event: dict[str, Any], context: Any) -> Any:
        try:
            return fn(event, context)
        except Exception as exc:
            tools.metrics.add_metric(name=failure_metric, unit=MetricUnit.Count, value=1)
            tools.logger.exception("failed: %s: %s", type(exc).__name__, exc)
            raise

    wrapped: Handler = tools.tracer.capture_lambda_handler(handle, capture_response=False)
    wrapped = tools.metrics.log_metrics(wrapped, capture_cold_start_metric=True)
    return tools.logger.inject_lambda_context(
        wrapped, correlation_id_path=correlation_id_path, clear_state=True
    )


def image_function(routers: tuple[str, ...]) -> tuple[Any, Handler]:
    """(app, handler) of a container-image function serving ``routers`` of the app.

    Powertools first (the cold start logs as JSON too), then the numba cache seeded from the
    image before any kernel loads, then the app.
    """
    tools = make_powertools()
    seed_numba_cache()
    from cube.api.app import create_app

    app = create_app(lambda_settings(), routers=routers)
    return app, make_http_handler(app, engine=app.state.engine, tools=tools)


__all__ = [
    "COPIED_MARKER",
    "ENGINE_METRICS",
    "NUMBA_CACHE_SRC",
    "Handler",
    "LOGGERS",
    "Powertools",
    "add_engine_metrics",
    "image_function",
    "lambda_settings",
    "make_event_handler",
    "make_http_handler",
    "make_powertools",
    "seed_numba_cache",
    "tally_delta",
    "tally_of",
]
