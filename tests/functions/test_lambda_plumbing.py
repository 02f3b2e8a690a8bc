"""What every function shares: the numba cache seeding, settings from the template's environment,
the handler paths the image's CMD names, and events that match the template's routes and rule."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pytest

from cube.errors import InputError
from functions.lambda_glue import COPIED_MARKER, lambda_settings, seed_numba_cache
from tests.functions.conftest import EVENTS, REPO, STATE_MACHINE_ARN, function_environment, handler_path
from tests.infra import _chain

#: Which function an event file feeds, by the file's prefix.
EVENT_FUNCTIONS = {"api": "ApiFunction", "zarr": "ZarrFunction", "tiles": "TilesFunction",
                   "ard": "ArdFunction", "keepup": "KeepUpFunction"}


def _child(code: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> dict:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         env=env, cwd=cwd, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


# ---------------------------------------------------------------------------------------- numba cache

def test_seeding_has_nothing_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    (src / "k").mkdir(parents=True)
    (src / "k" / "a.nbi").write_bytes(b"x")
    assert seed_numba_cache(tmp_path / "absent", tmp_path / "dst") == 0
    assert seed_numba_cache(src, src) == 0
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("SARCUBE_NUMBA_CACHE_SRC", str(src))
    assert seed_numba_cache() == 0  # nowhere to copy to
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "dst"))
    assert seed_numba_cache() == 1 and (tmp_path / "dst" / "k" / "a.nbi").read_bytes() == b"x"
    # The image entrypoint's copy leaves the same marker: the handler does not copy again.
    other = tmp_path / "entrypoint-copied"
    other.mkdir()
    (other / COPIED_MARKER).touch()
    assert seed_numba_cache(src, other) == 0 and not (other / "k").exists()


# ---------------------------------------------------------------------------------------- settings


def _template_env(monkeypatch: pytest.MonkeyPatch, function: str = "ArdFunction") -> dict[str, str]:
    names = {"DataBucket": "sarcube-data-x", "StateTable": "sarcube-state-x",
             "FanoutStateMachine": STATE_MACHINE_ARN, "LogLevel": "INFO"}
    env = function_environment(function, names)
    for key in [k for k in os.environ if k.startswith("SARCUBE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_settings_from_the_template_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _template_env(monkeypatch)
    s = lambda_settings()
    assert s.cube_url == "s3://sarcube-data-x/cube" and s.ard_url == "s3://sarcube-data-x/ard"
    assert "SARCUBE_JOBS_URL" not in env  # records: the table; job files: s3://<bucket>/jobs
    assert s.resolved_jobs_url() == "dynamodb://sarcube-state-x"
    assert s.lock_table == "sarcube-state-x"
    assert s.executor == "aws" and s.state_machine_arn == STATE_MACHINE_ARN
    monkeypatch.setenv("SARCUBE_EXECUTOR", "local")
    assert lambda_settings().executor == "local"  # an explicit choice stands


def test_settings_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    _template_env(monkeypatch)
    monkeypatch.delenv("SARCUBE_CUBE_URL")
    with pytest.raises(InputError, match="SARCUBE_CUBE_URL"):
        lambda_settings()
    _template_env(monkeypatch)
    monkeypatch.setenv("SARCUBE_JOBS_URL", "dynamodb://records")
    assert lambda_settings().resolved_jobs_url() == "dynamodb://records"


# ---------------------------------------------------------------------------------------- handler paths


def test_image_commands_import_and_seed_the_numba_cache(child_env: dict[str, str], tmp_path: Path) -> None:
    """A cold start as the image runs it: cube/ and functions/ on PYTHONPATH (/var/task), a
    numba cache built elsewhere (the image's /opt/numba-cache) and an empty NUMBA_CACHE_DIR.
    Each ImageConfig.Command imports and names a callable handler; the first one copies the
    cache, and a kernel then loads from it instead of compiling."""
    from cube.kernels import multilook

    multilook(np.ones((8, 8), np.float32), (2, 2))  # the kernel is in this process's cache
    built = Path(os.environ["NUMBA_CACHE_DIR"])
    seeded = tmp_path / "tmp-numba-cache"
    resources = _chain.load_template()["Resources"]
    commands = {name: r["Properties"]["ImageConfig"]["Command"][0] for name, r in resources.items()
                if r["Type"] == "AWS::Serverless::Function" and r["Properties"].get("PackageType") == "Image"}
    assert set(commands) == {"TilesFunction", "ZarrFunction", "ArdFunction", "KeepUpFunction"}
    env = {**child_env, "PYTHONPATH": str(REPO), "SARCUBE_CUBE_URL": str(tmp_path / "cube"),
           "SARCUBE_NUMBA_CACHE_SRC": str(built), "NUMBA_CACHE_DIR": str(seeded)}
    result = _child(f"""
        import importlib, json, os
        import numpy as np
        out = {{"handlers": {{}}}}
        for name, command in {commands!r}.items():
            module, attr = command.rsplit(".", 1)
            m = importlib.import_module(module)
            out["handlers"][name] = [m.__file__, callable(getattr(m, attr))]
        from cube.kernels import _multilook, multilook
        multilook(np.ones((8, 8), np.float32), (2, 2))
        stats = _multilook._multilook.stats
        out["hits"] = sum(stats.cache_hits.values())
        out["misses"] = sum(stats.cache_misses.values())
        print("RESULT " + json.dumps(out))
    """, env, tmp_path)
    for name, (path, is_callable) in result["handlers"].items():
        assert is_callable, name
        assert Path(path) == handler_path(name)[0], name
    assert (seeded / COPIED_MARKER).is_file()
    assert result["hits"] >= 1 and result["misses"] == 0, result


# ---------------------------------------------------------------------------------------- events


def _routes() -> dict[str, str]:
    """Route key → function of template.yaml's HTTP API."""
    resources = _chain.load_template()["Resources"]
    functions = {}
    for name, r in resources.items():
        if r["Type"] == "AWS::ApiGatewayV2::Integration":
            functions[name] = r["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
    out = {}
    for r in resources.values():
        if r["Type"] == "AWS::ApiGatewayV2::Route":
            integration = r["Properties"]["Target"]["Fn::Sub"].removeprefix("integrations/${").removesuffix("}")
            out[r["Properties"]["RouteKey"]] = functions[integration]
    return out


def _check_object_created(event: dict) -> None:
    """An EventBridge event the keep-up rule (template.yaml NewSlcZipRule) matches."""
    pattern = _chain.load_template()["Resources"]["NewSlcZipRule"]["Properties"]["EventPattern"]
    assert event["source"] in pattern["source"] and event["detail-type"] in pattern["detail-type"]
    (key_filter,) = pattern["detail"]["object"]["key"]
    assert fnmatch.fnmatchcase(event["detail"]["object"]["key"], key_filter["wildcard"])
    assert event["resources"] == [f"arn:aws:s3:::{event['detail']['bucket']['name']}"]


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_event_matches_what_the_template_delivers(path: Path) -> None:
    event = json.loads(path.read_text())
    function = EVENT_FUNCTIONS[path.stem.split("-", 1)[0]]
    if event.get("version") == "2.0":
        routes = _routes()
        assert routes[event["routeKey"]] == function, f"{event['routeKey']} is not routed to {function}"
        ctx = event["requestContext"]
        assert ctx["routeKey"] == event["routeKey"] and ctx["stage"] == "$default"
        assert ctx["http"]["path"] == event["rawPath"]
        method, pattern = event["routeKey"].split(" ", 1)
        assert method in ("ANY", ctx["http"]["method"])
        if pattern.endswith("{proxy+}"):
            prefix = pattern.removesuffix("{proxy+}")
            assert event["rawPath"].startswith(prefix) and event["pathParameters"] == {
                "proxy": event["rawPath"][len(prefix):]}
        else:
            assert event["rawPath"] == pattern and "pathParameters" not in event
        query = {}
        for k, v in parse_qsl(event["rawQueryString"], keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
        assert event.get("queryStringParameters", {}) == query
        assert all(k == k.lower() for k in event["headers"])  # HTTP APIs lower-case header names
        assert event["headers"]["host"] == ctx["domainName"]
        assert int(event["headers"].get("content-length", "0")) == len(event.get("body") or "")
        assert event["isBase64Encoded"] is False
    elif "detail-type" in event:
        _check_object_created(event)
    elif event["Records"][0].get("eventSource") == "aws:sqs":
        # What the keep-up FIFO queue delivers: the rule's event as the body, in the rule's
        # message group, deduplicated by the body's SHA-256 (content-based deduplication).
        resources = _chain.load_template()["Resources"]
        (record,) = event["Records"]
        queue = resources["KeepUpQueue"]["Properties"]
        assert record["eventSourceARN"].endswith(queue["QueueName"]["Fn::Sub"].removeprefix("${AWS::StackName}"))
        (target,) = resources["NewSlcZipRule"]["Properties"]["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": ["KeepUpQueue", "Arn"]}
        assert record["attributes"]["MessageGroupId"] == target["SqsParameters"]["MessageGroupId"]
        body = record["body"].encode()
        assert queue["ContentBasedDeduplication"] is True
        assert record["attributes"]["MessageDeduplicationId"] == hashlib.sha256(body).hexdigest()
        assert record["md5OfBody"] == hashlib.md5(body).hexdigest()
        _check_object_created(json.loads(body))
    else:
        (record,) = event["Records"]
        assert record["eventSource"] == "aws:s3" and record["eventName"].startswith("ObjectCreated:")
        assert fnmatch.fnmatchcase(record["s3"]["object"]["key"], "incoming/*.zip")
