"""A bare ASGI app: the files of the folder ``$BARE_ROOT`` over HTTP, with no framework.

``uvicorn _bare_asgi:app`` serves ``GET /<relative path>`` as the file's bytes (404 if there is
none). ``zarr_http_throughput`` runs it over a copy of a product store's keys: the floor of any
server that answers zarr keys from Python under uvicorn on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("BARE_ROOT", ".")).resolve()


async def app(scope, receive, send) -> None:
    """Answer a GET with the file's bytes, anything else with 404."""
    path = (ROOT / scope["path"].lstrip("/")).resolve()
    body, status = b"", 404
    if scope["method"] == "GET" and path.is_relative_to(ROOT) and path.is_file():
        body, status = path.read_bytes(), 200
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
