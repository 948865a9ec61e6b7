"""Marketo's day starts at midnight US Central (REST's daily quota resets then). Without
a time zone database the sandbox falls back to a fixed UTC-6 (CST all year round).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from mktows.sandbox import _rest

UTC = dt.timezone.utc
# 05:30Z on 15 March 2026: 00:30 CDT (UTC-5) on the 15th, 23:30 CST (UTC-6) on the 14th.
SUMMER_MORNING = dt.datetime(2026, 3, 15, 5, 30, tzinfo=UTC)


def test_central_time_follows_daylight_saving() -> None:
    central = _rest._central()
    assert SUMMER_MORNING.astimezone(central).date() == dt.date(2026, 3, 15)
    assert central.utcoffset(dt.datetime(2026, 1, 15)) == dt.timedelta(hours=-6)


@pytest.mark.parametrize(
    "missing",
    [
        pytest.param(zoneinfo.ZoneInfoNotFoundError("No time zone found"), id="no-tzdata"),
        pytest.param(OSError("unreadable zone file"), id="unreadable"),
    ],
)
def test_without_a_time_zone_database_central_is_a_fixed_utc_minus_6(
    monkeypatch: pytest.MonkeyPatch, missing: Exception
) -> None:
    def no_zone(key: str) -> zoneinfo.ZoneInfo:
        raise missing

    monkeypatch.setattr(zoneinfo, "ZoneInfo", no_zone)
    central = _rest._central()
    assert central.utcoffset(None) == dt.timedelta(hours=-6)
    assert central.tzname(None) == "CST"
    # No daylight saving: the new day starts an hour later in summer than Chicago's.
    assert SUMMER_MORNING.astimezone(central).date() == dt.date(2026, 3, 14)
