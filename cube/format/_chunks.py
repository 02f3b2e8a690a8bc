"""The chunk encoding of sarcube's zarr v3 arrays: codecs ``bytes`` (little endian) + ``zstd`` + ``crc32c``.

The SLC cube (``ingest``) and the ARD store (``cube.materialize``) both write it; the CRC-32C of
the compressed bytes is appended little endian. Readers here check every chunk before they
decode it, and decode it without zarr-python.
"""

from __future__ import annotations

import functools
import struct
from typing import TYPE_CHECKING

import google_crc32c

from cube.errors import CorruptChunkError

if TYPE_CHECKING:
    import numcodecs
    import numpy as np


@functools.cache
def zstd_codec(level: int = 3) -> numcodecs.Zstd:
    """The Zstd codec at ``level``, imported on first use (serving a chunk needs only its crc32c).

    Decoding does not depend on the level.
    """
    import numcodecs

    return numcodecs.Zstd(level=level)


def check_chunk(raw: bytes) -> memoryview:
    """The compressed payload of a stored chunk whose crc32c matches; CorruptChunkError if not.

    Costs one CRC-32C over the stored bytes (hardware-accelerated; no decompression) and no copy:
    the CRC of the payload extended by its own 4 CRC bytes equals the CRC of the whole chunk
    exactly when the payload's CRC is the stored one. The payload is a view of ``raw``.
    """
    if len(raw) < 5:
        raise CorruptChunkError(f"chunk of {len(raw)} bytes is too short to hold data and a crc32c")
    tail = raw[-4:]
    stored = struct.unpack("<I", tail)[0]
    if google_crc32c.value(raw) != google_crc32c.extend(stored, tail):
        computed = google_crc32c.value(raw[:-4])
        raise CorruptChunkError(
            f"crc32c mismatch: stored {stored:08x}, computed {computed:08x} "
            "(corrupted, or written before format 1.1 without a checksum)"
        )
    return memoryview(raw)[:-4]


def decode_block(raw: bytes, dtype: np.dtype | str, shape: tuple[int, ...]) -> np.ndarray:
    """A stored chunk of ``dtype`` and chunk ``shape`` (as its zarr.json says), read-only.

    CorruptChunkError if its checksum fails or it does not decompress to exactly that many values.
    """
    import numpy as np

    dtype = np.dtype(dtype)
    try:
        flat = np.frombuffer(zstd_codec().decode(check_chunk(raw)), dtype=dtype.newbyteorder("<"))
        return flat.reshape(shape).astype(dtype, copy=False)
    except (RuntimeError, ValueError) as exc:  # numcodecs' zstd errors; a wrong number of values
        raise CorruptChunkError(f"chunk does not decode to {dtype} {tuple(shape)}: {exc}") from None


def recorded_level(codecs: object) -> int | None:
    """The zstd level of a zarr.json codec chain of this encoding, else None.

    ``bytes`` (little endian) + ``zstd`` (any level, no zstd checksum) + ``crc32c``, however the
    writer spelled the configurations (sarcube, zarr-python). A chain without crc32c (written
    before format 1.1) gives None.
    """
    if not isinstance(codecs, list) or not all(isinstance(c, dict) for c in codecs):
        return None
    if [c.get("name") for c in codecs] != ["bytes", "zstd", "crc32c"]:
        return None
    if (codecs[0].get("configuration") or {}).get("endian", "little") != "little":
        return None
    zstd = codecs[1].get("configuration") or {}
    level = zstd.get("level", 0)
    return level if isinstance(level, int) and not zstd.get("checksum", False) else None
