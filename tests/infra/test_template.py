"""template.yaml: the offline chain (cfn-lint → SAM transform → cfn-lint → state machine checks)
passes on it, fails on every injected error, and the translated stack is what the design asks for.

The expectations below (routes, environment, prefixes, key schema) are written from the design,
not read back from the template.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra import _chain
from tests.infra._mutations import MUTATIONS, Mutation, stage_matrix

# The design: which function serves which route (route key → logical ID of the function).
EXPECTED_ROUTES = {
    "ANY /stac": "ApiFunction",
    "ANY /stac/{proxy+}": "ApiFunction",
    "GET /": "ApiFunction",
    "GET /viewer/static/{proxy+}": "ApiFunction",
    # point/zonal and jobs read ARD through the lazy engine (numba): the ARD image function.
    "ANY /jobs": "ArdFunction",
    "ANY /jobs/{proxy+}": "ArdFunction",
    "ANY /point": "ArdFunction",
    "ANY /zonal": "ArdFunction",
    "ANY /tiles/{proxy+}": "TilesFunction",
    "ANY /zarr/{proxy+}": "ZarrFunction",
    "ANY /ard/{proxy+}": "ArdFunction",
}
OPEN_ROUTES = {"GET /", "GET /viewer/static/{proxy+}"}  # the viewer's page and files
IMAGE_HANDLERS = {
    "TilesFunction": "functions.tiles.handler.handler",
    "ZarrFunction": "functions.zarr.handler.handler",
    "ArdFunction": "functions.ard.handler.handler",
    "KeepUpFunction": "functions.keepup.handler.handler",
}
ENV_NAMES = {
    "SARCUBE_CUBE_URL", "SARCUBE_ARD_URL", "SARCUBE_LOCK_TABLE", "SARCUBE_JOBS_TABLE",
    "SARCUBE_STATE_MACHINE_ARN", "NUMBA_CACHE_DIR", "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL",
}
# Actions AWS only grants on "*" (log delivery for Step Functions' vended logs).
STAR_RESOURCE_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


# Least privilege, by what each one's code does (functions/*/handler.py, cube.api, cube.keepup,
# cube.jobs): (action, what on). "s3 P" is the object prefix P of the data bucket; "bucket",
# "table", "index/by_created", "state machine", "queue" are the bucket itself, the state table,
# its job index, the fan-out and the keep-up queue. Every reader may list the bucket (key names):
# S3 answers a missing object 404 rather than 403 only to a caller that may, and the code reads
# absent chunks and an absent STAC index as absent (an s3:prefix condition cannot apply to the
# HeadObject behind that answer).
_LIST = {("s3:ListBucket", "bucket")}
_READ_CUBE_AND_ARD = {("s3:GetObject", "s3 cube/*"), ("s3:GetObject", "s3 ard/*")} | _LIST
_WRITE_ARD = {("s3:PutObject", "s3 ard/*")}
_LEASES = {(a, "table") for a in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")}
_START_JOBS = {("s3:PutObject", "s3 jobs/*"), ("states:StartExecution", "state machine")}
LEAST_PRIVILEGE = {
    # STAC reads the cube's index (cube/catalog/index.sqlite), the viewer is packaged: read-only.
    "ApiFunction": {("s3:GetObject", "s3 cube/catalog/*")} | _LIST,
    # Tiles past the chunk budget answer 202 with a job.
    "TilesFunction": _READ_CUBE_AND_ARD | _WRITE_ARD | _LEASES | _START_JOBS,
    "ZarrFunction": _READ_CUBE_AND_ARD | _WRITE_ARD | _LEASES,
    "ArdFunction": _READ_CUBE_AND_ARD | _WRITE_ARD | _LEASES | _START_JOBS | {("dynamodb:Query", "index/by_created")},
    # Ingest (writes the cube, its index, maybe removes what it replaces), then submits the job.
    "KeepUpFunction": {("s3:GetObject", "s3 incoming/*"), ("s3:GetObject", "s3 cube/*"), ("s3:GetObject", "s3 ard/*"),
                       ("s3:PutObject", "s3 cube/*"), ("s3:DeleteObject", "s3 cube/*")} | _LIST | _LEASES | _START_JOBS
                      | {(a, "queue") for a in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                                                "sqs:GetQueueAttributes")},
    # A burst task: reads its job file, the cube and ARD; writes ARD chunks; leases and its metrics.
    "WorkerTask": {("s3:GetObject", "s3 cube/*"), ("s3:GetObject", "s3 ard/*"), ("s3:GetObject", "s3 jobs/*"),
                   ("s3:GetBucketLocation", "bucket")} | _LIST | _WRITE_ARD | _LEASES,
}
#: Managed policies a function role may carry: logs and X-Ray only (nothing on "*" that reads data).
FUNCTION_MANAGED_POLICIES = {"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
                             "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> _chain.ChainResult:
    """Every stage of the chain on the real template, once per module (cfn-lint takes ~1.5 s a pass)."""
    return _chain.run_chain(_chain.TEMPLATE, workdir=tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return _chain.load_template()


@pytest.fixture(scope="module")
def cfn(base: _chain.ChainResult) -> dict[str, Any]:
    assert base.translated is not None, "the SAM transform failed: " + "; ".join(map(str, base.errors))
    return base.translated


def _resources(cfn: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in cfn["Resources"].items() if v["Type"] == kind}


# ---------------------------------------------------------------------------------------- the chain


def test_chain_passes_on_the_template(base: _chain.ChainResult) -> None:
    assert base.stages_run == list(_chain.STAGES)
    assert not base.warnings, "\n".join(map(str, base.warnings))
    assert not base.errors, "\n".join(map(str, base.errors))


@pytest.mark.parametrize("mutation", [pytest.param(m, id=m.id, marks=[pytest.mark.slow] if m.slow else [])
                                      for m in MUTATIONS])
def test_injected_error_fails_the_chain(mutation: Mutation, sam: dict[str, Any], base: _chain.ChainResult,
                                        tmp_path: Path) -> None:
    template = copy.deepcopy(sam)
    mutation.apply(template)
    path = _chain.write_template(template, tmp_path / "template.json")
    # Findings the unmodified template already has do not count as catching the mutation.
    result = _chain.run_chain(path, fail_fast=True, workdir=tmp_path, ignore=base.findings)
    assert result.errors, f"not caught: {mutation.description} (stages run: {result.stages_run})"


@pytest.mark.slow
def test_every_stage_on_every_mutation(base: _chain.ChainResult, tmp_path: Path) -> None:
    """The full matrix (2.5-10 min): which stages catch which injected error.

    Measured: cfn-lint on the SAM template alone catches 12 of the 32, the chain all 32. Caught by
    one stage only: 7 by the state-machine checks, 5 by the queue checks, 3 by cfn-lint on the
    translation, 1 by the translator, 1 by the build-input checks.
    """
    rows = stage_matrix(tmp_path, base.findings)
    print("\n".join(f"{mid:30s} {', '.join(stages)}" for mid, stages in rows))
    assert all(stages for _, stages in rows), [mid for mid, stages in rows if not stages]
    assert len({mid for mid, _ in rows}) == len(rows) >= 10


def test_translation_needs_no_aws(monkeypatch: pytest.MonkeyPatch, sam: dict[str, Any]) -> None:
    """The translator runs with no credentials and an unroutable endpoint: nothing calls AWS."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    out, findings = _chain.translate(_chain.package_locally(sam))
    assert not findings and out is not None
    assert "Transform" not in out and not any(r["Type"].startswith("AWS::Serverless::") for r in out["Resources"].values())


