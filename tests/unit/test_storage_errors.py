"""What counts as "storage unavailable", and the bounded S3 client options (no servers here:
tests/integration/test_storage_faults.py stops a real SeaweedFS)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from cube.errors import BusyError, NotFoundError, StorageUnavailableError
from cube.storage import S3_CLIENT_DEFAULTS, open_store, storage_errors, with_client_defaults


@pytest.mark.parametrize("exc", [
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9/b/k"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:9/b/k"),
    ConnectionRefusedError(111, "Connection refused"),
])
def test_unreachable_store_errors_become_storage_unavailable(exc):
    with pytest.raises(StorageUnavailableError, match=r"s3://cubes/c is unreachable.*retry"):
        with storage_errors("s3://cubes/c"):
            raise exc


def _s3_answer(status: int, code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "GetObject")


def _as_s3fs_passes_it(exc: Exception) -> OSError:
    try:
        raise OSError(121, "We encountered an internal error, please try again.") from exc
    except OSError as out:
        return out


@pytest.mark.parametrize("exc", [_s3_answer(500, "InternalError"), _s3_answer(503, "SlowDown"),
                                 _as_s3fs_passes_it(_s3_answer(500, "InternalError"))])
def test_the_stores_own_5xx_is_storage_unavailable(exc):
    with pytest.raises(StorageUnavailableError, match=r"s3://cubes/c failed.*retry"):
        with storage_errors("s3://cubes/c"):
            raise exc


@pytest.mark.parametrize("exc", [FileNotFoundError("k"), NotFoundError("k"), BusyError("lease"), KeyError("k"),
                                 _s3_answer(403, "AccessDenied"), _as_s3fs_passes_it(_s3_answer(403, "AccessDenied"))])
def test_other_errors_pass_through(exc):
    with pytest.raises(type(exc)):
        with storage_errors("s3://cubes/c"):
            raise exc


def test_s3_options_get_bounded_retries_and_caller_options_win():
    assert with_client_defaults("/data/cube", {"auto_mkdir": True}) == {"auto_mkdir": True}
    opts = with_client_defaults("s3://b/c", {"key": "k", "config_kwargs": {"connect_timeout": 9}})
    assert opts["key"] == "k"
    assert opts["config_kwargs"] == {**S3_CLIENT_DEFAULTS, "connect_timeout": 9}
    store = open_store("s3://b/c", {"anon": True})
    assert store.storage_options["config_kwargs"]["retries"] == S3_CLIENT_DEFAULTS["retries"]
    assert store.fs.config_kwargs == store.storage_options["config_kwargs"]  # what s3fs's client gets
