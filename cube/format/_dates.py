"""The pair rule of the cube: which pairs of a burst ID's dates get pair products (no I/O).

A pair (reference, secondary), reference first in time, is in the rule when the two dates are
consecutive among the burst ID's dates, or at most :data:`MAX_PAIR_DAYS` days apart (with half
a day of tolerance: the dates of a burst ID are whole days apart, give or take milliseconds).
The STAC index, keep-up, the job runner and the API all ask this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from cube.format._layout import date_key_time

MAX_PAIR_DAYS = 48
"""Pair products get an item for consecutive dates and for dates at most this many days apart."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
DAY_US = 86_400_000_000
"""Microseconds in a day."""


def pair_in_rule(days: float, consecutive: bool, max_days: float = MAX_PAIR_DAYS) -> bool:
    """Whether a pair of dates ``days`` apart (consecutive or not) is in the pair rule."""
    return consecutive or days <= max_days + 0.5


def rule_pair_indices(times_us: Sequence[int],
                      max_days: float = MAX_PAIR_DAYS) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of the pair rule over sorted times.

    ``times_us``: sensing starts in µs since 1970 (any integer epoch), ascending.
    """
    out = []
    for i in range(len(times_us)):
        for j in range(i + 1, len(times_us)):
            if not pair_in_rule((times_us[j] - times_us[i]) / DAY_US, j == i + 1, max_days):
                break  # sorted: later dates are further apart and not consecutive
            out.append((i, j))
    return out


def rule_pairs(date_keys: Iterable[str], max_days: float = MAX_PAIR_DAYS) -> list[tuple[str, str]]:
    """Every (reference, secondary) pair of the pair rule among one burst's date keys, in date order."""
    dates = sorted(set(date_keys))
    times = [(date_key_time(d) - _EPOCH) // _US for d in dates]
    return [(dates[i], dates[j]) for i, j in rule_pair_indices(times, max_days)]


def new_pairs(dates: Iterable[str], new: str) -> list[tuple[str, str]]:
    """The (reference, secondary) pairs of the pair rule that hold the date ``new``.

    ``dates``: the date keys already there; ``new`` may fall before some of them (a late
    arrival).
    """
    return [pair for pair in rule_pairs({*dates, new}) if new in pair]


__all__ = ["DAY_US", "MAX_PAIR_DAYS", "new_pairs", "pair_in_rule", "rule_pair_indices", "rule_pairs"]
