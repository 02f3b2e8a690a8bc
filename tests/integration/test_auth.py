"""Who may call the API: API keys, OIDC JWTs (a real JWKS over loopback HTTP), API Gateway claims
(real event JSON through Mangum), and anonymous reads that never start a job.

Every check goes through a real uvicorn and httpx, except the Lambda ones (Mangum, as deployed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cube.api import create_app
from cube.config import Settings
from cube.errors import InputError
from cube.jobs import make_job_record
from cube.storage import list_burst_groups
from tests.integration._users import KEYS, bearer, keys_file, live

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cube_url(tiny_cube) -> str:
    return str(tiny_cube.url)


@pytest.fixture(scope="module")
def burst_id(tiny_cube) -> str:
    return list_burst_groups(tiny_cube)[0][0]


# ---------------------------------------------------------------------------------------- API keys

def test_no_key_and_a_bad_key_are_401_on_every_router(tmp_path, cube_url, burst_id):
    paths = ["/jobs", "/stac/collections", f"/zarr/{burst_id}/backscatter/zarr.json",
             "/point?lon=0&lat=0&product=backscatter", f"/ard/backscatter?burst_id={burst_id}",
             f"/tiles/backscatter/WebMercatorQuad/3/4/2.png?burst_id={burst_id}", "/"]
    with live(tmp_path, cube_url) as s:
        for path in paths:
            r = s.http.get(path)
            assert r.status_code == 401, (path, r.text)
            assert r.json()["code"] == "unauthorized" and "Authorization: Bearer" in r.json()["detail"]
            assert r.headers["www-authenticate"] == "Bearer"
            bad = s.http.get(path, headers={"Authorization": "Bearer not-a-key"})
            assert bad.status_code == 401 and "not valid" in bad.json()["detail"], (path, bad.text)
            basic = s.http.get(path, headers={"Authorization": "Basic YWxpY2U6eA=="})
            assert basic.status_code == 401, path
        # a valid key passes the same routes (their own answers, whatever they are, are not 401)
        for path in paths:
            assert s.http.get(path, headers=bearer("alice")).status_code != 401, path
        assert s.http.get("/stac/collections", headers=bearer("bob")).status_code == 200
        post = s.http.post("/stac/search", json={"limit": 1})
        assert post.status_code == 401


def test_a_key_of_one_user_is_not_another_users(tmp_path, cube_url):
    with live(tmp_path, cube_url) as s:
        near = KEYS["alice"][:-1] + ("0" if KEYS["alice"][-1] != "0" else "1")
        assert s.http.get("/jobs", headers={"Authorization": f"Bearer {near}"}).status_code == 401
        assert s.http.get("/jobs", headers={"Authorization": f"bearer {KEYS['alice']}"}).status_code == 200


def test_no_authentication_configured_refuses_to_start(tmp_path, cube_url, capsys):
    with pytest.raises(InputError, match="--allow-anonymous"):
        create_app(Settings(cube_url=cube_url, jobs_url=str(tmp_path / "j.sqlite")))
    from cube.cli import main

    assert main(["serve", "--cube", cube_url, "--port", "1"]) == 2  # refuses before it listens
    assert "no authentication is configured" in capsys.readouterr().err
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"alice": "plain-text-key"}))
    with pytest.raises(InputError, match="SHA-256"):
        create_app(Settings(cube_url=cube_url, api_keys_file=str(bad)))


def test_sarcube_serve_with_api_keys(tmp_path, cube_url):
    """The CLI's flags reach the app: a real ``sarcube serve --api-keys FILE`` process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SARCUBE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cube.cli", "serve", "--cube", cube_url, "--port", str(port),
         "--api-keys", str(keys_file(tmp_path)), "--log-level", "warning"],
        env={**env, "SARCUBE_JOBS_URL": str(tmp_path / "j.sqlite")}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert r.status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/jobs", headers=bearer("bob")).json() == {"jobs": []}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "identified by API keys; anonymous reads refused" in out


# ---------------------------------------------------------------------------------------- anonymous

