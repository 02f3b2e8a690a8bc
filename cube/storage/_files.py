"""Durable local file writes: a temporary ``*.partial`` file, fsynced, renamed into place."""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Any

PARTIAL_SUFFIX = ".partial"
"""Suffix of the temporary files local writes rename into place (zarr's LocalStore uses it too)."""


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or create inside directory ``path`` durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_partial(path: str, data: Any) -> str:
    """Write ``data`` to a new ``<path>.<random>.partial`` and fsync it; its name."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_file_durably(path: str | os.PathLike[str], data: Any, *, sync_dir: bool = True) -> None:
    """Write ``data`` (bytes-like) to ``path`` through ``<path>.<random>.partial``.

    Write, fsync, rename into place, then (``sync_dir``) fsync the directory.

    A crash leaves either the old file or the new one, whole; at worst a stray ``*.partial``
    (``sarcube verify --repair`` removes old ones). Without ``sync_dir`` a crash soon after
    may lose the rename itself (the file then still holds its old bytes, or is absent).
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    tmp = write_partial(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if sync_dir:
        fsync_dir(directory)
