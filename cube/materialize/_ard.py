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
``crc32c`` (4 bytes, the CRC-32C of the compressed bytes, appended little endian), except the
CSLC's: ``bytes`` + ``crc32c`` (speckle complex64 shrinks by ~8 % under zstd for a quarter of a
CSLC date's CPU time; `codecs_of`). Each array's zarr.json records its chain and every reader
decodes a chunk with its own array's chain (`codecs_compressed`), so arrays written with zstd
before stay readable as they are. The same
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


def encode_chunk(data: np.ndarray, variant: Variant, compressed: bool | None = None) -> bytes:
    """A full chunk (padded with the fill value) as zarr v3 bytes of its codec chain.

    ``compressed``: whether the chain has ``zstd`` (`ZSTD_CODECS`) or not (`RAW_CODECS`); by
    default that of new arrays of the variant (`codecs_of`).
    """
    if compressed is None:
        compressed = codecs_compressed(codecs_of(variant))
    cy, cx = variant.chunks
    le = variant.dtype.newbyteorder("<")
    if data.shape == (cy, cx):
        block = np.ascontiguousarray(data, dtype=le)
    else:
        block = np.full((cy, cx), variant.fill_value, le)
        block[: data.shape[0], : data.shape[1]] = data
    packed = bytes(_zstd().encode(block)) if compressed else block.tobytes()
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


def decode_chunk(raw: bytes, variant: Variant, compressed: bool | None = None) -> np.ndarray:
    """The (rows, cols) array of a stored chunk; CorruptChunkError if its checksum or size is wrong.

    ``compressed``: whether its array's chain has ``zstd``; by default that of new arrays of the
    variant (`codecs_of`).
    """
    if compressed is None:
        compressed = codecs_compressed(codecs_of(variant))
    return decode_block(raw, variant.dtype, variant.chunks, compressed)


def decode_block(
    raw: bytes, dtype: np.dtype | str, shape: tuple[int, ...], compressed: bool = True
) -> np.ndarray:
    """A stored chunk of ``dtype`` and chunk ``shape`` (as its zarr.json says).

    ``compressed``: whether its array's codec chain has ``zstd`` (`codecs_compressed`).
    CorruptChunkError if its checksum fails or it does not decode to exactly that many values.
    Read-only when not compressed (a view of ``raw``).
    """
    dtype = np.dtype(dtype)
    try:
        payload = check_chunk(raw)
        values = _zstd().decode(payload) if compressed else payload
        flat = np.frombuffer(values, dtype=dtype.newbyteorder("<"))
        return flat.reshape(shape).astype(dtype, copy=False)
    except (RuntimeError, ValueError) as exc:  # numcodecs' zstd errors; a wrong number of values
        raise CorruptChunkError(f"chunk does not decode to {dtype} {tuple(shape)}: {exc}") from None


ZSTD_CODECS: list[dict] = [
    {"name": "bytes", "configuration": {"endian": "little"}},
    {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}},
    {"name": "crc32c"},
]
"""The codec chain of ARD chunks of every product but the CSLC, as zarr.json declares it."""

RAW_CODECS: list[dict] = [
    {"name": "bytes", "configuration": {"endian": "little"}},
    {"name": "crc32c"},
]
"""The codec chain of new CSLC arrays: speckle complex64 hardly compresses (~8 %)."""

UNCOMPRESSED_PRODUCTS = frozenset({"cslc"})
"""Products whose new arrays are stored without zstd (`RAW_CODECS`)."""


def codecs_of(variant: Variant) -> list[dict]:
    """The codec chain of a new array of ``variant`` (an existing array keeps its own)."""
    return RAW_CODECS if variant.product in UNCOMPRESSED_PRODUCTS else ZSTD_CODECS


def codecs_compressed(codecs: list[dict]) -> bool:
    """Whether a zarr.json codec chain has ``zstd``."""
    return any(c.get("name") == "zstd" for c in codecs)


def known_chain(codecs: object) -> bool:
    """Whether a zarr.json codec chain is one this module decodes and encodes.

    ``bytes`` (little endian) [+ ``zstd``, any level] + ``crc32c``, however a writer spelled the
    configurations (zarr-python, or this module).
    """
    if not isinstance(codecs, list) or not all(isinstance(c, dict) for c in codecs):
        return False
    names = [c.get("name") for c in codecs]
    if names not in (["bytes", "zstd", "crc32c"], ["bytes", "crc32c"]):
        return False
    return (codecs[0].get("configuration") or {}).get("endian", "little") == "little"


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
    codecs: list[dict] | None = None,
) -> bytes:
    """zarr.json of an array of ``variant``'s chunks (any number of leading length-1 chunk dims).

    ``codecs``: its chain, by default that of a new array of ``variant`` (`codecs_of`).
    """
    doc = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": variant.dtype.name,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_json(variant),
        "codecs": codecs if codecs is not None else codecs_of(variant),
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
