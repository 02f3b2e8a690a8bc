"""Errors raised by sarcube: one class per kind, each message names the thing and what to do.

The CLI prints a `CubeError` as one line and exits 2 (`StorageUnavailableError`: 3); the API
answers each class with its status code (``cube/api/_errors.py``). A message ends with the fix:
the command to run, the value to give, or the path to check.
"""

from __future__ import annotations


class CubeError(Exception):
    """Base class of every error sarcube raises on purpose."""


class InvalidSourceError(CubeError, ValueError):
    """A SAFE, zip, annotation or orbit file is not what it claims to be, or is incomplete.

    Fix: check the path, or download the product again.
    """


class MissingElementError(InvalidSourceError):
    """An XML document lacks an element that sarcube needs (the message names it)."""


class MeasurementError(InvalidSourceError):
    """A measurement TIFF is empty, truncated or unreadable where pixels are needed.

    Fix: download the product again (or restore its dates with ``sarcube verify --restore``).
    """


class OrbitCoverageError(CubeError, ValueError):
    """An orbit file does not cover the acquisition it is asked to describe.

    Fix: give the POEORB/RESORB file of that date (``--orbit``), or none to use the annotation's.
    """


class InputError(CubeError, ValueError):
    """A command-line or request input is malformed (wrong columns, not a number).

    Fix: the message gives the form expected, or the values allowed.
    """


class NotFoundError(CubeError, FileNotFoundError):
    """A burst, date, product or file that was asked for does not exist.

    Fix: the message lists what there is (bursts, dates, products) or the path to check.
    """


class CubeFormatError(CubeError):
    """A cube on disk does not match the layout or format version this code reads.

    Fix: use the sarcube version that wrote it, or ingest the SAFEs into a new cube.
    """


class ConflictError(CubeError):
    """A new date does not fit the burst group it would join (swath, polarization, shape).

    Fix: ingest it into another cube, or check that the product is the burst ID's.
    """


class BusyError(CubeError, TimeoutError):
    """Another worker holds the lease on a chunk or job and it did not finish in time; retry later."""


class CorruptChunkError(CubeError):
    """A stored chunk fails its crc32c checksum or does not decode to its shape.

    ARD chunks are deleted and recomputed; SLC chunks must be re-ingested from their SAFE
    (``sarcube verify CUBE --restore SAFE...``).
    """


class StorageUnavailableError(CubeError, ConnectionError):
    """The cube's object store or file system (or the API) cannot be reached: refused, timed out.

    Nothing is wrong with the request: retry in a few seconds.
    """
