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

from cube.config import Settings, WorkerSettings
from cube.errors import InputError, NotFoundError
from cube.materialize import ArdEngine, select
from cube.products import DisplacementOptions, Selection, Variant


class ProductJob(BaseModel):
    """One product of one burst: which dates (or pairs) and which part of its grid."""

    model_config = ConfigDict(extra="forbid")

    product: str = Field(description="product name, e.g. coherence")
    options: dict[str, Any] = Field(
        default_factory=dict, description="the product's options (its model's fields)"
    )
    dates: list[str] | None = Field(None, description="date keys (per-date products); None = every date "
                                    "(per-burst products such as velocity always cover every date)")
    pairs: list[tuple[str, str]] | None = Field(
        None, description="(reference, secondary) date keys (pair products); None = the catalog's pair rule"
    )
    window: tuple[int, int, int, int] | None = Field(
        None, description="rows r0, r1 and columns c0, c1 of the product grid; None = all of it"
    )

    def variant(self) -> Variant:
        """The product variant (validates the product name and its options)."""
        return Variant.of(self.product, self.options)

    @classmethod
    def of(cls, selection: Selection) -> ProductJob:
        """The job of a selection (what the 202 path and keep-up submit)."""
        v = selection.variant
        return cls(
            product=v.product,
            options=v.options.non_default(),
            dates=[d for (d,) in selection.date_sets] if v.spec.dates == 1 else None,
            pairs=[(a, b) for a, b in selection.date_sets] if v.spec.pair else None,
            window=selection.window_bounds,
        )

    def selection(self, engine: ArdEngine, burst_id: str, polarization: str) -> Selection:
        """What this product job computes on ``engine``'s cube.

        NotFoundError/InputError naming the burst, product and value when it cannot.
        """
        return select(engine, self.variant(), burst_id, polarization=polarization, bounds=self.window,
                      dates=self.dates, pairs=self.pairs, all_pairs=True)


class BurstJob(BaseModel):
    """The work of one burst: the unit a worker (container task, array task) runs."""

    model_config = ConfigDict(extra="forbid")

    burst_id: str = Field(pattern=r"^t\d{3}_\d{6}_iw[123]$", description="ESA burst ID")
    polarization: Literal["VV", "VH", "HH", "HV"] = "VV"
    products: list[ProductJob] = Field(min_length=1)

    @classmethod
    def of(cls, selection: Selection) -> BurstJob:
        """The one-product job of a selection."""
        return cls(burst_id=selection.burst_id, polarization=selection.polarization,
                   products=[ProductJob.of(selection)])

    def selections(self, engine: ArdEngine) -> list[Selection]:
        """What each of its products computes on ``engine``'s cube."""
        return [p.selection(engine, self.burst_id, self.polarization) for p in self.products]


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


def check_job(bursts: list[BurstJob], engine: ArdEngine) -> None:
    """Check that a job can run on ``engine``'s cube before it is queued.

    Each burst (and polarization) is in the cube, each product's options validate, each date
    and pair names a date of the burst (a pair product takes ``pairs``, a per-date product
    ``dates``), and each window lies inside the product grid. NotFoundError (unknown burst,
    date) or InputError (anything else) naming the burst, product and value; the API answers
    them 404 / 400.
    """
    for burst in bursts:
        try:
            engine.stack(burst.burst_id, burst.polarization)
        except (NotFoundError, FileNotFoundError, KeyError):
            raise NotFoundError(
                f"job: burst {burst.burst_id} {burst.polarization} is not in the cube; search /stac for "
                "the bursts it holds"
            ) from None
        for product in burst.products:
            try:
                product.selection(engine, burst.burst_id, burst.polarization)
                _check_series(product, engine, burst.burst_id, burst.polarization)
            except ValidationError as exc:
                raise InputError(f"job: {burst.burst_id} {product.product} options: {_errors(exc)}") from None
            except (InputError, NotFoundError) as exc:
                raise type(exc)(f"job: {burst.burst_id} {product.product}: {exc}") from None


def _check_series(product: ProductJob, engine: ArdEngine, burst_id: str, polarization: str) -> None:
    """A displacement or velocity series: InputError for one date, a too-thin network, a ref outside."""
    options = product.variant().options
    if not isinstance(options, DisplacementOptions):
        return
    from cube.products import check_network

    check_network(engine.stack(burst_id, polarization).dates, options, burst_id)
    point = options.ref_lonlat()
    grid = engine.product_grid(burst_id, polarization, product.variant())
    if point is not None and grid.pixel_of(*point) is None:
        raise InputError(f"ref={point[0]},{point[1]} is outside the burst; give a point inside "
                         f"{tuple(round(v, 4) for v in grid.lonlat_bounds())} (lon/lat)")


def job_settings(spec: JobSpec, lock_table: str | None = None) -> Settings:
    """The settings of a job's engine.

    Its cube and ARD store, chunk leases in ``lock_table`` (default: this process's
    SARCUBE_LOCK_TABLE, else beside the ARD store).
    """
    return Settings.for_job(spec.cube_url, spec.ard_url, spec.storage_options,
                            lock_table or WorkerSettings().lock_table)


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
