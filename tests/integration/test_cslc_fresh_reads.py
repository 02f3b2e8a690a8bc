"""The CSLC deramps in place only into arrays its SLC reader says are its own (``fresh_reads``)."""

from __future__ import annotations

import dataclasses

import numpy as np

from cube.products import BurstStack
from cube.products._cslc import cslc
from cube.products._options import CslcOptions
from cube.storage import list_burst_groups


def test_deramp_overwrites_the_read_array_only_when_reads_are_fresh(tiny_cube):
    burst_id, pol = list_burst_groups(tiny_cube)[0]
    stack = BurstStack(tiny_cube, burst_id, pol)
    date = sorted(stack.dates)[0]
    h, w = stack.grid.height, stack.grid.width
    window = (slice(h // 3, h // 2), slice(w // 3, w // 2))  # its burst window lies inside the burst
    source = stack.slc_source(date, window)
    assert source.fresh_reads  # the stack's reader returns a new array on each call
    reads: list[tuple[np.ndarray, np.ndarray]] = []

    def read(l0: int, l1: int, s0: int, s1: int) -> np.ndarray:
        pixels = stack.read_slc(date, l0, l1, s0, s1)
        reads.append((pixels, pixels.copy()))
        return pixels

    kept = cslc(dataclasses.replace(source, read=read, fresh_reads=False), CslcOptions())
    assert reads and all(np.array_equal(a, b) for a, b in reads)  # a cached array stays as it was
    reads.clear()
    in_place = cslc(dataclasses.replace(source, read=read, fresh_reads=True), CslcOptions())
    assert any(not np.array_equal(a, b) for a, b in reads)  # deramped where it was read
    np.testing.assert_array_equal(in_place, kept)
    assert np.isfinite(kept).mean() > 0.9
