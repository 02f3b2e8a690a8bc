"""Injected errors for ``template.yaml``: each one must make the validation chain fail.

Every mutation edits a copy of the loaded template (long-form intrinsics, see
``_chain.load_template``) in place, and asserts that the part it edits is still where it expects,
so a change to the template cannot silently turn a mutation into a no-op.
``python -m tests.infra._mutations`` prints which stages catch each one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.infra._chain import Finding

Template = dict[str, Any]


@dataclass(frozen=True)
class Mutation:
    """An injected error: ``id`` for pytest, ``apply`` edits a template in place.

    ``slow``: only cfn-lint catches it (about 1.5 s a pass) and a faster mutation already shows
    that stage at work; the default test run skips it, ``make test-slow`` runs it.
    """

    id: str
    description: str
    apply: Callable[[Template], None]
    slow: bool = False


def _res(t: Template, name: str) -> dict[str, Any]:
    return t["Resources"][name]


def _props(t: Template, name: str) -> dict[str, Any]:
    return t["Resources"][name]["Properties"]


def _states(t: Template) -> dict[str, Any]:
    return _props(t, "FanoutStateMachine")["Definition"]["States"]


def _burst_task(t: Template) -> dict[str, Any]:
    return _states(t)["FanOut"]["ItemProcessor"]["States"]["RunBurst"]


def _sm_next_to_missing_state(t: Template) -> None:
    fan_out = _states(t)["FanOut"]
    assert fan_out["Next"] == "MarkSucceeded"
    fan_out["Next"] = "MarkSuceeded"


def _sm_catch_to_missing_state(t: Template) -> None:
    catch = _states(t)["FanOut"]["Catch"][0]
    assert catch["Next"] == "MarkFailed"
    catch["Next"] = "MarkJobFailed"


def _sm_map_without_processor(t: Template) -> None:
    del _states(t)["FanOut"]["ItemProcessor"]


def _sm_map_without_concurrency(t: Template) -> None:
    del _states(t)["FanOut"]["MaxConcurrencyPath"]


def _sm_unknown_placeholder(t: Template) -> None:
    params = _states(t)["MarkFailed"]["Parameters"]
    assert params["TableName"] == "${TableName}"
    params["TableName"] = "${JobsTableName}"


def _sm_override_unknown_container(t: Template) -> None:
    override = _burst_task(t)["Parameters"]["Overrides"]["ContainerOverrides"][0]
    assert override["Name"] == "worker"
    override["Name"] = "sarcube-worker"


def _sm_item_selector_drops_field(t: Template) -> None:
    selector = _states(t)["FanOut"]["ItemSelector"]
    assert selector.pop("job_url.$") == "$.job_url"


def _sm_retry_without_backoff(t: Template) -> None:
    retries = _burst_task(t)["Retry"]
    assert retries
    for r in retries:
        r["BackoffRate"] = 0.5


def _sm_task_without_end(t: Template) -> None:
    task = _burst_task(t)
    assert task.pop("End") is True


def _sm_unreachable_state(t: Template) -> None:
    _states(t)["Cleanup"] = {"Type": "Pass", "Next": "Done"}


def _fn_invalid_runtime(t: Template) -> None:
    props = _props(t, "ApiFunction")
    assert props["Runtime"] == "python3.11"
    props["Runtime"] = "python3.99"


def _getatt_missing_resource(t: Template) -> None:
    props = _props(t, "ApiIntegration")
    assert props["IntegrationUri"] == {"Fn::GetAtt": ["ApiFunction", "Arn"]}
    props["IntegrationUri"] = {"Fn::GetAtt": ["ApiHandlerFunction", "Arn"]}


def _ref_missing_parameter(t: Template) -> None:
    props = _props(t, "WorkerTaskDefinition")
    assert props["Memory"] == {"Ref": "WorkerMemory"}
    props["Memory"] = {"Ref": "WorkerMemoryMiB"}


def _image_fn_with_zip_properties(t: Template) -> None:
    props = _props(t, "TilesFunction")
    assert props["PackageType"] == "Image"
    props["Handler"] = "functions.tiles.handler.handler"
    props["Runtime"] = "python3.11"


def _image_fn_command_typo(t: Template) -> None:
    cfg = _props(t, "ZarrFunction")["ImageConfig"]
    assert cfg["Command"] == ["functions.zarr.handler.handler"]
    cfg["Command"] = ["functions.zar.handler.handler"]


def _route_to_missing_api(t: Template) -> None:
    props = _props(t, "TilesRoute")
    assert props["ApiId"] == {"Ref": "HttpApi"}
    props["ApiId"] = {"Ref": "TilesApi"}


def _event_rule_on_missing_bucket(t: Template) -> None:
    pattern = _props(t, "NewSlcZipRule")["EventPattern"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    pattern["detail"]["bucket"]["name"] = [{"Ref": "IncomingBucket"}]


def _policy_on_missing_table(t: Template) -> None:
    (policy,) = _props(t, "ArdFunction")["Policies"]
    statement = next(s for s in policy["Statement"] if s["Sid"] == "ChunkLeasesAndJobRecords")
    assert statement["Resource"] == {"Fn::GetAtt": ["StateTable", "Arn"]}
    statement["Resource"] = {"Fn::GetAtt": ["JobsTable", "Arn"]}


def _policy_template_bad_parameter(t: Template) -> None:
    policies = _props(t, "ZarrFunction")["Policies"]
    assert not any("S3ReadPolicy" in p for p in policies)
    policies.append({"S3ReadPolicy": {"Bucket": {"Ref": "DataBucket"}}})  # the parameter is BucketName


def _layer_missing(t: Template) -> None:
    props = _props(t, "ApiFunction")
    assert props["Layers"] == [{"Ref": "ApiLayer"}]
    props["Layers"] = [{"Ref": "DepsLayer"}]


def _fifo_queue_name_without_suffix(t: Template) -> None:
    props = _props(t, "KeepUpQueue")
    assert props["FifoQueue"] is True and props["QueueName"] == {"Fn::Sub": "${AWS::StackName}-keepup.fifo"}
    props["QueueName"] = {"Fn::Sub": "${AWS::StackName}-keepup"}


def _fifo_target_without_group(t: Template) -> None:
    (target,) = _props(t, "NewSlcZipRule")["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["KeepUpQueue", "Arn"]}
    del target["SqsParameters"]


def _fifo_without_content_dedup(t: Template) -> None:
    props = _props(t, "KeepUpQueue")
    assert props.pop("ContentBasedDeduplication") is True


def _queue_policy_missing(t: Template) -> None:
    assert t["Resources"].pop("KeepUpQueuePolicy")["Type"] == "AWS::SQS::QueuePolicy"


def _fifo_mapping_batching_window(t: Template) -> None:
    props = _props(t, "KeepUpQueueSubscription")
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["KeepUpQueue", "Arn"]}
    props["MaximumBatchingWindowInSeconds"] = 5


def _fifo_dead_letter_queue_standard(t: Template) -> None:
    props = _props(t, "KeepUpDeadLetterQueue")
    assert props.pop("FifoQueue") is True and props.pop("ContentBasedDeduplication") is True
    props["QueueName"] = {"Fn::Sub": "${AWS::StackName}-keepup-dlq"}


def _visibility_below_function_timeout(t: Template) -> None:
    props = _props(t, "KeepUpQueue")
    assert props["VisibilityTimeout"] >= _props(t, "KeepUpFunction")["Timeout"]
    props["VisibilityTimeout"] = 60


def _batch_failures_misspelt(t: Template) -> None:
    props = _props(t, "KeepUpQueueSubscription")
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    props["FunctionResponseTypes"] = ["ReportBatchItemFailure"]


def _throttling_not_a_number(t: Template) -> None:
    settings = _props(t, "HttpApiStage")["DefaultRouteSettings"]
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    settings["ThrottlingBurstLimit"] = "lots"


def _versioning_status_invalid(t: Template) -> None:
    versioning = _props(t, "DataBucket")["VersioningConfiguration"]
    assert versioning == {"Status": "Enabled"}
    versioning["Status"] = "On"


def _reserved_concurrency_negative(t: Template) -> None:
    props = _props(t, "KeepUpFunction")
    assert props["ReservedConcurrentExecutions"] >= 1
    props["ReservedConcurrentExecutions"] = -1


def _log_retention_invalid(t: Template) -> None:
    props = _props(t, "WorkerLogGroup")
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    props["RetentionInDays"] = 45


MUTATIONS: list[Mutation] = [
    Mutation("sm-next-missing-state", "state machine: Next to a state that does not exist",
             _sm_next_to_missing_state),
    Mutation("sm-catch-missing-state", "state machine: Catch to a state that does not exist",
             _sm_catch_to_missing_state),
    Mutation("sm-map-no-item-processor", "state machine: Map state without ItemProcessor/Iterator",
             _sm_map_without_processor),
    Mutation("sm-map-no-concurrency", "state machine: Map state with no concurrency limit",
             _sm_map_without_concurrency),
    Mutation("sm-unknown-placeholder", "state machine: ${...} with no DefinitionSubstitutions entry",
             _sm_unknown_placeholder),
    Mutation("sm-unknown-container", "state machine: overrides a container the task definition lacks",
             _sm_override_unknown_container),
    Mutation("sm-item-selector-drops-field", "state machine: burst task reads a field the Map does not pass",
             _sm_item_selector_drops_field),
    Mutation("sm-retry-backoff-below-1", "state machine: Retry BackoffRate below 1", _sm_retry_without_backoff),
    Mutation("sm-task-no-end", "state machine: a terminal task with neither Next nor End", _sm_task_without_end),
    Mutation("sm-unreachable-state", "state machine: a state nothing leads to", _sm_unreachable_state),
    Mutation("fn-invalid-runtime", "function: Runtime python3.99", _fn_invalid_runtime),
    Mutation("getatt-missing-resource", "Fn::GetAtt on a resource that does not exist", _getatt_missing_resource),
    Mutation("ref-missing-parameter", "Ref to a parameter that does not exist", _ref_missing_parameter, slow=True),
    Mutation("image-fn-with-handler", "image function with zip-only Handler/Runtime", _image_fn_with_zip_properties),
    Mutation("image-fn-command-typo", "image function CMD names a module the image lacks", _image_fn_command_typo),
    Mutation("route-missing-api", "an API route on an API that does not exist", _route_to_missing_api, slow=True),
    Mutation("event-missing-bucket", "keep-up rule filters on a bucket that does not exist",
             _event_rule_on_missing_bucket, slow=True),
    Mutation("policy-missing-table", "policy statement on a table that does not exist",
             _policy_on_missing_table),
    Mutation("policy-template-bad-param", "policy template with a wrong parameter name",
             _policy_template_bad_parameter),
    Mutation("layer-missing", "function uses a layer that does not exist", _layer_missing, slow=True),
    Mutation("log-retention-invalid", "log group retention of 45 days (not an allowed value)",
             _log_retention_invalid, slow=True),
    Mutation("fifo-name-no-suffix", "FIFO queue whose name does not end in .fifo", _fifo_queue_name_without_suffix),
    Mutation("fifo-target-no-group", "EventBridge target on the FIFO queue without a MessageGroupId",
             _fifo_target_without_group),
    Mutation("fifo-no-content-dedup", "FIFO queue fed by EventBridge without content-based deduplication",
             _fifo_without_content_dedup),
    Mutation("queue-policy-missing", "no queue policy lets the rule send to the keep-up queue",
             _queue_policy_missing),
    Mutation("fifo-mapping-batching-window", "batching window on a FIFO event source mapping",
             _fifo_mapping_batching_window),
    Mutation("fifo-dlq-standard", "standard dead-letter queue for the FIFO queue", _fifo_dead_letter_queue_standard,
             slow=True),
    Mutation("visibility-below-timeout", "queue visibility timeout below the function's timeout",
             _visibility_below_function_timeout, slow=True),
    Mutation("batch-failures-misspelt", "FunctionResponseTypes misspelt", _batch_failures_misspelt, slow=True),
    Mutation("throttling-not-a-number", "stage throttling burst limit that is not a number",
             _throttling_not_a_number, slow=True),
    Mutation("versioning-status-invalid", "bucket versioning status 'On'", _versioning_status_invalid, slow=True),
    Mutation("reserved-concurrency-negative", "reserved concurrency -1", _reserved_concurrency_negative, slow=True),
]


def stage_matrix(workdir: Path, ignore: Iterable[Finding] = ()) -> list[tuple[str, list[str]]]:
    """Run every stage on every mutation: (mutation id, stages that caught it).

    Findings in ``ignore`` (those of the unmodified template) do not count.
    """
    from tests.infra._chain import load_template, run_chain, write_template

    base = load_template()
    ignore = list(ignore)
    rows = []
    for m in MUTATIONS:
        t = copy.deepcopy(base)
        m.apply(t)
        path = write_template(t, workdir / f"{m.id}.json")
        rows.append((m.id, run_chain(path, workdir=workdir, ignore=ignore).caught_by()))
    return rows


if __name__ == "__main__":
    import tempfile

    from tests.infra._chain import TEMPLATE, run_chain

    with tempfile.TemporaryDirectory() as tmp:
        baseline = run_chain(TEMPLATE, workdir=Path(tmp)).findings
        for mid, stages in stage_matrix(Path(tmp), baseline):
            print(f"{mid:30s} {', '.join(stages) or 'NOT CAUGHT'}")