# ---------------------------------------------------------------------------------------- the stack


def test_routes_go_to_the_functions_of_the_design(cfn: dict[str, Any]) -> None:
    integrations = _resources(cfn, "AWS::ApiGatewayV2::Integration")
    served = {}
    for route in _resources(cfn, "AWS::ApiGatewayV2::Route").values():
        p = route["Properties"]
        assert p["ApiId"] == {"Ref": "HttpApi"}
        target = re.fullmatch(r"integrations/\$\{(\w+)\}", p["Target"]["Fn::Sub"])
        assert target, p["Target"]
        integration = integrations[target.group(1)]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
        served[p["RouteKey"]] = integration["IntegrationUri"]["Fn::GetAtt"][0]
    assert served == EXPECTED_ROUTES
    # API Gateway may invoke each function that serves a route.
    permitted = {p["Properties"]["FunctionName"]["Ref"] for p in _resources(cfn, "AWS::Lambda::Permission").values()
                 if p["Properties"]["Principal"] == "apigateway.amazonaws.com"}
    assert permitted == set(EXPECTED_ROUTES.values())


def _condition(cfn: dict[str, Any], name: str, params: dict[str, str]) -> bool:
    """Evaluate a condition of the template (Fn::Equals/Not/And/Or on parameters)."""

    def ev(x: Any) -> Any:
        if isinstance(x, dict) and len(x) == 1:
            (fn, arg), = x.items()
            if fn == "Ref":
                return params.get(arg, cfn["Parameters"].get(arg, {}).get("Default"))
            if fn == "Fn::Equals":
                return ev(arg[0]) == ev(arg[1])
            if fn == "Fn::Not":
                return not ev(arg[0])
            if fn == "Fn::And":
                return all(ev(a) for a in arg)
            if fn == "Fn::Or":
                return any(ev(a) for a in arg)
            if fn == "Condition":
                return _condition(cfn, arg, params)
        return x

    return bool(ev(cfn["Conditions"][name]))


