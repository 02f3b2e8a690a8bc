"""The Lambda handlers as deployed: each loads from the path template.yaml names, with the
environment template.yaml sets, against a bucket on SeaweedFS (S3) and the state table on moto's
DynamoDB server, and is fed the event JSON in functions/events/.

A "deployment" here is one stack's data: its own bucket (cube/, ard/, incoming/) holding a cube
ingested from the tiny simulated stack, the DEM beside it, and the shared state table.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.infra import _chain
from tests.integration._moto import moto_server

REPO = _chain.REPO
EVENTS = REPO / "functions" / "events"
STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sarcube-fanout"
SERVICES = ("api", "tiles", "zarr", "ard", "keepup")


def load_event(name: str) -> dict[str, Any]:
    """An event of functions/events/ (a fresh copy: tests may edit it)."""
    return json.loads((EVENTS / name).read_text())


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context`` (the attributes powertools reads)."""

    function_name: str
    memory_limit_in_mb: int = 3008
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "2024/05/24/[$LATEST]0123456789abcdef0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


# ---------------------------------------------------------------------------------------- template


def _resolve(value: Any, names: dict[str, str]) -> str:
    """A template value with ``Ref`` / ``Fn::Sub`` of the stack's names (resources and
    parameters; a parameter not named takes its default) and ``Fn::If`` of its conditions
    resolved."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        if value["Ref"] in names:
            return names[value["Ref"]]
        return str(_chain.load_template()["Parameters"][value["Ref"]]["Default"])
    if "Fn::If" in value:
        condition, then, otherwise = value["Fn::If"]
        left, right = _chain.load_template()["Conditions"][condition]["Fn::Equals"]
        return _resolve(then if _resolve(left, names) == _resolve(right, names) else otherwise, names)
    if "Fn::Sub" in value:
        text = value["Fn::Sub"]
        for key, sub in names.items():
            text = text.replace("${" + key + "}", sub)
        assert "${" not in text, f"unresolved substitution in {text}"
        return text
    raise AssertionError(f"cannot resolve {value}")


def handler_path(function: str) -> tuple[Path, str]:
    """(file, attribute) of a function's handler, as template.yaml names it."""
    props = _chain.load_template()["Resources"][function]["Properties"]
    if props.get("PackageType") == "Image":
        dotted = props["ImageConfig"]["Command"][0]
        module, attr = dotted.rsplit(".", 1)
        return REPO / (module.replace(".", "/") + ".py"), attr
    module, attr = props["Handler"].rsplit(".", 1)
    return REPO / props["CodeUri"] / (module.replace(".", "/") + ".py"), attr


def function_environment(function: str, names: dict[str, str]) -> dict[str, str]:
    """The environment template.yaml gives ``function`` (Globals, then the function's own)."""
    template = _chain.load_template()
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {}))
    return {k: _resolve(v, names) for k, v in env.items()}


@pytest.fixture(scope="package")
def child_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of child interpreters: no SARCUBE_/POWERTOOLS_/NUMBA_ settings of this
    process, and bytecode cached under a temporary prefix, so that each child does not compile
    every module again where PYTHONDONTWRITEBYTECODE is set."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SARCUBE_", "POWERTOOLS_", "NUMBA_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return env


# ---------------------------------------------------------------------------------------- stacks


