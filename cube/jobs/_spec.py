"""The job spec: what to materialize, per burst. One model for the API, the CLI and job files.

A job file is this model as JSON or YAML::

    cube_url: s3://bucket/cube
    bursts:
      - burst_id: t071_151200_iw3
        products:
          - {product: coherence, options: {window: [7, 7]}}      # every pair of the pair rule
          - {product: backscatter, dates: [20240106T022010.390959]}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import fsspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cube.errors import InputError, NotFoundError
from cube.format import date_key_time
from cube.materialize import ArdEngine, Variant


class ProductJob(BaseModel):
    """One product of one burst: which dates (or pairs) and which part of its grid."""

    model_config = ConfigDict(extra="forbid")

    product: str = Field(description="product name, e.g. coherence")
    options: dict[str, Any] = Field(
        default_factory=dict, description="the product's options (its model's fields)"
    )
    dates: list[str] | None = Field(None, description="date keys (per-date products); None = every date")
    pairs: list[tuple[str, str]] | None = Field(
        None, description="(reference, secondary) date keys (pair products); None = the catalog's pair rule"
    )
    window: tuple[int, int, int, int] | None = Field(
        None, description="rows r0, r1 and columns c0, c1 of the product grid; None = all of it"
    )

    def variant(self) -> Variant:
        """The product variant (validates the product name and its options)."""
        return Variant.of(self.product, self.options)


class BurstJob(BaseModel):
    """The work of one burst: the unit a worker (container task, array task) runs."""

    model_config = ConfigDict(extra="forbid")

    burst_id: str = Field(pattern=r"^t\d{3}_\d{6}_iw[123]$", description="ESA burst ID")
    polarization: Literal["VV", "VH", "HH", "HV"] = "VV"
    products: list[ProductJob] = Field(min_length=1)


class JobSpec(BaseModel):
    """A whole job: the cube, where ARD goes, the engine and the bursts (fanned out one per task)."""

    model_config = ConfigDict(extra="forbid")

    cube_url: str
    ard_url: str | None = Field(None, description="ARD store; default <cube>/ard.zarr")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options of both stores")
    engine: Literal["native", "isce2"] = "native"
    sources: list[str] = Field(
        default_factory=list,
        description="isce2 engine: local SAFE folders or zips of the dates, or folders holding them")
    bursts: list[BurstJob] = Field(min_length=1)

    def model_post_init(self, _: Any) -> None:
        for burst in self.bursts:
            for product in burst.products:
                try:
                    product.variant()
                except ValidationError as exc:
                    raise InputError(
                        f"job: {burst.burst_id} {product.product} options: {_errors(exc)}"
                    ) from exc


def _errors(exc: ValidationError) -> str:
    """A validation error's locations and messages, without the values (they may be secrets)."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())


def _check_date_key(burst_id: str, date: str, have: set[str], product: str) -> None:
    try:
        date_key_time(date)
    except (TypeError, ValueError):
        raise InputError(
            f"job: {burst_id} {product}: {date!r} is not a date key (YYYYmmddTHHMMSS[.ffffff]); "
            "the burst's date keys are in its STAC items (/stac) or GET /zarr/{burst}/{product}"
        ) from None
    if date not in have:
        raise NotFoundError(
            f"job: {burst_id} {product}: the cube has no date {date} "
            f"(have {', '.join(sorted(have)) or 'none'})"
        )


def check_job(bursts: list[BurstJob], engine: ArdEngine) -> None:
    """Check that a job can run on ``engine``'s cube before it is queued.

    Each burst (and polarization) is in the cube, each product's options validate, each date
    and pair names a date of the burst (a pair product takes ``pairs``, a per-date product
    ``dates``), and each window lies inside the product grid (0 <= r0 < r1 <= rows, same for
    columns). NotFoundError (unknown burst, date) or InputError (anything else) naming the
    burst, product and value; the API answers them 404 / 400.
    """
    for burst in bursts:
        try:
            stack = engine.stack(burst.burst_id, burst.polarization)
        except (NotFoundError, FileNotFoundError, KeyError):
            raise NotFoundError(
                f"job: burst {burst.burst_id} {burst.polarization} is not in the cube; search /stac for "
                "the bursts it holds"
            ) from None
        have = set(stack.dates)
        for product in burst.products:
            try:
                variant = product.variant()
            except ValidationError as exc:
                raise InputError(f"job: {burst.burst_id} {product.product} options: {_errors(exc)}") from None
            pair = variant.spec.pair
            if pair and product.dates is not None:
                raise InputError(f"job: {burst.burst_id} {product.product} is a pair product: give pairs, "
                                 "not dates")
            if not pair and product.pairs is not None:
                raise InputError(f"job: {burst.burst_id} {product.product} is a per-date product: give "
                                 "dates, not pairs")
            for date in product.dates or []:
                _check_date_key(burst.burst_id, date, have, product.product)
            for ref, sec in product.pairs or []:
                for date in (ref, sec):
                    _check_date_key(burst.burst_id, date, have, product.product)
                if ref == sec:
                    raise InputError(f"job: {burst.burst_id} {product.product}: pair ({ref}, {sec}) needs "
                                     "two different dates")
            if product.window is not None:
                rows, cols = engine.shape(burst.burst_id, burst.polarization, variant)
                r0, r1, c0, c1 = product.window
                if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
                    raise InputError(
                        f"job: {burst.burst_id} {product.product}: window rows {r0}:{r1}, columns {c0}:{c1} "
                        f"is empty or outside the {rows} x {cols} product grid; give 0 <= r0 < r1 <= {rows} "
                        f"and 0 <= c0 < c1 <= {cols}"
                    )


def load_job(source: str | Path) -> JobSpec:
    """A job spec from a JSON or YAML file path or URL (``s3://...``)."""
    text = str(source)
    try:
        with fsspec.open(text, "rt") as f:
            raw = f.read()
    except FileNotFoundError as exc:
        raise InputError(f"job file {text} does not exist") from exc
    try:
        doc = json.loads(raw) if text.endswith(".json") else yaml.safe_load(raw)
        return JobSpec.model_validate(doc)
    except (ValueError, yaml.YAMLError) as exc:
        raise InputError(f"job file {text} is not a valid job spec: {exc}") from exc
