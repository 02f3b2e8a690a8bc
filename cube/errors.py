"""Errors raised by sarcube: one class per kind, each message names the thing and what to do."""

from __future__ import annotations


class CubeError(Exception):
    """Base class of every error sarcube raises on purpose."""


class InvalidSourceError(CubeError, ValueError):
    """A SAFE, zip, annotation or orbit file is not what it claims to be, or is incomplete."""


class MissingElementError(InvalidSourceError):
    """An XML document lacks an element that sarcube needs."""


class MeasurementError(InvalidSourceError):
    """A measurement TIFF is empty, truncated or unreadable where pixels are needed."""


class OrbitCoverageError(CubeError, ValueError):
    """An orbit file does not cover the acquisition it is asked to describe."""


class InputError(CubeError, ValueError):
    """A command-line or request input is malformed (wrong columns, not a number)."""


class NotFoundError(CubeError, FileNotFoundError):
    """A burst, date, product or file that was asked for does not exist."""


class CubeFormatError(CubeError):
    """A cube on disk does not match the layout or format version this code reads."""


class ConflictError(CubeError):
    """A new date does not fit the burst group it would join (swath, polarization, shape)."""


class BusyError(CubeError, TimeoutError):
    """Another worker holds the lease on a chunk or job and it did not finish in time; retry later."""


class CorruptChunkError(CubeError):
    """A stored chunk fails its crc32c checksum or does not decode to its shape.

    ARD chunks are deleted and recomputed; SLC chunks must be re-ingested from their SAFE.
    """
class StorageUnavailableError(CubeError, ConnectionError):
    """The cube's object store or file system cannot be reached (connection refused, timed out).

    Nothing is wrong with the request: retry in a few seconds.
    """
