"""The ARD store: a zarr v3 hierarchy beside the SLC cube that holds computed product chunks.

Layout (``ard.zarr`` under the cube root by default, or any URL)::

    ard.zarr/<burst_id>/<pol>/<product>/<variant>[/<variable>]/<dates>/zarr.json   one 2-D array
    ard.zarr/<burst_id>/<pol>/<product>/<variant>[/<variable>]/<dates>/c/<i>/<j>

(``ArdArray.path`` and ``ArdArray.chunk_path``)

- ``variant`` is ``v<algorithm version>-<options digest>``: two option sets, or two algorithm
  versions, never share chunks;
- ``variable`` is there for a product with companion variables (``unwrapped``: ``unwrapped``
  and ``components``), one array each;
- ``dates`` is a date key (``20240106T022010.390959``), a pair ``<reference>_<secondary>``, or
  ``all_dates`` for a per-burst product (``velocity``);
- every chunk is written, all-fill chunks included, so a chunk object that exists is
  *present*; one that does not is *absent* (a lease says *computing*);
- a chunk is written whole, in one atomic put (local: temporary file + rename), so a crash
  never leaves a part of one.

Chunks are encoded as zarr v3 does it with codecs ``bytes`` (little endian) + ``zstd`` +
``crc32c`` (4 bytes, the CRC-32C of the compressed bytes, appended little endian). The zstd level
is the product's (`codecs_of`): 3, but -1 for the CSLC, whose speckle hardly compresses at any
level (its all-fill chunks do at every level): half the encoding CPU for 52 % of the raw bytes
instead of 48 %. An array keeps the chain its zarr.json records (zstd decodes every level
alike), so arrays written at another level stay as they are. The same
bytes are valid chunks of the 2-D array here and of the (time, y, x) or
(reference_time, secondary_time, y, x) arrays the API presents, so they are served untouched,
and every reader checks them (zarr's codec, or `check_chunk` in the engine). A chunk that
fails the check (bit rot, a torn write, or a chunk written before format 1.1 without a
checksum) is treated as absent: deleted and computed again.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

import google_crc32c

from cube.format import decode_block, zstd_codec
from cube.products import Variant

if TYPE_CHECKING:
    import numpy as np

ARD_STORE = "ard.zarr"
ZSTD_LEVEL = 3
"""The zstd level of every product's new arrays but those in `ZSTD_LEVELS`."""
ZSTD_LEVELS = {"cslc": -1}
"""zstd levels by product: the CSLC's (speckle complex64) -1, fast: encoding a full-size date takes
0.22 CPU s instead of 0.39 for 52 % of the raw bytes instead of 48 % (docs/cube-format.md)."""


def zstd_level(variant: Variant) -> int:
    """The zstd level of new arrays of ``variant``."""
    return ZSTD_LEVELS.get(variant.product, ZSTD_LEVEL)


def encode_chunk(data: np.ndarray, variant: Variant, level: int | None = None) -> bytes:
    """A full chunk (padded with the fill value) as zarr v3 ``bytes`` + ``zstd`` + ``crc32c`` bytes.

    ``level``: zstd's, by default that of new arrays of the variant (`zstd_level`).
    """
    import numpy as np  # arrays only: serving a stored chunk needs none

    cy, cx = variant.chunks
    le = variant.dtype.newbyteorder("<")
    if data.shape == (cy, cx):
        block = np.ascontiguousarray(data, dtype=le)
    else:
        block = np.full((cy, cx), variant.fill_value, le)
        block[: data.shape[0], : data.shape[1]] = data
    packed = bytes(zstd_codec(zstd_level(variant) if level is None else level).encode(block))
    return packed + struct.pack("<I", google_crc32c.value(packed))


def decode_chunk(raw: bytes, variant: Variant) -> np.ndarray:
    """The (rows, cols) array of a stored chunk; CorruptChunkError if its checksum or size is wrong."""
    return decode_block(raw, variant.dtype, variant.chunks)


def codecs_of(variant: Variant, level: int | None = None) -> list[dict]:
    """An array's codec chain as zarr.json declares it: zstd at ``level`` (default `zstd_level`)."""
    return [
        {"name": "bytes", "configuration": {"endian": "little"}},
        {"name": "zstd", "configuration": {"level": zstd_level(variant) if level is None else level,
                                           "checksum": False}},
        {"name": "crc32c"},
    ]


def fill_json(variant: Variant) -> object:
    """The fill value as zarr v3 metadata writes it."""
    if variant.kind in "iu":
        return variant.fill_value
    return ["NaN", "NaN"] if variant.kind == "c" else "NaN"


def array_metadata(
    variant: Variant,
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    dimension_names: list[str],
    attributes: dict | None = None,
    level: int | None = None,
) -> bytes:
    """zarr.json of an array of ``variant``'s chunks (any number of leading length-1 chunk dims).

    ``level``: zstd's in its codec chain, by default that of new arrays of the variant.
    """
    doc = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(shape),
        "data_type": variant.var.dtype,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": fill_json(variant),
        "codecs": codecs_of(variant, level),
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
