"""moto's AWS server on loopback, for the AWS APIs that have no real local server.

Use it for DynamoDB, Step Functions, ECS, Lambda; S3 tests run on SeaweedFS (``s3_server``)::

    with moto_server() as (endpoint_url, boto3_kwargs):
        client = boto3.client("dynamodb", **boto3_kwargs)

The server runs in a thread of the test process; other processes reach it over HTTP.
moto keeps its state per process, shared by every server in it: use unique resource names.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

REGION = "us-east-1"


class MotoEndpoint(NamedTuple):
    """Where the server listens and how to point boto3 at it."""

    endpoint_url: str
    boto3_kwargs: dict[str, Any]


@contextmanager
def moto_server() -> Iterator[MotoEndpoint]:
    """Start ``moto.server.ThreadedMotoServer`` on 127.0.0.1 (free port); stop it on exit.

    Yields
    ------
    MotoEndpoint
        ``endpoint_url`` (``http://127.0.0.1:<port>``) and ``boto3_kwargs`` for
        ``boto3.client(service, **boto3_kwargs)``: endpoint, region ``us-east-1`` and
        dummy credentials.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        yield MotoEndpoint(endpoint, {
            "endpoint_url": endpoint,
            "region_name": REGION,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        })
    finally:
        server.stop()


__all__ = ["REGION", "MotoEndpoint", "moto_server"]
