"""``/zarr``: each burst's products as zarr v3 stores over HTTP, computed chunk by chunk.

``GET /zarr/{burst_id}/{product}[/{options}]/{key}``. ``options`` is a path segment of
``name=value`` pairs separated by commas (``window=7x7``, ``quantity=gamma0,db=true``,
``pol=VH``); it is there only when an option differs from its default, because zarr clients
append keys to the URL's path. ``xr.open_zarr("http://host/zarr/t071_151200_iw3/coherence/window=7x7")``.
"""

from __future__ import annotations

import threading

from fastapi import APIRouter, Request, Response

from cube.api._common import engine_of, error, variant_from
from cube.materialize import ProductStore, Tally
from cube.products import Selection

router = APIRouter(tags=["zarr"])
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


@router.get(
    "/zarr/{burst_id}/{product}/{path:path}",
    operation_id="zarr_key",
    summary="A key of a product's zarr v3 store (metadata or a chunk)",
    responses={
        200: {"content": {"application/octet-stream": {}}},
        404: {"description": "no such key (zarr reads the fill value)"},
    },
)
def zarr_key(burst_id: str, product: str, path: str, request: Request) -> Response:
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


router.add_api_route(
    "/zarr/{burst_id}/{product}/{path:path}", zarr_key, methods=["HEAD"], include_in_schema=False
)