def _value(cfn: dict[str, Any], x: Any, params: dict[str, str]) -> Any:
    """Resolve Fn::If on conditions; AWS::NoValue becomes None."""
    if isinstance(x, dict) and "Fn::If" in x:
        cond, yes, no = x["Fn::If"]
        return _value(cfn, yes if _condition(cfn, cond, params) else no, params)
    if x == {"Ref": "AWS::NoValue"}:
        return None
    return x


@pytest.mark.parametrize(("mode", "auth_type"), [("NONE", "NONE"), ("JWT", "JWT"), ("IAM", "AWS_IAM")])
def test_auth_mode_protects_every_data_route(cfn: dict[str, Any], mode: str, auth_type: str) -> None:
    params = {"AuthMode": mode}
    authorizer = cfn["Resources"]["JwtAuthorizer"]
    assert _condition(cfn, authorizer["Condition"], params) == (mode == "JWT")
    assert authorizer["Properties"]["JwtConfiguration"] == {"Issuer": {"Ref": "JwtIssuer"},
                                                            "Audience": {"Ref": "JwtAudience"}}
    for route in _resources(cfn, "AWS::ApiGatewayV2::Route").values():
        p = route["Properties"]
        kind = _value(cfn, p["AuthorizationType"], params)
        authorizer_id = _value(cfn, p.get("AuthorizerId"), params)
        if p["RouteKey"] in OPEN_ROUTES:
            assert (kind, authorizer_id) == ("NONE", None)
        else:
            assert kind == auth_type, p["RouteKey"]
            assert authorizer_id == ({"Ref": "JwtAuthorizer"} if mode == "JWT" else None), p["RouteKey"]
    # JWT mode refuses to deploy without an issuer and an audience.
    rule = cfn["Rules"]["JwtNeedsIssuerAndAudience"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "AuthMode"}, "JWT"]}
    asserted = json.dumps(rule["Assertions"])
    assert "JwtIssuer" in asserted and "JwtAudience" in asserted


