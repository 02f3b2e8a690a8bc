"""The options of every product: one model each, bounded, frozen, with a stable key per variant.

This module imports no numba: the registry, the API and the job file validate options with it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Looks = tuple[int, int]
_Count = Annotated[int, Field(ge=1, le=64)]
LookPair = tuple[_Count, _Count]
"""(rows, cols) of the fixed grid, each 1..64: a bounded option type for looks and windows."""


class ProductOptions(BaseModel):
    """Base of every product's options: ``extra="forbid"``, frozen, JSON-serialisable.

    The same model is the API's query/path options, the job file's ``options`` and the
    CLI's ``--option key=value``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    late_options: ClassVar[tuple[str, ...]] = ()
    """Options added after chunks were stored: left out of :meth:`digest` at their defaults, so
    the keys of the variants that existed before them do not change."""

    @property
    def looks(self) -> Looks:
        """(rows, cols) of the fixed grid averaged into one output pixel (decimation)."""
        return (1, 1)

    @property
    def made_by_job(self) -> bool:
        """Whether missing values are made by a job over the whole burst stack, never on request."""
        return False

    @property
    def per_pixel(self) -> bool:
        """Whether each output pixel comes from its own looks window alone.

        Then any window of the grid gives its pixels the same values: a job may compute the
        product a row of chunks at a time.
        """
        return True

    def non_default(self) -> dict:
        """The options that differ from the defaults, as JSON values."""
        defaults = type(self)().model_dump(mode="json")
        return {k: v for k, v in self.model_dump(mode="json").items() if defaults.get(k) != v}

    def segment(self) -> str:
        """A URL path segment naming the non-default options, e.g. ``window=7x7,db=true``.

        Empty for the defaults. :func:`parse_segment` reads it back.
        """
        parts = []
        for key, value in sorted(self.non_default().items()):
            if isinstance(value, list):
                value = "x".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            parts.append(f"{key}={value}")
        return ",".join(parts)

    def key_values(self) -> dict:
        """The option values a variant's key and its provenance name (JSON values).

        ``late_options`` at their defaults are left out.
        """
        values = self.model_dump(mode="json")
        for name in self.late_options:
            if values[name] == type(self).model_fields[name].default:
                del values[name]
        return values

    def digest(self) -> str:
        """Short hash of the option values (12 hex digits): part of a variant's key.

        ``late_options`` at their defaults are left out.
        """
        text = json.dumps(self.key_values(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]



class CslcOptions(ProductOptions):
    """Options of the geocoded coregistered SLC."""

    late_options: ClassVar[tuple[str, ...]] = ("engine", "esd")

    taps: int = Field(8, ge=8, le=32, multiple_of=2, description="sinc interpolator length, samples")
    flatten: bool = Field(True, description="remove the geometric range phase 4πR/λ")
    bistatic: bool = Field(
        True, description="apply the IPF's bistatic azimuth term, as ESA's geolocation grid does"
    )
    engine: Literal["native", "isce2"] = Field(
        "native", description="native: each date geocoded on its own; isce2: ISCE2's topsStack "
        "coregisters the burst stack first (a job per burst stack, docs/isce2.md)")
    esd: bool = Field(False, description="isce2 only: refine the coregistration by ESD (needs burst "
                      "overlaps)")

    @property
    def made_by_job(self) -> bool:
        """The ISCE2 CSLC: topsStack coregisters the whole burst stack (cube.jobs)."""
        return self.engine != "native"

    def model_post_init(self, _: object) -> None:
        """ESD belongs to the ISCE2 engine."""
        if self.esd and self.engine != "isce2":
            raise ValueError("esd=true needs engine=isce2 (the native engine has no ESD)")


class FromCslcOptions(ProductOptions):
    """Options of a product computed from CSLC: which engine's CSLC it reads."""

    late_options: ClassVar[tuple[str, ...]] = ("engine",)

    engine: Literal["native", "isce2"] = Field(
        "native", description="the CSLC it is computed from: native, or isce2 (made per burst stack by "
        "an ISCE2 job: a missing chunk answers 202; docs/isce2.md)")

    @property
    def made_by_job(self) -> bool:
        """Over the ISCE2 CSLC: the job makes the CSLC of the burst stack, then these chunks."""
        return self.engine != "native"


class MultilookedOptions(FromCslcOptions):
    """Options of a product averaged over ``multilook`` grid rows × cols per output pixel.

    Subclasses give ``multilook`` their own default and description.
    """

    multilook: LookPair = Field((1, 1), description="grid rows × cols averaged per output pixel")

    @property
    def looks(self) -> Looks:
        """The multilook window."""
        return self.multilook


class WholeBurstOptions(MultilookedOptions):
    """Options of a product computed over the whole burst stack at once, so always by a job."""

    @property
    def made_by_job(self) -> bool:
        """A job makes every value of the burst (unwrapping is global; the inversion needs every pair)."""
        return True


class BackscatterOptions(MultilookedOptions):
    """Options of the calibrated backscatter."""

    quantity: Literal["sigma0", "beta0", "gamma0"] = Field(
        "sigma0", description="normalisation: σ0, β0 or γ0 (ESA's ellipsoid LUTs)"
    )
    denoise: bool = Field(True, description="subtract the annotated thermal noise (range × azimuth LUTs)")
    db: bool = Field(False, description="10·log10 of the linear value")
    multilook: LookPair = Field(
        (2, 4), description="grid rows × cols averaged per output pixel (2 × 4 = 20 m × 20 m)"
    )


class AmplitudeOptions(MultilookedOptions):
    """Options of the amplitude: √(mean |CSLC|²) in DN, or 20·log10 of it."""

    db: bool = Field(False, description="20·log10 of the amplitude")


class InterferogramOptions(MultilookedOptions):
    """Options of the multilooked complex interferogram ``mean(ref · conj(sec))``."""

    multilook: LookPair = Field(
        (2, 4), description="grid rows × cols averaged per output pixel (2 × 4 = 20 m × 20 m)"
    )


class CoherenceOptions(FromCslcOptions):
    """Options of the coherence magnitude |Σ ref·conj(sec)| / √(Σ|ref|² Σ|sec|²)."""

    late_options: ClassVar[tuple[str, ...]] = ("engine", "estimator")

    window: LookPair = Field(
        (5, 10), description="estimator window, grid rows × cols (one output pixel per window)"
    )
    estimator: Literal["sample", "debiased"] = Field(
        "sample", description="sample: the sample coherence (biased upwards at low coherence); "
        "debiased: its bias removed by inverting E[sample | γ, L] (Touzi et al. 1999) with the "
        "effective number of looks L measured from the data (docs/products.md)")

    @property
    def looks(self) -> Looks:
        """The estimator window (one output pixel each)."""
        return self.window

    @property
    def per_pixel(self) -> bool:
        """The debiased estimator's effective looks are measured over the whole window computed."""
        return self.estimator == "sample"


def _no_variable(values: object, product: str, holds: str, example: str) -> object:
    """Refuse ``variable=``: it named one variable per address before they went into one Dataset."""
    if isinstance(values, dict) and "variable" in values:
        raise ValueError(f"variable= is no longer an option: the {product} Dataset holds {holds}; open "
                         f"the product without variable= and read ds['{example}']")
    return values


class UnwrappedOptions(WholeBurstOptions):
    """Options of the unwrapped phase of a pair (SNAPHU over the multilooked interferogram)."""

    multilook: LookPair = Field(
        (10, 20), description="grid rows × cols per output pixel (10 × 20 = 100 m × 100 m); the "
        "interferogram and the coherence (masking, SNAPHU's statistics) share it")
    min_coherence: float = Field(0.3, ge=0.0, le=1.0, description="pixels of lower coherence are masked "
                                 "(not unwrapped, NaN)")

    @model_validator(mode="before")
    @classmethod
    def _no_variable(cls, values: object) -> object:
        return _no_variable(values, "unwrapped", "both variables, unwrapped (rad) and components",
                            "components")


_NETWORK = r"^(rule|sequential:[1-9][0-9]?)$"
_LONLAT = r"^-?[0-9]+(\.[0-9]*)?:-?[0-9]+(\.[0-9]*)?$"


class DisplacementOptions(WholeBurstOptions):
    """Options of the displacement time series (weighted SBAS inversion of unwrapped pairs)."""

    multilook: LookPair = Field((10, 20), description="grid rows × cols per output pixel (as unwrapped)")
    min_coherence: float = Field(0.3, ge=0.0, le=1.0, description="coherence mask of the unwrapped pairs")
    network: str = Field("rule", pattern=_NETWORK, description="pairs inverted: rule (the cube's pair rule: "
                         "consecutive dates or ≤ max_days apart) or sequential:N (each date with its N next)")
    max_days: int = Field(48, ge=1, le=3650, description="longest pair, days (both networks)")
    ref: str | None = Field(None, pattern=_LONLAT, description="reference point lon,lat (degrees; lon:lat in "
                            "a /zarr path, whose options are separated by commas) the series is relative "
                            "to; default: the most coherent pixel connected in every pair")

    @field_validator("ref", mode="before")
    @classmethod
    def _ref_colon(cls, value: object) -> object:
        """``lon,lat`` is kept as ``lon:lat`` (commas separate the options of a /zarr path)."""
        return value.replace(" ", "").replace(",", ":") if isinstance(value, str) else value

    @property
    def unwrapped(self) -> UnwrappedOptions:
        """The options of the unwrapped pairs this series is inverted from."""
        return UnwrappedOptions(engine=self.engine, multilook=self.multilook,
                                min_coherence=self.min_coherence)

    def ref_lonlat(self) -> tuple[float, float] | None:
        """The reference point (lon, lat), degrees, or None (automatic)."""
        if self.ref is None:
            return None
        lon, lat = (float(v) for v in self.ref.split(":"))
        return lon, lat

    def model_post_init(self, _: object) -> None:
        """A reference point must be a longitude and a latitude."""
        point = self.ref_lonlat()
        if point is not None and not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
            raise ValueError(f"ref={self.ref}: give lon,lat in degrees (lon -180..180, lat -90..90)")


class VelocityOptions(DisplacementOptions):
    """Options of the velocity: those of the displacement series a line is fitted to."""

    @model_validator(mode="before")
    @classmethod
    def _no_variable(cls, values: object) -> object:
        return _no_variable(values, "velocity", "velocity, velocity_std, temporal_coherence, residual "
                            "and connected", "velocity_std")


def parse_segment(model: type[ProductOptions], segment: str) -> ProductOptions:
    """Options from a path segment ``key=value,key=value`` (``7x7`` for pairs).

    Raises pydantic's ``ValidationError`` on unknown keys or out-of-range values.
    """
    values: dict[str, object] = {}
    for part in filter(None, segment.split(",")):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"option {part!r} is not key=value")
        values[key.strip()] = parse_value(value.strip())
    return model.model_validate(values)


def parse_value(value: str) -> object:
    """A typed option value from text: ``7x7`` → [7, 7], ``true`` → True, else the text."""
    if "x" in value and all(p.isdigit() for p in value.split("x")):
        return [int(p) for p in value.split("x")]
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
