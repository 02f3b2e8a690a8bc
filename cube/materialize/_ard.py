"""The ARD store: a zarr v3 hierarchy beside the SLC cube that holds computed product chunks.

Layout (``ard.zarr`` under the cube root by default, or any URL)::

    ard.zarr/<burst_id>/<pol>/<product>/<variant>/<dates>/zarr.json   one 2-D array per date
    ard.zarr/<burst_id>/<pol>/<product>/<variant>/<dates>/c/<i>/<j>    (or date pair)

(``ArdArray.path`` and ``ArdArray.chunk_path``)

- ``variant`` is ``v<algorithm version>-<options digest>``: two option sets, or two algorithm
  versions, never share chunks;
- ``dates`` is a date key (``20240106T022010.390959``) or a pair ``<reference>_<secondary>``;
- every chunk is written, all-fill chunks included, so a chunk object that exists is
  *present*; one that does not is *absent* (a lease says *computing*);
- a chunk is written whole, in one atomic put (local: temporary file + rename), so a crash
  never leaves a part of one.

Chunks are encoded as zarr v3 does it with codecs ``bytes`` (little endian) + ``zstd`` +
``crc32c`` (4 bytes, the CRC-32C of the compressed bytes, appended little endian): the same
bytes are valid chunks of the 2-D array here and of the (time, y, x) or
(reference_time, secondary_time, y, x) arrays the API presents, so they are served untouched,
and every reader checks them (zarr's codec, or `check_chunk` in the engine). A chunk that
fails the check (bit rot, a torn write, or a chunk written before format 1.1 without a
checksum) is treated as absent: deleted and computed again.
"""

from __future__ import annotations

import functools
import json
import struct
from typing import TYPE_CHECKING

import google_crc32c
import numpy as np

from cube.errors import CorruptChunkError
from cube.products import Variant

if TYPE_CHECKING:
    import numcodecs

ARD_STORE = "ard.zarr"
ZSTD_LEVEL = 3


@functools.cache
def _zstd() -> numcodecs.Zstd:
    """The Zstd codec of numcodecs, imported on first use (serving a stored chunk needs only its crc32c)."""
    import numcodecs

    return numcodecs.Zstd(level=ZSTD_LEVEL)


def encode_chunk(data: np.ndarray, variant: Variant) -> bytes:
    """A full chunk (padded with the fill value) as zarr v3 ``bytes`` + ``zstd`` + ``crc32c`` bytes."""
    cy, cx = variant.chunks
    block = np.full((cy, cx), variant.fill_value, variant.dtype)
    block[: data.shape[0], : data.shape[1]] = data
    packed = bytes(_zstd().encode(np.ascontiguousarray(block, dtype=variant.dtype.newbyteorder("<"))))
    return packed + struct.pack("<I", google_crc32c.value(packed))


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


def decode_chunk(raw: bytes, variant: Variant) -> np.ndarray:
    """The (rows, cols) array of a stored chunk; CorruptChunkError if its checksum or size is wrong."""
    return decode_block(raw, variant.dtype, variant.chunks)


def decode_block(raw: bytes, dtype: np.dtype | str, shape: tuple[int, ...]) -> np.ndarray:
    """A stored chunk of ``dtype`` and chunk ``shape`` (as its zarr.json says).

    CorruptChunkError if its checksum fails or it does not decompress to exactly that many values.
    """
    dtype = np.dtype(dtype)
    try:
        flat = np.frombuffer(_zstd().decode(check_chunk(raw)), dtype=dtype.newbyteorder("<"))
        return flat.reshape(shape).astype(dtype, copy=False)
    except (RuntimeError, ValueError) as exc:  # numcodecs' zstd errors; a wrong number of values
        raise CorruptChunkError(f"chunk does not decode to {dtype} {tuple(shape)}: {exc}") from None


CODECS: list[dict] = [
    {"name": "bytes", "configuration": {"endian": "little"}},
    {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}},
    {"name": "crc32c"},
]
"""The codec chain of every ARD chunk, as zarr.json declares it."""


def fill_json(variant: Variant) -> object:
    """The fill value as zarr v3 metadata writes it."""
    if variant.dtype.kind in "iu":
        return variant.fill_value
    return ["NaN", "NaN"] if variant.dtype.kind == "c" else "NaN"


def array_metadata(
    variant: Variant,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    dimension_names: list[str],
    attributes: dict | None = None,
) -> bytes:
    """zarr.json of an array of ``variant``'s chunks (any number of leading length-1 chunk dims)."""
    doc = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": variant.dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_json(variant),
        "codecs": CODECS,
        "attributes": attributes or {},
        "dimension_names": dimension_names,
        "storage_transformers": [],
    }
    return json.dumps(doc, indent=1).encode()


def group_metadata(attributes: dict | None = None) -> bytes:
    """zarr.json of a group."""
    return json.dumps(
        {"zarr_format": 3, "node_type": "group", "attributes": attributes or {}}, indent=1
    ).encode()