@pytest.fixture(scope="package")
def moto() -> Iterator[Any]:
    """moto's server on loopback (DynamoDB)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="package")
def state_table(moto: Any) -> str:
    """The stack's single state table (jobs and leases), created as template.yaml defines it."""
    name = f"sarcube-state-{uuid.uuid4().hex[:8]}"
    props = _chain.load_template()["Resources"]["StateTable"]["Properties"]
    client = boto3.client("dynamodb", **moto.boto3_kwargs)
    client.create_table(TableName=name, **{k: props[k] for k in (
        "BillingMode", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes")})
    return name


@dataclass
class Deployment:
    """One stack's data: a bucket with the cube (and the DEM), and the environment of its functions."""

    bucket: str
    table: str
    storage_options: dict[str, Any]
    aws_env: dict[str, str]
    dates: list[int]

    @property
    def cube_url(self) -> str:
        return f"s3://{self.bucket}/cube"

    @property
    def names(self) -> dict[str, str]:
        # the events of functions/events/ come through a gateway without an authorizer
        return {"DataBucket": self.bucket, "StateTable": self.table, "FanoutStateMachine": STATE_MACHINE_ARN,
                "LogLevel": "INFO", "AuthMode": "NONE"}

    def environment(self, function: str) -> dict[str, str]:
        env = function_environment(function, self.names)
        # numba is already loaded in this process with its cache dir; the template's is checked
        # by tests/infra (under /tmp) and the seeding by test_lambda_plumbing.py.
        env.pop("NUMBA_CACHE_DIR")
        return {**env, **self.aws_env}

    def cube(self):
        from cube.storage import open_store

        return open_store(self.cube_url, self.storage_options)

    def ard(self):
        from cube.storage import open_store

        return open_store(f"s3://{self.bucket}/ard", self.storage_options)


class Deployments:
    """Makes deployments (buckets with a cube) and removes them again: the test SeaweedFS server
    has room for a few buckets only (each is a collection with its own volumes)."""

    def __init__(self, s3_server: dict, tiny_stack: Any, moto: Any, table: str):
        import s3fs

        self.options = s3_server["storage_options"]
        self.fs = s3fs.S3FileSystem(**self.options)
        self.aws_env = {**s3_server["env"], "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL_DYNAMODB": moto.endpoint_url, "AWS_ENDPOINT_URL_SFN": moto.endpoint_url}
        self.tiny_stack, self.table = tiny_stack, table

    def make(self, dates: tuple[int, ...] = (0, 1), dem: bool = True) -> Deployment:
        """A new bucket with a cube of those simulated dates (and the DEM, recorded in the cube)."""
        from cube.ingest import ingest

        bucket = f"sarcube-data-{uuid.uuid4().hex[:10]}"
        self.fs.mkdir(bucket)
        d = Deployment(bucket, self.table, self.options, self.aws_env, list(dates))
        store = d.cube()
        ingest([str(self.tiny_stack.safe_paths[i]) for i in dates], store, progress=False,
               storage_options=self.options)
        if dem:
            self.put_dem(d)
        return d

    def put_dem(self, d: Deployment) -> None:
        from cube.products import set_cube_dem

        self.fs.put(str(self.tiny_stack.truth_dir / "dem.tif"), f"{d.bucket}/dem/dem.tif")
        set_cube_dem(d.cube(), f"s3://{d.bucket}/dem/dem.tif")

    def drop(self, d: Deployment) -> None:
        """Delete the bucket and everything in it."""
        self.fs.invalidate_cache()
        objects = self.fs.find(d.bucket)
        if objects:
            self.fs.rm(objects)
        self.fs.rmdir(d.bucket)


@pytest.fixture(scope="package")
def deployments(s3_server: dict, tiny_stack: Any, moto: Any, state_table: str) -> Deployments:
    return Deployments(s3_server, tiny_stack, moto, state_table)


@pytest.fixture
def make_deployment(deployments: Deployments) -> Iterator[Callable[..., Deployment]]:
    """``make_deployment(dates=(0, 1), dem=True)``: a deployment removed after the test."""
    made: list[Deployment] = []

    def make(dates: tuple[int, ...] = (0, 1), dem: bool = True) -> Deployment:
        made.append(deployments.make(dates, dem))
        return made[-1]

    yield make
    for d in made:
        deployments.drop(d)


# ---------------------------------------------------------------------------------------- handlers


@pytest.fixture
def lambda_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ModuleType]]:
    """``lambda_function("ZarrFunction", deployment, **env)``: the handler module, loaded as a cold
    start of that function (its environment set, its file loaded from the template's path).

    Afterwards the loggers powertools configured are reset, so that the next load (another
    sandbox) configures them again and nothing leaks into other tests.
    """
    from aws_lambda_powertools.logging import logger as pt_logger
    from aws_lambda_powertools.metrics.provider import cold_start

    loaded: list[str] = []

    def load(function: str, deployment: Deployment, **env: str) -> ModuleType:
        for key, value in {**deployment.environment(function), **env}.items():
            monkeypatch.setenv(key, value)
        pt_logger.is_cold_start = True
        cold_start.is_cold_start = True
        path, attr = handler_path(function)
        name = f"sarcube_lambda_{function}_{len(loaded)}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        loaded.append(name)
        spec.loader.exec_module(module)
        assert callable(getattr(module, attr))
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
    for name in (*SERVICES, "cube", "functions"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
        lg.setLevel(logging.NOTSET)
        for attr in ("init", "powertools_handler", "powertools_buffer_config", "powertools_buffer_cache"):
            if hasattr(lg, attr):
                delattr(lg, attr)
    for handler in logging.root.handlers:
        for f in list(handler.filters):
            if type(f).__name__ == "SuppressFilter":
                handler.removeFilter(f)


def stdout_documents(out: str) -> tuple[list[dict], list[dict]]:
    """(log records, EMF documents) among the JSON lines a handler printed."""
    logs, emf = [], []
    for line in out.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        (emf if "_aws" in doc else logs).append(doc)
    return logs, emf


def emf_metrics(doc: dict) -> dict[str, tuple[Any, str]]:
    """Metric name → (value, unit) of one EMF document."""
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    out = {}
    for m in directive["Metrics"]:
        value = doc[m["Name"]]
        if isinstance(value, list):  # powertools writes each value as a one-element list
            (value,) = value
        out[m["Name"]] = (value, m["Unit"])
    return out


def body_bytes(response: dict[str, Any]) -> bytes:
    """The body API Gateway would send: base64-decoded when flagged, decompressed per Content-Encoding."""
    raw = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"].encode()
    encoding = {k.lower(): v for k, v in response.get("headers", {}).items()}.get("content-encoding")
    if encoding == "br":
        import brotli

        return brotli.decompress(raw)
    if encoding == "gzip":
        import gzip

        return gzip.decompress(raw)
    assert encoding in (None, "identity"), encoding
    return raw
