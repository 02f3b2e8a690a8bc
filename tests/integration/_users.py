"""Users and API keys for the authentication tests: a keys file and a live app per test."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import httpx
from _live import serve

from cube.api import create_app
from cube.config import Settings

#: user → API key (the file holds the SHA-256 of each, computed here with hashlib)
KEYS = {"alice": "alice-key-7f3a9c", "bob": "bob-key-51e0d2"}
#: the ``api_keys`` setting of `KEYS`
API_KEYS = {u: hashlib.sha256(k.encode()).hexdigest() for u, k in KEYS.items()}


def keys_file(folder: Path) -> Path:
    """A JSON API keys file of `KEYS`: {"user": "<sha256 hex of the key>"}."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "api-keys.json"
    path.write_text(json.dumps(API_KEYS))
    return path


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[user]}"}


@contextlib.contextmanager
def live(folder: Path, cube_url: str, **settings):
    """create_app on a real uvicorn, with API keys of `KEYS` unless ``settings`` say otherwise."""
    base = {"cube_url": cube_url, "ard_url": str(folder / "ard.zarr"), "jobs_url": str(folder / "jobs.sqlite"),
            "api_keys_file": str(keys_file(folder))}
    app = create_app(Settings(**{**base, **settings}))
    with serve(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield SimpleNamespace(app=app, url=url, http=client, jobs=app.state.jobs)
