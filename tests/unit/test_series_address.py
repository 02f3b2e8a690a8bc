"""The address model of per-burst products and companion variables (no I/O)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from cube.errors import InputError
from cube.products import PRODUCTS, ArdArray, Selection, Variant
from cube.products._displacement import velocity_fit


def test_velocity_is_per_burst_with_its_companions_in_one_variant():
    spec = PRODUCTS["velocity"]
    assert spec.dates == 0 and spec.dateless and not spec.pair
    v = Variant.of("velocity", {"multilook": [4, 8]})
    names = [x.var.name for x in v.variables]
    assert names == ["velocity", "velocity_std", "temporal_coherence", "residual", "connected"]
    assert {x.key for x in v.variables} == {v.key}  # one variant, provenance names it once
    paths = {ArdArray("t1_2_iw1", "VV", x, ()).path for x in v.variables}
    assert len(paths) == 5 and all(p.startswith(f"t1_2_iw1/vv/{v.key}/") and p.endswith("/all_dates")
                                   for p in paths)
    assert v.at("connected").dtype == np.uint8 and v.at("connected").fill_value == 0
    assert np.isnan(v.at("velocity_std").fill_value)
    with pytest.raises(InputError, match="velocity_std"):
        v.at("phase")
    whole = (slice(0, 2), slice(0, 3))
    assert Selection("t1_2_iw1", "VV", v, ((),), whole).labels() == [{}]


def test_unwrapped_holds_components_and_old_variable_addresses_say_what_to_use():
    u = Variant.of("unwrapped")
    assert [x.var.name for x in u.variables] == ["unwrapped", "components"]
    assert u.at("components").dtype == np.int32
    pair = ("20240101T000000", "20240113T000000")
    assert ArdArray("b", "VV", u.at("components"), pair).path.endswith(f"/components/{pair[0]}_{pair[1]}")
    # products without companions keep their paths
    assert ArdArray("b", "VV", Variant.of("coherence"), pair).path == (
        f"b/vv/{Variant.of('coherence').key}/{pair[0]}_{pair[1]}")
    for product, hint in (("unwrapped", "ds['components']"), ("velocity", "ds['velocity_std']")):
        with pytest.raises(ValidationError, match=hint.replace("[", r"\[")):
            Variant.of(product, {"variable": "components"})


def test_velocity_fit_is_numpy_s_least_squares_line():
    rng = np.random.default_rng(1)
    years = np.sort(rng.uniform(0, 2, 7))
    d = rng.normal(size=(7, 3, 4))
    vel, std = velocity_fit(d, years)
    assert vel.shape == std.shape == (3, 4)
    coef, res, *_ = np.polyfit(years, d.reshape(7, -1), 1, full=True)
    np.testing.assert_allclose(vel.reshape(-1), coef[0], rtol=1e-5)
    sxx = np.sum((years - years.mean()) ** 2)
    np.testing.assert_allclose(std.reshape(-1), np.sqrt(res / 5 / sxx), rtol=1e-5)
    with pytest.raises(InputError, match="two dates"):
        velocity_fit(d[:1], years[:1])
