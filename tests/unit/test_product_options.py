"""Product options: bounded fields, path segments that round-trip, distinct variant digests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cube.errors import NotFoundError
from cube.products import PRODUCTS, CoherenceOptions, get_product, parse_segment


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_defaults_round_trip_through_an_empty_segment(name):
    model = PRODUCTS[name].options
    assert model().segment() == ""
    assert parse_segment(model, "") == model()


def test_non_default_options_round_trip_and_change_the_digest():
    opts = CoherenceOptions(window=(7, 7))
    assert opts.segment() == "window=7x7"
    assert parse_segment(CoherenceOptions, "window=7x7") == opts
    assert opts.digest() != CoherenceOptions().digest()
    assert opts.looks == (7, 7)


@pytest.mark.parametrize("segment", ["window=0x7", "window=7x99", "colour=red", "window"])
def test_bad_options_are_rejected(segment):
    with pytest.raises((ValidationError, ValueError)):
        parse_segment(CoherenceOptions, segment)


def test_unknown_product_names_the_known_ones():
    with pytest.raises(NotFoundError, match="coherence"):
        get_product("phase")
