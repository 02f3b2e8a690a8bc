"""KeepUpFunction (container image): a new SLC zip in ``incoming/`` → ingest → subscribed products.

Deployed (template.yaml), S3 ``Object Created`` events go through EventBridge into an SQS FIFO
queue, and the queue feeds this function one message at a time. An SQS event answers
``{"batchItemFailures": [...]}``: a message that failed is named there, so SQS delivers it
again (then, after three receives, moves it to the dead-letter queue) while the others are
deleted. Within a FIFO batch, the messages after a failed one are not run and are named too,
so that the order of the message group holds. An EventBridge event or an S3 event notification
delivered directly works as well; its failure is re-raised (the event source retries it).

The work for the subscriptions that cover the new bursts runs here when the executor is
``local``, else it is submitted as a job (Step Functions in the deployed stack). A failure is
logged, recorded in the job (state ``failed``) and counted (metric ``Failures``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from functions.lambda_glue import (
    Handler,
    add_engine_metrics,
    lambda_settings,
    make_event_handler,
    make_powertools,
    seed_numba_cache,
    tally_delta,
    tally_of,
)


def _build() -> Handler:
    tools = make_powertools()  # first: the cold start logs as JSON too
    seed_numba_cache()  # before the kernels load
    from cube.config import make_engine
    from cube.jobs import make_executor, make_job_store
    from cube.keepup import is_sqs_event, keep_up, slc_urls_from_event, sqs_message_event
    from cube.storage import open_store

    settings = lambda_settings()
    cube = open_store(settings.cube_url, settings.storage_options)
    jobs = make_job_store(settings.resolved_jobs_url())

    def run_one(event: dict[str, Any]) -> dict[str, Any]:
        """Keep up with the SLCs one S3 event names; the summary of ``KeepUpReport.as_dict``."""
        sources = slc_urls_from_event(event)
        engine = make_engine(settings)  # a fresh engine sees the dates this event adds
        submit = None if settings.executor == "local" else make_executor(settings).submit
        before = tally_of(engine)
        try:
            report = keep_up(sources, cube, engine, ard_url=settings.ard_url, jobs=jobs, submit=submit)
        finally:
            add_engine_metrics(tools.metrics, tally_delta(tally_of(engine), before))
        tools.metrics.add_metric(name="BurstDatesIngested", unit=MetricUnit.Count, value=len(report.added))
        summary = report.as_dict()
        tools.logger.info("keep-up done", extra=summary)
        return summary

    def run_batch(records: list[dict[str, Any]]) -> dict[str, Any]:
        """Each SQS message in turn; the failed ones (and, after one, the rest) for SQS to retry."""
        failed: list[dict[str, str]] = []
        for record in records:
            message_id = record["messageId"]
            if failed:  # FIFO: nothing of the group may overtake the failed message
                failed.append({"itemIdentifier": message_id})
                continue
            try:
                event = sqs_message_event(record)
                tools.logger.set_correlation_id(event.get("id") or message_id)
                run_one(event)
            except Exception as exc:
                tools.metrics.add_metric(name="Failures", unit=MetricUnit.Count, value=1)
                tools.logger.exception("message %s failed: %s: %s", message_id, type(exc).__name__, exc)
                failed.append({"itemIdentifier": message_id})
        if failed:
            tools.logger.warning("keep-up: %d of %d message(s) back to the queue", len(failed), len(records))
        return {"batchItemFailures": failed}

    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return run_batch(event["Records"]) if is_sqs_event(event) else run_one(event)

    return make_event_handler(run, tools=tools)


handler = _build()
