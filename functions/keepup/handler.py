"""KeepUpFunction (container image): a new SLC zip in ``incoming/`` → ingest → subscribed products.

Triggered by the EventBridge rule on S3 ``Object Created`` (template.yaml); an S3 event
notification works too. The work for the subscriptions that cover the new bursts runs here when
the executor is ``local``, else it is submitted as a job (Step Functions in the deployed stack).
A failure is logged, recorded in the job (state ``failed``) and re-raised: EventBridge retries
the event, then sends it to the dead-letter queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cube.api._lambda import (
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
    from cube.api.app import make_engine, make_executor
    from cube.keepup import keep_up, slc_urls_from_event
    from cube.materialize import make_job_store
    from cube.storage import open_store

    settings = lambda_settings()
    cube = open_store(settings.cube_url, settings.storage_options)
    jobs = make_job_store(settings.resolved_jobs_url())

    def run(event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Keep up with the SLCs the event names; the summary of ``KeepUpReport.as_dict``."""
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

    return make_event_handler(run, tools=tools)


handler = _build()
