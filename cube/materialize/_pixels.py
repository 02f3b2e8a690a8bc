"""Pixel gathering.

An array's values at scattered pixels, or on a strided window, read chunk by chunk through the
engine (absent chunks are computed first; chunks holding no requested pixel are not read). Used by
the map tiles.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from cube.materialize._engine import Tally
from cube.products import ArdArray


class ChunkSource(Protocol):
    """What the gathering reads chunks from: :class:`ArdEngine`, or a cache in front of it."""

    def chunk(self, ref: ArdArray, i: int, j: int, tally: Tally | None = None) -> np.ndarray:
        """Chunk (i, j) of ``ref``, decoded and cropped to the product grid."""
        ...


def read_pixels(
    engine: ChunkSource,
    ref: ArdArray,
    rows: np.ndarray,
    cols: np.ndarray,
    tally: Tally | None = None,
) -> np.ndarray:
    """The array's values at integer pixel positions (1-D int ``rows``, ``cols`` inside its product grid).

    Each chunk holding one of them is read once. Returns the variant's dtype, shape of ``rows``.
    """
    variant = ref.variant
    out = np.empty(rows.shape, variant.dtype)
    if rows.size == 0:
        return out
    cy, cx = variant.chunks
    per_row = int(cols.max()) // cx + 1  # chunk key (i, j) → i·per_row + j, unique per chunk
    key = (rows // cy) * per_row + cols // cx
    present = np.flatnonzero(np.bincount(key))
    if present.size <= 32:  # a tile near its native zoom: a few chunks, one mask each
        groups = ((k, np.flatnonzero(key == k)) for k in present)
    else:  # zoomed out: many chunks, one sort
        order = np.argsort(key, kind="stable")
        cuts = np.flatnonzero(np.diff(key[order])) + 1
        groups = (
            (key[order[a]], order[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, key.size], strict=True)
        )
    for k, idx in groups:
        i, j = divmod(int(k), per_row)
        block = engine.chunk(ref, i, j, tally)
        out[idx] = block[rows[idx] - i * cy, cols[idx] - j * cx]
    return out


def read_strided(
    engine: ChunkSource,
    ref: ArdArray,
    window: tuple[slice, slice],
    step: int,
    tally: Tally | None = None,
) -> np.ndarray:
    """Every ``step``-th pixel (centred in each step × step block) of a product-grid window of one array.

    Returns the variant's dtype, shape (⌈rows/step⌉, ⌈cols/step⌉).
    """
    variant = ref.variant
    rr, cc = _samples(window[0], step), _samples(window[1], step)
    cy, cx = variant.chunks
    out = np.empty((rr.size, cc.size), variant.dtype)
    for i in np.unique(rr // cy):
        rsel = np.flatnonzero(rr // cy == i)
        for j in np.unique(cc // cx):
            csel = np.flatnonzero(cc // cx == j)
            block = engine.chunk(ref, int(i), int(j), tally)
            out[np.ix_(rsel, csel)] = block[np.ix_(rr[rsel] - i * cy, cc[csel] - j * cx)]
    return out


def _samples(span: slice, step: int) -> np.ndarray:
    """The indices :func:`read_strided` reads in ``span``.

    One per block of ``step``, at the block's centre (the last, partial block's centre clipped into
    the span). int64 (n,).
    """
    n = -(-(span.stop - span.start) // step)
    return np.minimum(span.start + step // 2 + step * np.arange(n), span.stop - 1)
