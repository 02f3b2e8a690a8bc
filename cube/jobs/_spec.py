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

from cube.errors import InputError
from cube.materialize import Variant


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
    bursts: list[BurstJob] = Field(min_length=1)

    def model_post_init(self, _: Any) -> None:
        for burst in self.bursts:
            for product in burst.products:
                try:
                    product.variant()
                except ValidationError as exc:
                    raise InputError(f"job: {burst.burst_id} {product.product} options: {exc}") from exc


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
