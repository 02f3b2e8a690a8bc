"""Dates of a burst (no I/O): date keys, how users name them, and the pair rule.

A date key is a burst's sensing start ``YYYYmmddTHHMMSS.ffffff`` (UTC). Users name dates by
an RFC 3339 instant (matched within 1 s), a calendar day, an interval ``a/b`` (open ends
``..``), or, on the command line, a unique prefix of a key (``20240106``).

The pair rule: a pair (reference, secondary), reference first in time, gets pair products
when the two dates are consecutive among the burst ID's dates, or at most
:data:`MAX_PAIR_DAYS` days apart (with half a day of tolerance: the dates of a burst ID are
whole days apart, give or take milliseconds). The STAC index, keep-up, the job runner and the
API all ask this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from cube.errors import InputError, NotFoundError
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



def iso(date_key: str) -> str:
    """RFC 3339 (µs, Z) of a date key."""
    return date_key_time(date_key).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str) -> datetime:
    """An RFC 3339 instant or a calendar day, as an aware UTC datetime (InputError otherwise)."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        raise InputError(
            f"datetime {text!r} is not RFC 3339 (2024-01-06T02:20:10Z) or a day (2024-01-06)"
        ) from None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InputError(f"datetime {text!r} is outside the years 1 to 9999 in UTC") from None


def match_dates(dates: list[str], text: str | None, *, burst_id: str) -> list[str]:
    """The date keys a ``datetime`` parameter names.

    ``text`` is an instant (±1 s), a day, or ``a/b`` (open ends ``..``); None means every date.
    NotFoundError if nothing matches.
    """
    if not text:
        return list(dates)
    times = {d: date_key_time(d) for d in dates}
    if "/" in text:
        a, _, b = text.partition("/")
        lo = parse_instant(a) if a not in ("", "..") else datetime.min.replace(tzinfo=UTC)
        hi = parse_instant(b) if b not in ("", "..") else datetime.max.replace(tzinfo=UTC)
        if len(b.strip()) == 10:
            last = datetime.max.replace(tzinfo=UTC)  # 9999-12-31 has no next day
            hi = last if hi.date() == last.date() else hi + timedelta(days=1)
        found = [d for d in dates if lo <= times[d] <= hi]
    elif len(text.strip()) == 10:
        day = parse_instant(text).date()
        found = [d for d in dates if times[d].date() == day]
    else:
        t = parse_instant(text)
        found = [d for d in dates if abs((times[d] - t).total_seconds()) <= 1.0]
    if not found:
        have = ", ".join(iso(d) for d in dates)
        raise NotFoundError(f"{burst_id}: no date matches datetime={text!r}; dates: {have}")
    return found


def pick_date(dates: list[str], text: str | None, *, burst_id: str, name: str = "datetime") -> str:
    """Exactly one date key for ``text`` (the latest if None); InputError if it names several."""
    if not text:
        if not dates:
            raise NotFoundError(f"{burst_id} has no dates")
        return dates[-1]
    found = match_dates(dates, text, burst_id=burst_id)
    if len(found) != 1:
        raise InputError(f"{name}={text!r} matches {len(found)} dates of {burst_id}; give one date "
                         f"(its dates: {', '.join(dates)})")
    return found[0]


def date_by_prefix(dates: list[str], text: str, *, burst_id: str) -> str:
    """The date key starting with ``text`` (a full key, or a unique prefix such as ``20240106``)."""
    matches = [d for d in dates if d.startswith(text.strip())]
    if len(matches) != 1:
        fix = "give more digits" if matches else "give one of its dates or a unique prefix (YYYYMMDD)"
        raise InputError(f"date {text!r} matches {len(matches)} dates of {burst_id}; {fix}: "
                         f"{', '.join(dates)}")
    return matches[0]


def layer_dates(
    dates: list[str],
    pair: bool,
    *,
    burst_id: str,
    product: str,
    datetime: str | None,
    reference: str | None,
    secondary: str | None,
) -> tuple[str, ...]:
    """The date (or pair) of a map layer.

    One date: the latest date ``datetime`` matches (the latest overall if None). Pairs:
    ``reference``/``secondary`` (a missing one is the next/previous date; neither: the latest two
    dates). NotFoundError if nothing matches; InputError for a wrong mix.
    """
    if not pair:
        if reference or secondary:
            raise InputError(f"{product} has one date per layer: give datetime=, not reference=/secondary=")
        found = match_dates(dates, datetime, burst_id=burst_id) if datetime else dates
        if not found:
            raise NotFoundError(f"{burst_id} has no dates")
        return (found[-1],)
    if datetime:
        raise InputError(
            f"{product} is a pair product: give reference= and secondary= (neither: the latest pair), "
            "not datetime="
        )
    ref = pick_date(dates, reference, burst_id=burst_id, name="reference") if reference else None
    sec = pick_date(dates, secondary, burst_id=burst_id, name="secondary") if secondary else None
    if ref is None:
        if sec is None:
            if len(dates) < 2:
                raise NotFoundError(f"{burst_id} has {len(dates)} date(s); {product} needs two")
            return dates[-2], dates[-1]
        earlier = [d for d in dates if d < sec]
        if not earlier:
            raise NotFoundError(f"{burst_id}: no date before secondary={secondary!r}; give reference=")
        ref = earlier[-1]
    elif sec is None:
        later = [d for d in dates if d > ref]
        if not later:
            raise NotFoundError(f"{burst_id}: no date after reference={reference!r}; give secondary=")
        sec = later[0]
    if ref == sec:
        raise InputError(f"reference and secondary are the same date ({ref}); give two dates")
    return ref, sec
