"""`check_chunk` (the crc32c check of every stored ARD chunk, with no copy) against a bitwise CRC-32C."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from cube.errors import CorruptChunkError
from cube.format import check_chunk


def _crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli, reflected 0x82F63B78), bit by bit: the independent reference."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_reference_matches_the_standard_check_value():
    assert _crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue's check value


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_intact_chunks_pass_and_their_payload_is_a_view(size):
    payload = np.random.default_rng(size).bytes(size)
    raw = payload + struct.pack("<I", _crc32c(payload))
    out = check_chunk(raw)
    assert bytes(out) == payload and isinstance(out, memoryview) and out.obj is raw


@pytest.mark.parametrize("flip", [0, 500, 999, 1000, 1003])  # in the payload, then in the stored CRC
def test_any_flipped_bit_fails(flip):
    payload = np.random.default_rng(0).bytes(1000)
    raw = bytearray(payload + struct.pack("<I", _crc32c(payload)))
    raw[flip] ^= 0x10
    with pytest.raises(CorruptChunkError, match="crc32c mismatch"):
        check_chunk(bytes(raw))


def test_too_short_fails():
    with pytest.raises(CorruptChunkError, match="too short"):
        check_chunk(b"\x00\x01\x02\x03")