def test_anonymous_reads_only_when_allowed_and_never_a_job(tmp_path, cube_url, burst_id):
    with live(tmp_path / "closed", cube_url) as s:
        assert s.http.get("/stac/collections").status_code == 401
    with live(tmp_path / "open", cube_url, allow_anonymous=True, max_chunks_per_request=1) as s:
        assert s.http.get("/stac/collections").status_code == 200
        assert s.http.post("/stac/search", json={"limit": 1}).status_code == 200
        assert s.http.get("/jobs").json() == {"jobs": []}
        body = {"bursts": [{"burst_id": burst_id, "products": [{"product": "backscatter"}]}]}
        r = s.http.post("/jobs", json=body)
        assert r.status_code == 401 and "anonymous" in r.json()["detail"]
        # a read past max_chunks_per_request answers 202 + job to a user, 401 to anonymous
        r = s.http.get(f"/ard/backscatter?burst_id={burst_id}&format=nc")
        assert r.status_code == 401, r.text
        assert "authenticate" in r.json()["detail"] and "narrow the request" in r.json()["detail"]
        # a bad key is not anonymous
        assert s.http.get("/stac/collections", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert s.jobs.list() == []  # nothing started


# ---------------------------------------------------------------------------------------- OIDC JWTs

class _Issuer:
    """An OIDC issuer on loopback: discovery document and JWKS of a fresh RSA key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:8]
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}
        self.hits = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                issuer.hits.append(self.path)
                docs = {"/.well-known/openid-configuration": {"issuer": issuer.url,
                                                              "jwks_uri": f"{issuer.url}/jwks.json"},
                        "/jwks.json": issuer.jwks}
                if self.path not in docs:
                    self.send_error(404)
                    return
                data = json.dumps(docs[self.path]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def token(self, key=None, kid=None, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": "sarcube-client", "sub": "carol", "iat": now, "exp": now + 600,
                   **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def issuer():
    i = _Issuer()
    yield i
    i.close()


def test_jwt_good_expired_wrong_audience_wrong_issuer_wrong_key(tmp_path, cube_url, issuer):
    with live(tmp_path, cube_url, jwt_issuer=issuer.url, jwt_audience="sarcube-client") as s:
        mine = make_job_record({"bursts": []}, owner="carol")
        s.jobs.create(mine)
        s.jobs.create(make_job_record({"bursts": []}, owner="alice"))

        def get(token):
            return s.http.get("/jobs", headers={"Authorization": f"Bearer {token}"})

        good = get(issuer.token())
        assert good.status_code == 200, good.text
        assert [j["id"] for j in good.json()["jobs"]] == [mine.id]  # the user is the token's sub
        cases = {
            "expired": issuer.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
            "wrong audience": issuer.token(aud="another-client"),
            "wrong issuer": issuer.token(iss="http://127.0.0.1:9/other"),
            "no subject": jwt.encode({"iss": issuer.url, "aud": "sarcube-client", "exp": int(time.time()) + 60},
                                     issuer.key, algorithm="RS256", headers={"kid": issuer.kid}),
            "other key": issuer.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "unknown kid": issuer.token(kid="nope"),
            "tampered": issuer.token()[:-4] + "AAAA",
        }
        for name, token in cases.items():
            r = get(token)
            assert r.status_code == 401, (name, r.text)
            assert r.json()["code"] == "unauthorized" and "not valid" in r.json()["detail"], name
        # API keys still work beside JWTs
        assert s.http.get("/jobs", headers=bearer("alice")).status_code == 200
    # discovery and JWKS fetched once each, then cached (the unknown kid refetches the JWKS once)
    assert issuer.hits.count("/.well-known/openid-configuration") == 1
    assert issuer.hits.count("/jwks.json") <= 2


def test_jwt_issuer_down_is_503_not_401(tmp_path, cube_url):
    dead = _Issuer()
    dead.close()
    with live(tmp_path, cube_url, jwt_issuer=dead.url, jwt_audience="sarcube-client") as s:
        r = s.http.get("/jobs", headers={"Authorization": f"Bearer {dead.token()}"})
        assert r.status_code == 503 and r.json()["code"] == "auth_unavailable" and dead.url in r.json()["detail"]


# ---------------------------------------------------------------------------------------- Lambda

def _lambda_event(claims: dict | None) -> dict:
    event = json.loads((REPO / "functions" / "events" / "ard-jobs-list.json").read_text())
    if claims is not None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return event


def test_gateway_claims_are_the_user_on_lambda(tmp_path, cube_url):
    from mangum import Mangum

    app = create_app(Settings(cube_url=cube_url, jobs_url=str(tmp_path / "j.sqlite"), auth_mode="gateway",
                              api_keys_file=str(keys_file(tmp_path))), routers=("jobs",))
    mine = make_job_record({"bursts": []}, owner="dave-sub-123")
    app.state.jobs.create(mine)
    app.state.jobs.create(make_job_record({"bursts": []}, owner="alice"))
    handler = Mangum(app, lifespan="off")

    def call(event):
        response = handler(event, None)
        return response["statusCode"], json.loads(response["body"])

    status, body = call(_lambda_event({"sub": "dave-sub-123", "iss": "https://issuer.example", "aud": "x"}))
    assert status == 200 and [j["id"] for j in body["jobs"]] == [mine.id]
    status, body = call(_lambda_event(None))
    assert status == 401 and "no verified claims" in body["detail"]
    # IAM (SigV4) authorization: the verified caller's ARN
    event = _lambda_event(None)
    event["requestContext"]["authorizer"] = {"iam": {"userArn": "arn:aws:iam::123456789012:user/erin",
                                                     "accountId": "123456789012"}}
    assert call(event) == (200, {"jobs": []})
    # only the gateway's claims count: a valid API key in the header is not trusted here
    event = _lambda_event(None)
    event["headers"]["authorization"] = f"Bearer {KEYS['alice']}"
    assert call(event)[0] == 401


def test_lambda_settings_trust_the_gateway_by_default(monkeypatch):
    from functions.lambda_glue import lambda_settings

    monkeypatch.setenv("SARCUBE_CUBE_URL", "s3://bucket/cube")
    monkeypatch.delenv("SARCUBE_AUTH_MODE", raising=False)
    assert lambda_settings().auth_mode == "gateway"
    monkeypatch.setenv("SARCUBE_AUTH_MODE", "app")
    assert lambda_settings().auth_mode == "app"