def test_functions_are_packaged_as_designed(cfn: dict[str, Any]) -> None:
    functions = _resources(cfn, "AWS::Lambda::Function")
    api = functions["ApiFunction"]["Properties"]
    assert (api["Runtime"], api["Handler"], api.get("PackageType", "Zip")) == ("python3.11", "handler.handler", "Zip")
    layers = _resources(cfn, "AWS::Lambda::LayerVersion")
    assert len(api["Layers"]) == 1 and api["Layers"][0]["Ref"] in layers
    assert next(iter(layers.values()))["Properties"]["CompatibleRuntimes"] == ["python3.11"]
    for name, handler in IMAGE_HANDLERS.items():
        p = functions[name]["Properties"]
        assert p["PackageType"] == "Image" and "Runtime" not in p and "Handler" not in p
        assert p["ImageConfig"]["Command"] == [handler]
    assert set(functions) == {"ApiFunction", *IMAGE_HANDLERS}


def test_image_functions_build_from_the_lambda_dockerfile(sam: dict[str, Any]) -> None:
    for name in IMAGE_HANDLERS:
        meta = sam["Resources"][name]["Metadata"]
        assert (meta["Dockerfile"], meta["DockerContext"]) == ("functions/Dockerfile.image", ".")
        assert meta["DockerTag"]


def test_every_function_gets_the_environment(cfn: dict[str, Any]) -> None:
    bucket_urls = {"SARCUBE_CUBE_URL": "s3://${DataBucket}/cube", "SARCUBE_ARD_URL": "s3://${DataBucket}/ard"}
    services = set()
    for name, fn in _resources(cfn, "AWS::Lambda::Function").items():
        env = fn["Properties"]["Environment"]["Variables"]
        assert ENV_NAMES <= set(env), f"{name} lacks {sorted(ENV_NAMES - set(env))}"
        for var, url in bucket_urls.items():
            assert env[var] == {"Fn::Sub": url}, (name, var)
        assert env["SARCUBE_LOCK_TABLE"] == env["SARCUBE_JOBS_TABLE"] == {"Ref": "StateTable"}
        assert env["SARCUBE_STATE_MACHINE_ARN"] == {"Ref": "FanoutStateMachine"}
        assert env["NUMBA_CACHE_DIR"].startswith("/tmp/")  # Lambda's only writable place
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "sarcube"
        assert env["LOG_LEVEL"] == {"Ref": "LogLevel"}
        services.add(env["POWERTOOLS_SERVICE_NAME"])
    assert len(services) == len(IMAGE_HANDLERS) + 1  # one service name per function


