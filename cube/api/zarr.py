"""``/zarr``: each burst's products as zarr v3 stores over HTTP, computed chunk by chunk.

``GET /zarr/{burst_id}/{product}[/{options}]/{key}``. ``options`` is a path segment of
``name=value`` pairs separated by commas (``window=7x7``, ``quantity=gamma0,db=true``,
``pol=VH``); it is there only when an option differs from its default, because zarr clients
append keys to the URL's path. ``xr.open_zarr("http://host/zarr/t071_151200_iw3/coherence/window=7x7")``.

A zarr client reads a store key by key, a request per chunk: :class:`ZarrKeys` serves them
without FastAPI's per-request work (routing through included routers, dependency injection,
parameter validation: some 0.3 ms of CPU a request, a fifth of what a stored 2 MB chunk costs the
server; ``zarr_http_throughput`` in docs/performance.md). The caller is checked by the app's
`Authenticator` as every route's is, and errors go to the app's handlers (``{code, detail}``).
The OpenAPI document describes the operation with the router of :func:`make_zarr_router`, built
when the document is (or when a request under ``/zarr`` is not a key's ``GET`` or ``HEAD``: 404,
405).
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path, get_route_path
from starlette.types import Receive, Scope, Send

from cube.api._common import engine_of, error, variant_from
from cube.api.auth import check_caller
from cube.materialize import ProductStore, Tally
from cube.products import Selection

PATH = "/zarr/{burst_id}/{product}/{path:path}"
_LOCK = threading.Lock()
_MAX_STORES = 4096


def product_store(request: Request, burst_id: str, product: str, segment: str) -> ProductStore:
    """The (cached) store of a burst's product variant; ``pol=`` in the segment picks the polarization.

    Kept by the variant and also by the request's own words (burst, product, segment), so a chunk
    request of an open store parses no options.
    """
    cache = request.app.state.product_stores
    said = (burst_id, product, segment)
    with _LOCK:
        store = cache.get(said)
    if store is not None:
        return store
    parts = [p for p in segment.split(",") if p]
    pol = next((p.split("=", 1)[1] for p in parts if p.lower().startswith("pol=")), "VV").upper()
    variant = variant_from(product, ",".join(p for p in parts if not p.lower().startswith("pol=")))
    key = (burst_id, pol, variant)
    with _LOCK:
        store = cache.get(key)
    if store is None:
        store = ProductStore(engine_of(request), burst_id, pol, variant)
    with _LOCK:
        if len(cache) > _MAX_STORES:  # bounded however many ways a request spells its store
            cache.clear()
        cache.setdefault(key, store)
        cache[said] = cache[key]
        return cache[key]


def serve_key(request: Request, burst_id: str, product: str, path: str) -> Response:
    """Serve ``zarr.json`` documents and chunks; a missing chunk is computed, stored, then served.

    The response header ``X-Sarcube-Chunks-Computed`` counts the chunks this request computed
    (dependencies included: a coherence chunk may compute CSLC chunks).
    """
    parts = path.split("/")
    if any(p in ("", ".", "..") or "\\" in p for p in parts) or path.startswith("/"):
        return error(400, "bad_key", f"key {path!r} is outside the store (no '..', '.', empty parts)")
    segment = parts.pop(0) if "=" in parts[0] else ""
    if not parts:
        return error(404, "not_found", f"{path!r} names no key; open the store at its URL with a zarr client")
    store = product_store(request, burst_id, product, segment)
    key = "/".join(parts)
    chunk = store.chunk_of(key) if store.variant.options.made_by_job else None
    if chunk is not None and (engine_of(request).state(*chunk) != "present" or not store.current(*chunk)):
        from cube.api._plan import job_reason, start_job  # the job side only when a job is needed

        ref, i, j = chunk
        grid = store.grid
        selection = Selection(ref.burst_id, ref.polarization, ref.variant, (ref.dates,), grid.window_of(None))
        return start_job(request, [selection], reason=job_reason([selection]))
    tally = Tally()
    data = store.fetch(key, tally)
    if data is None:
        return error(404, "not_found", f"no key {key!r} in {burst_id}/{product}")
    media = "application/json" if key.endswith("zarr.json") else "application/octet-stream"
    headers = {
        "X-Sarcube-Chunks-Computed": str(tally.chunks_computed),
        "Cache-Control": "no-cache" if key.endswith("zarr.json") else "public, max-age=60",
    }
    body = b"" if request.method == "HEAD" else data
    return Response(body, media_type=media, headers={**headers, "Content-Length": str(len(data))})


class ZarrKeys(BaseRoute):
    """``GET`` and ``HEAD`` of ``/zarr/{burst_id}/{product}/{path}``: :func:`serve_key` in the thread pool.

    The caller is checked first (`check_caller`, as every route's); a raised error reaches the
    app's handlers. Other methods on those paths are left to the documented router (405).
    """

    path_format = PATH.replace(":path", "")

    def __init__(self) -> None:
        self.path_regex = compile_path(PATH)[0]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """FULL for a GET or HEAD of a key of a product's store, with its path parameters."""
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            found = self.path_regex.match(get_route_path(scope))  # as Starlette's routes match
            if found:
                return Match.FULL, {"path_params": {**scope.get("path_params", {}), **found.groupdict()}}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        """No named routes here (the documented operation is ``zarr_key``)."""
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the caller, serve the key, send the answer."""
        request = Request(scope, receive)
        await check_caller(request)
        p = scope["path_params"]
        response = await run_in_threadpool(serve_key, request, p["burst_id"], p["product"], p["path"])
        await response(scope, receive, send)


def make_zarr_router() -> APIRouter:
    """The ``/zarr`` keys as FastAPI routes: the OpenAPI description of what :class:`ZarrKeys` serves.

    Requests reach them only where ZarrKeys leaves them (other methods: 405).
    """
    router = APIRouter(tags=["zarr"])

    @router.get(
        PATH,
        operation_id="zarr_key",
        summary="A key of a product's zarr v3 store (metadata or a chunk)",
        description=inspect.cleandoc(serve_key.__doc__ or ""),
        responses={
            200: {"content": {"application/octet-stream": {}}},
            404: {"description": "no such key (zarr reads the fill value)"},
        },
    )
    def zarr_key(burst_id: str, product: str, path: str, request: Request) -> Response:
        return serve_key(request, burst_id, product, path)

    router.add_api_route(PATH, zarr_key, methods=["HEAD"], include_in_schema=False)
    return router
