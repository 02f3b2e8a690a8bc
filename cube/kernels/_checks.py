"""Argument checks shared by the public kernel wrappers (plain numpy, no numba)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def array(
    x: object,
    name: str,
    dtypes: Sequence[type[np.generic]],
    ndim: int | None = None,
    contiguous: bool = True,
) -> np.ndarray:
    """Return ``x`` as a C-contiguous ndarray after checking its dtype and dimensions.

    The dtype is never converted: a wrong dtype raises ``ValueError`` naming ``name``.
    A non-contiguous array is copied once (the numba loops are compiled for C order only),
    unless ``contiguous`` is False: then it is returned as it is (see :func:`lines`).
    """
    a = np.asarray(x)
    allowed = tuple(np.dtype(d) for d in dtypes)
    if a.dtype not in allowed:
        names = " or ".join(d.name for d in allowed)
        raise ValueError(f"{name} must have dtype {names}, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return np.ascontiguousarray(a) if contiguous else a


def lines(a: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """A 2-D image as (buffer, stride) for loops that read its lines in place.

    ``buffer`` is a read-only 1-D C-contiguous view of the image's memory from its first pixel
    to its last, line i starting at element i·``stride``. A window of a larger C-order image
    (each line contiguous, lines in order) is viewed without a copy; any other layout (a
    column step, Fortran order, reversed or broadcast lines) is copied once to C order.
    ``name`` is the parameter's name (for error messages).
    """
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    rows, cols = a.shape
    size = a.itemsize
    if a.size == 0:
        return np.empty(0, a.dtype), cols
    step, line = a.strides
    in_place = (cols == 1 or line == size) and (rows == 1 or (step >= cols * size and step % size == 0))
    if not in_place:
        a = np.ascontiguousarray(a)
    stride = a.strides[0] // size if rows > 1 else cols
    n = (rows - 1) * stride + cols
    return np.lib.stride_tricks.as_strided(a, shape=(n,), strides=(size,), writeable=False), stride


def complex_pair(
    ref: object, sec: object
) -> tuple[tuple[np.ndarray, int], tuple[np.ndarray, int], tuple[int, int]]:
    """Two complex64 images of one shape as :func:`lines` views: ``(rb, ldr), (sb, lds), shape``."""
    r = array(ref, "ref", [np.complex64], ndim=2, contiguous=False)
    s = array(sec, "sec", [np.complex64], ndim=2, contiguous=False)
    if r.shape != s.shape:
        raise ValueError(f"ref and sec must have the same shape, got {r.shape} and {s.shape}")
    return lines(r, "ref"), lines(s, "sec"), (r.shape[0], r.shape[1])


def looked(shape: tuple[int, int], looks: object) -> tuple[int, int, int, int]:
    """``(az, rg, ny, nx)``: the looks and the multilooked shape of an image of ``shape``."""
    az, rg = pair(looks, "looks")
    ny, nx = shape[0] // az, shape[1] // rg
    if ny == 0 or nx == 0:
        raise ValueError(f"looks {(az, rg)} are larger than the image shape {shape}")
    return az, rg, ny, nx


def vector(x: object, name: str, size: int | None = None) -> np.ndarray:
    """Return ``x`` as a contiguous 1-D float64 array of finite values (small parameter arrays)."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if size is not None and a.size != size:
        raise ValueError(f"{name} must have {size} values, got {a.size}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must contain only finite values")
    return a


def increasing(a: np.ndarray, name: str) -> None:
    """Raise ``ValueError`` unless the 1-D array ``a`` is strictly increasing."""
    if a.size > 1 and not np.all(np.diff(a) > 0):
        raise ValueError(f"{name} must be strictly increasing")


def pair(x: object, name: str, odd: bool = False) -> tuple[int, int]:
    """Return ``x`` as two positive ints (azimuth, range); ``odd`` also requires odd values."""
    wrong = f"{name} must be a pair (azimuth, range) of positive ints, got {x!r}"
    if not isinstance(x, Iterable):
        raise ValueError(wrong)
    try:
        a, b = x
    except (TypeError, ValueError):
        raise ValueError(wrong) from None
    out = []
    for v in (a, b):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(wrong)
        if odd and v % 2 == 0:
            raise ValueError(f"{name} must hold odd sizes so the window is centred, got {x!r}")
        out.append(int(v))
    return out[0], out[1]


def scalar(x: object, name: str, positive: bool = False) -> float:
    """Return ``x`` as a finite float (``positive``: also > 0)."""
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}") from None
    if not np.isfinite(v) or (positive and v <= 0):
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"{name} must be {kind}, got {x!r}")
    return v


def output(out: np.ndarray | None, name: str, shape: tuple[int, ...], dtype: type[np.generic]) -> np.ndarray:
    """Return ``out`` checked against ``shape``/``dtype`` (C-contiguous), or a new empty array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(out).__name__}")
    if out.dtype != np.dtype(dtype) or out.shape != tuple(shape):
        raise ValueError(
            f"{name} must be a {np.dtype(dtype).name} array of shape {tuple(shape)}, "
            f"got {out.dtype} {out.shape}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be a writeable C-contiguous array")
    return out