def test_every_log_group_has_the_retention_and_every_log_goes_to_one(cfn: dict[str, Any]) -> None:
    groups = _resources(cfn, "AWS::Logs::LogGroup")
    assert groups
    for name, g in groups.items():
        assert g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    assert cfn["Parameters"]["LogRetentionDays"]["Default"] == 30
    # Nothing logs to a group the stack does not own (Lambda would create one with no retention).
    for name, fn in _resources(cfn, "AWS::Lambda::Function").items():
        assert fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups, name
    (task,) = _resources(cfn, "AWS::ECS::TaskDefinition").values()
    for c in task["Properties"]["ContainerDefinitions"]:
        assert c["LogConfiguration"]["Options"]["awslogs-group"]["Ref"] in groups
    for sm in _resources(cfn, "AWS::StepFunctions::StateMachine").values():
        for d in sm["Properties"]["LoggingConfiguration"]["Destinations"]:
            assert d["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0] in groups
    (stage,) = _resources(cfn, "AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0] in groups


def _statements(cfn: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for name, role in _resources(cfn, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            out += [(name, s) for s in policy["PolicyDocument"]["Statement"]]
    return out


def test_policies_are_scoped_to_the_stack(cfn: dict[str, Any]) -> None:
    statements = _statements(cfn)
    assert statements
    for role, s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert s["Effect"] == "Allow"
        assert not any(a == "*" or a.endswith(":*") for a in actions), (role, actions)
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        if "*" in resources:
            assert set(actions) <= STAR_RESOURCE_ACTIONS, (role, actions)
            continue
        text = json.dumps(resources)
        for service, owner in (("s3:", "DataBucket"), ("dynamodb:", "StateTable"),
                               ("states:", "FanoutStateMachine")):
            if any(a.startswith(service) for a in actions):
                assert owner in text, (role, actions, resources)
    roles = _resources(cfn, "AWS::IAM::Role")
    assert {f"{fn}Role" for fn in LEAST_PRIVILEGE} <= set(roles)


def test_bucket_table_and_keep_up_rule(cfn: dict[str, Any]) -> None:
    bucket = cfn["Resources"]["DataBucket"]["Properties"]
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True

    table = cfn["Resources"]["StateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("pk", "HASH"), ("sk", "RANGE")}
    assert {(a["AttributeName"], a["AttributeType"]) for a in table["AttributeDefinitions"]} == {
        ("pk", "S"), ("sk", "S"), ("created", "S")}
    # cube.materialize: leases carry "ttl" (epoch s) for deletion; jobs are listed by the index.
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by_created"
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [("sk", "HASH"), ("created", "RANGE")]

    (rule,) = _resources(cfn, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    (key_filter,) = pattern["detail"]["object"]["key"]
    assert key_filter == {"wildcard": "incoming/*.zip"}
    # The rule feeds the keep-up queue, not the function (see test_keep_up_is_serialized_by_a_fifo_queue).
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Fn::GetAtt": ["KeepUpQueue", "Arn"]}]


def test_table_matches_what_the_job_and_lease_stores_create() -> None:
    """cube.materialize creates this table in its tests: the deployed one must have the same keys."""
    from cube.storage import dynamodb_table_spec

    spec = dynamodb_table_spec("sarcube-state")
    table = _chain.load_template()["Resources"]["StateTable"]["Properties"]
    for key in ("BillingMode", "KeySchema", "GlobalSecondaryIndexes"):
        assert table[key] == spec[key], key
    assert sorted(map(json.dumps, table["AttributeDefinitions"])) == sorted(map(json.dumps, spec["AttributeDefinitions"]))


def test_outputs(cfn: dict[str, Any]) -> None:
    outputs = cfn["Outputs"]
    assert outputs["ApiUrl"]["Value"] == {"Fn::GetAtt": ["HttpApi", "ApiEndpoint"]}
    assert outputs["DataBucketName"]["Value"] == {"Ref": "DataBucket"}
    assert outputs["StateMachineArn"]["Value"] == {"Ref": "FanoutStateMachine"}
    assert outputs["StateTableName"]["Value"] == {"Ref": "StateTable"}


# ---------------------------------------------------------------------------------------- state machine


def _definition(cfn: dict[str, Any], **params: Any) -> dict[str, Any]:
    props = cfn["Resources"]["FanoutStateMachine"]["Properties"]
    return json.loads(_chain.definition_text(props, cfn, {**_chain.OFFLINE_PARAMETERS, **params}))


def test_state_machine_fans_out_one_worker_task_per_burst(cfn: dict[str, Any]) -> None:
    d = _definition(cfn)
    fan_out = d["States"]["FanOut"]
    assert fan_out["Type"] == "Map" and fan_out["ItemsPath"] == "$.bursts"
    assert fan_out["ItemSelector"]["burst_index.$"] == "States.Format('{}', $$.Map.Item.Index)"
    task = fan_out["ItemProcessor"]["States"]["RunBurst"]
    assert task["Resource"] == "arn:aws:states:::ecs:runTask.sync"
    p = task["Parameters"]
    assert p["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == _chain.OFFLINE_PARAMETERS["SubnetIds"]
    assert p["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"] == \
        _chain.OFFLINE_PARAMETERS["SecurityGroupIds"]
    (override,) = p["Overrides"]["ContainerOverrides"]
    # The image's entrypoint is sarcube-worker; these are its arguments (see test_containers.py).
    assert override["Command.$"] == "States.Array('--job', $.job_url, '--burst-index', $.burst_index)"
    # The failure path: Catch → mark the job failed in DynamoDB → Fail.
    failed = d["States"][fan_out["Catch"][0]["Next"]]
    assert failed["Resource"] == "arn:aws:states:::dynamodb:updateItem"
    assert failed["Parameters"]["Key"]["pk"] == {"S.$": "States.Format('job#{}', $.job_id)"}
    assert failed["Parameters"]["ExpressionAttributeValues"][":failed"] == {"S": "failed"}
    assert d["States"][failed["Next"]]["Type"] == "Fail"


@pytest.mark.parametrize("concurrency", [1, 7, 40])
def test_max_concurrency_parameter_reaches_the_map(cfn: dict[str, Any], concurrency: int) -> None:
    d = _definition(cfn, MaxConcurrency=concurrency, BurstTimeoutSeconds=900)
    prepared = d["States"][d["StartAt"]]["Parameters"]
    assert prepared["max_concurrency.$"] == f"States.StringToJson('{concurrency}')"
    assert prepared["burst_timeout.$"] == "States.StringToJson('900')"
    assert d["States"]["FanOut"]["MaxConcurrencyPath"] == "$.max_concurrency"
    assert not _chain.check_state_machine("FanoutStateMachine", cfn["Resources"]["FanoutStateMachine"]["Properties"],
                                          cfn, {**_chain.OFFLINE_PARAMETERS, "MaxConcurrency": concurrency})


def test_state_machine_check_rejects_concurrency_out_of_range(cfn: dict[str, Any]) -> None:
    props = cfn["Resources"]["FanoutStateMachine"]["Properties"]
    found = _chain.check_state_machine("FanoutStateMachine", props, cfn,
                                       {**_chain.OFFLINE_PARAMETERS, "MaxConcurrency": 41})
    assert [f.rule for f in found] == ["map-concurrency"]


# ---------------------------------------------------------------------------------------- issue 11: trust


def _grants(cfn: dict[str, Any], role: str) -> set[tuple[str, str]]:
    """(action, what on) of a role's inline policies, in the notation of :data:`LEAST_PRIVILEGE`."""
    names = {json.dumps({"Fn::GetAtt": ["DataBucket", "Arn"]}): "bucket",
             json.dumps({"Fn::GetAtt": ["StateTable", "Arn"]}): "table",
             json.dumps({"Fn::Sub": "${StateTable.Arn}/index/by_created"}): "index/by_created",
             json.dumps({"Ref": "FanoutStateMachine"}): "state machine",
             json.dumps({"Fn::GetAtt": ["KeepUpQueue", "Arn"]}): "queue"}
    out = set()
    for r, st in _statements(cfn):
        if r != role:
            continue
        assert st["Effect"] == "Allow"
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for action in actions:
            for res in resources:
                sub = res.get("Fn::Sub", "") if isinstance(res, dict) else ""
                if isinstance(sub, str) and sub.startswith("${DataBucket.Arn}/"):
                    out.add((action, f"s3 {sub.removeprefix('${DataBucket.Arn}/')}"))
                else:
                    out.add((action, names.get(json.dumps(res), json.dumps(res))))
    return out


@pytest.mark.parametrize("who", sorted(LEAST_PRIVILEGE))
def test_each_role_has_exactly_what_its_code_uses(cfn: dict[str, Any], who: str) -> None:
    assert _grants(cfn, f"{who}Role") == LEAST_PRIVILEGE[who]


def test_the_stac_function_reads_the_index_and_nothing_else(cfn: dict[str, Any]) -> None:
    grants = _grants(cfn, "ApiFunctionRole")
    assert {a for a, _ in grants} == {"s3:GetObject", "s3:ListBucket"}  # read-only
    assert not any(a.startswith(("dynamodb:", "states:", "sqs:")) for a, _ in grants)
    assert {w for a, w in grants if a == "s3:GetObject"} == {"s3 cube/catalog/*"}
    # cube.catalog reads exactly this object, under that prefix.
    from cube.catalog import INDEX_PATH

    assert fnmatch.fnmatchcase(f"cube/{INDEX_PATH}", "cube/catalog/*")


def test_no_worker_or_function_deletes_outside_what_it_ingests(cfn: dict[str, Any]) -> None:
    """Workers write ARD chunks once and keep their leases in DynamoDB: no s3:DeleteObject at
    all, on cube/ least of all. Only keep-up deletes, and only in the cube it ingests into."""
    deleters = {r: w for r, st in _statements(cfn) for a in (st["Action"] if isinstance(st["Action"], list)
                                                              else [st["Action"]])
                if a in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:*")
                for w in [json.dumps(st["Resource"])]}
    assert "WorkerTaskRole" not in deleters
    assert set(deleters) == {"KeepUpFunctionRole"} and "cube/*" in deleters["KeepUpFunctionRole"]


def test_function_roles_carry_no_broad_managed_policy(cfn: dict[str, Any]) -> None:
    """SAM's SQS event gives AWSLambdaSQSQueueExecutionRole (every queue); the mapping is plain, its
    permission scoped to the keep-up queue."""
    for fn in _resources(cfn, "AWS::Lambda::Function"):
        managed = set(map(json.dumps, cfn["Resources"][f"{fn}Role"]["Properties"].get("ManagedPolicyArns", [])))
        allowed = {json.dumps(a) for a in FUNCTION_MANAGED_POLICIES} | {
            json.dumps({"Fn::Sub": a.replace("arn:aws:", "arn:${AWS::Partition}:")}) for a in FUNCTION_MANAGED_POLICIES}
        assert managed <= allowed, (fn, managed - allowed)


def test_auth_mode_defaults_to_jwt(cfn: dict[str, Any]) -> None:
    param = cfn["Parameters"]["AuthMode"]
    assert param["Default"] == "JWT" and param["AllowedValues"] == ["NONE", "JWT", "IAM"]
    # With the defaults every data route asks for a token, and a JWT deploy needs an issuer and an
    # audience, whose defaults are empty: NONE must be chosen on purpose, or the stack refuses.
    assert _condition(cfn, "UseJwt", {}) and not _condition(cfn, "UseIam", {})
    for route in _resources(cfn, "AWS::ApiGatewayV2::Route").values():
        p = route["Properties"]
        if p["RouteKey"] not in OPEN_ROUTES:
            assert _value(cfn, p["AuthorizationType"], {}) == "JWT", p["RouteKey"]
    assert cfn["Parameters"]["JwtIssuer"]["Default"] == "" and cfn["Parameters"]["JwtAudience"]["Default"] == ""
    assert "JwtNeedsIssuerAndAudience" in cfn["Rules"]


def test_the_stage_throttles_every_route(cfn: dict[str, Any]) -> None:
    (stage,) = _resources(cfn, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings == {"ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
                        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}
    rate, burst = (cfn["Parameters"][n] for n in ("ApiThrottlingRateLimit", "ApiThrottlingBurstLimit"))
    assert 1 <= rate["Default"] <= 1000 and rate["Default"] <= burst["Default"] <= 5000
    assert rate["MinValue"] >= 1 and burst["MinValue"] >= 1
    # No route overrides the stage's default with something looser.
    assert "RouteSettings" not in stage["Properties"]


def test_every_function_has_reserved_concurrency(cfn: dict[str, Any]) -> None:
    total = 0
    for name, fn in _resources(cfn, "AWS::Lambda::Function").items():
        value = fn["Properties"].get("ReservedConcurrentExecutions")
        assert value is not None, name
        if isinstance(value, dict):
            param = cfn["Parameters"][value["Ref"]]
            assert param["Type"] == "Number" and param["MinValue"] >= 1, name  # 0 would disable the function
            value = param["Default"]
        assert isinstance(value, int) and value >= 1, name
        total += value
    # The account keeps at least 100 unreserved out of its default 1000.
    assert total <= 900


def test_the_bucket_is_versioned_and_old_versions_expire(cfn: dict[str, Any]) -> None:
    bucket = cfn["Resources"]["DataBucket"]
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["DeletionPolicy"] == "Retain"
    rules = [r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"] if r["Status"] == "Enabled"]
    (noncurrent,) = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert "Prefix" not in noncurrent and "Filter" not in noncurrent  # the whole bucket
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "NoncurrentVersionExpirationDays"}}
    param = cfn["Parameters"]["NoncurrentVersionExpirationDays"]
    assert param["MinValue"] >= 1 and param["Default"] >= 7
    assert any(r.get("ExpiredObjectDeleteMarker") is True for r in rules)


def test_keep_up_is_serialized_by_a_fifo_queue(cfn: dict[str, Any]) -> None:
    resources = cfn["Resources"]
    queue = resources["KeepUpQueue"]["Properties"]
    assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is True
    assert queue["QueueName"]["Fn::Sub"].endswith(".fifo")
    fn = resources["KeepUpFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= fn["Timeout"]
    # Its dead-letter queue is FIFO too, and takes a message after a few receives.
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["KeepUpDeadLetterQueue", "Arn"]}
    assert 1 <= redrive["maxReceiveCount"] <= 5
    assert resources["KeepUpDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    # New zips: the rule → the queue, all in one message group (EventBridge sets a static one).
    (rule,) = _resources(cfn, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["KeepUpQueue", "Arn"]} and target["SqsParameters"]["MessageGroupId"]
    (policy,) = _resources(cfn, "AWS::SQS::QueuePolicy").values()
    (stmt,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert stmt["Principal"] == {"Service": "events.amazonaws.com"} and stmt["Action"] == "sqs:SendMessage"
    assert stmt["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": [next(iter(
        _resources(cfn, "AWS::Events::Rule"))), "Arn"]}
    # The queue → the function, one message per invocation, failed messages reported one by one.
    mappings = list(_resources(cfn, "AWS::Lambda::EventSourceMapping").values())
    (mapping,) = mappings
    p = mapping["Properties"]
    assert p["EventSourceArn"] == {"Fn::GetAtt": ["KeepUpQueue", "Arn"]}
    assert p["FunctionName"] == {"Ref": "KeepUpFunction"}
    assert p["BatchSize"] == 1 and p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Nothing else invokes keep-up: no rule targets the function, no permission for another service.
    for r in _resources(cfn, "AWS::Events::Rule").values():
        assert all("KeepUpFunction" not in json.dumps(t["Arn"]) for t in r["Properties"]["Targets"])
    assert not [x for x in _resources(cfn, "AWS::Lambda::Permission").values()
                if x["Properties"]["FunctionName"] == {"Ref": "KeepUpFunction"}]


def test_request_limits_fit_the_gateway(cfn: dict[str, Any]) -> None:
    """Lambda returns at most 6 MB; a request waits less than its function's timeout, which is
    inside the HTTP API's 30 s integration limit; a crashed computation blocks others 30 s."""
    integrations = _resources(cfn, "AWS::ApiGatewayV2::Integration")
    for integration in integrations.values():
        fn = cfn["Resources"][integration["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]]["Properties"]
        env = fn["Environment"]["Variables"]
        assert float(env["SARCUBE_MAX_RESPONSE_MB"]) * 4 / 3 <= 6  # base64 bodies
        assert float(env["SARCUBE_WAIT_S"]) == 20 < fn["Timeout"] <= 29
        assert float(env["SARCUBE_LEASE_TTL_S"]) < float(env["SARCUBE_WAIT_S"])
        assert fn["Timeout"] * 1000 <= integration["Properties"]["TimeoutInMillis"] <= 30000
    assert len(integrations) == 4
