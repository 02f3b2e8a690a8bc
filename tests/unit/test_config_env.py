"""Settings from the environment: `cube.config.EnvSettings` against pydantic-settings.

The reference is pydantic-settings itself (what the settings were built on before, and what the
models' fields would give with it): the same fields on a ``BaseSettings`` with the ``SARCUBE_``
prefix, read from the same environments, must give the same values and refuse the same inputs.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from cube.config import Settings, WorkerSettings


class _Reference(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SARCUBE_", extra="ignore")


def _reference(model: type) -> type[BaseSettings]:
    """A pydantic-settings model with the fields of ``model``."""
    fields = {name: (f.annotation, f) for name, f in model.model_fields.items()}
    return create_model(f"Reference{model.__name__}", __base__=_Reference, **fields)  # type: ignore[call-overload]


ENVIRONMENTS = [
    {},
    {"SARCUBE_CUBE_URL": "s3://bucket/cube", "SARCUBE_MAX_CHUNKS_PER_REQUEST": "7",
     "SARCUBE_ALLOW_ANONYMOUS": "true", "SARCUBE_MAX_RESPONSE_MB": "12.5", "SARCUBE_EXECUTOR": "dask"},
    {"sarcube_cube_url": "/data/cube", "Sarcube_Jobs_Enabled": "0"},  # names in any case
    {"SARCUBE_STORAGE_OPTIONS": '{"anon": true, "client_kwargs": {"endpoint_url": "http://127.0.0.1:1"}}',
     "SARCUBE_API_KEYS": '{"alice": "' + "a" * 64 + '"}', "SARCUBE_ISCE2_SOURCES": '["/a", "/b"]'},
    {"SARCUBE_ARD_URL": "", "SARCUBE_JOBS_URL": "dynamodb://jobs", "SARCUBE_UNKNOWN": "ignored"},
    {"SARCUBE_STORAGE_OPTIONS": "null", "SARCUBE_ISCE2_SOURCES": "null"},  # JSON null: the default
    {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "LOG_LEVEL": "DEBUG", "SARCUBE_NUMBA_THREADS": "2"},
    {"SARCUBE_BURST_INDEX": "1", "AWS_BATCH_JOB_ARRAY_INDEX": "3", "cloud_run_task_index": "5"},
    {"CLOUD_RUN_TASK_INDEX": "5", "SARCUBE_JOB": "s3://b/job.yaml", "SARCUBE_BURST_ID": "t001_000001_iw1"},
]
BAD = [
    {"SARCUBE_MAX_CHUNKS_PER_REQUEST": "0"},
    {"SARCUBE_EXECUTOR": "slurm"},
    {"SARCUBE_STORAGE_OPTIONS": "{not json"},
    {"SARCUBE_ALLOW_ANONYMOUS": "maybe"},
    {"SARCUBE_BURST_INDEX": "-1"},
    {"SARCUBE_NUMBA_THREADS": "many"},
]


@pytest.fixture
def environ(monkeypatch):
    """Set an environment of SARCUBE_* (and worker index) variables on a clean one."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("SARCUBE_") or name.upper() in (
                "AWS_BATCH_JOB_ARRAY_INDEX", "CLOUD_RUN_TASK_INDEX", "LOG_LEVEL"):
            monkeypatch.delenv(name)

    def set_all(env: dict[str, str]) -> None:
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return set_all


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize(("model", "given"), [(Settings, {"cube_url": "/given"}), (Settings, {}),
                                              (WorkerSettings, {})])
def test_settings_read_the_environment_as_pydantic_settings_does(environ, env, model, given):
    environ(env)
    reference = _reference(model)
    try:
        want = reference(**given).model_dump()
    except ValidationError as exc:  # Settings needs a cube URL from somewhere
        with pytest.raises(ValidationError) as got:
            model(**given)
        assert [e["loc"] for e in got.value.errors()] == [e["loc"] for e in exc.errors()]
        return
    assert model(**given).model_dump() == want


@pytest.mark.parametrize("env", BAD)
def test_bad_values_are_refused_naming_the_setting(environ, env):
    environ(env)
    name = next(iter(env)).removeprefix("SARCUBE_").lower()
    model = WorkerSettings if name in WorkerSettings.model_fields and name not in Settings.model_fields else Settings
    with pytest.raises(ValueError):  # pydantic-settings: ValidationError, or SettingsError for bad JSON
        _reference(model)(cube_url="/c")
    with pytest.raises(ValidationError) as got:  # here always a ValidationError (the worker reports it)
        model(cube_url="/c")
    assert name in str(got.value).lower() or next(iter(env)) in str(got.value)
    assert [e["loc"] for e in got.value.errors()] in ([(name,)], [(next(iter(env)),)])  # the field's error
