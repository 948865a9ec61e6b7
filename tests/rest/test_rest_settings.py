"""REST settings: what they accept, refuse and hide; the workspace map; the token cache."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from support import REST_SECRET, rest_settings

from mktows._errors import ConfigError
from mktows._models import Secret
from mktows.rest._settings import TokenCache, parse_partitions


def test_settings_normalise_and_hide_the_secret() -> None:
    s = rest_settings(client_id=" cid ", foreign_id_field=" externalId ")
    assert s.rest_url == "https://mk.test/rest"
    assert (s.client_id, s.foreign_id_field) == ("cid", "externalId")
    assert REST_SECRET not in repr(s)
    with pytest.raises(TypeError):
        s.partitions["US"] = "US"  # type: ignore[index]
    assert hash(s) == hash(rest_settings())


def test_settings_keep_the_secret_wrapped_and_compare_by_it() -> None:
    s = rest_settings()
    assert isinstance(s.client_secret, Secret)
    assert s.client_secret.value == REST_SECRET
    assert "client_secret=<secret>" in repr(s)
    given = rest_settings(client_secret=Secret(REST_SECRET))
    assert given == s
    assert hash(given) == hash(s)
    assert replace(s, client_id="other").client_secret is s.client_secret
    assert rest_settings(client_secret=REST_SECRET + "-other") != s


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"rest_url": ""}, "rest_url is required", id="no-rest-url"),
        pytest.param({"identity_url": None}, "identity_url is required", id="no-identity"),
        pytest.param({"client_id": "  "}, "client_id is required", id="blank-client-id"),
        pytest.param({"client_secret": ""}, "client_secret is required", id="no-secret"),
        pytest.param({"client_secret": Secret("")}, "client_secret is req", id="empty-secret"),
        pytest.param({"client_secret": None}, "client_secret is required", id="none-secret"),
        pytest.param({"foreign_id_field": " "}, "foreign_id_field", id="blank-foreign"),
        pytest.param({"partitions": {"": "EU"}}, "workspace name", id="blank-workspace"),
        pytest.param({"partitions": {"Europe": " "}}, "'Europe'", id="blank-partition"),
        # Text no request can carry is refused here, not met as a UnicodeError mid-call.
        pytest.param({"client_id": "c\ud800"}, "client_id holds", id="surrogate-client-id"),
        pytest.param({"rest_url": "https://x/\ud800"}, "rest_url holds", id="surrogate-url"),
        pytest.param({"client_secret": "s\udfff"}, "client_secret holds", id="surrogate-secret"),
        pytest.param({"foreign_id_field": "ext\x00"}, "foreign_id_field holds", id="nul-foreign"),
        pytest.param({"partitions": {"Europe": "E\ud800"}}, "'Europe' holds", id="bad-partition"),
    ],
)
def test_settings_refuse(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        rest_settings(**changes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Europe=EU, US = US", {"Europe": "EU", "US": "US"}, id="two"),
        pytest.param("", {}, id="empty"),
        pytest.param("A=B,,", {"A": "B"}, id="trailing-commas"),
    ],
)
def test_parse_partitions(text: str, expected: dict[str, str]) -> None:
    assert parse_partitions(text) == expected


@pytest.mark.parametrize("text", ["Europe", "=EU", "Europe=", "A=B,C"])
def test_parse_partitions_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="WORKSPACE=PARTITION"):
        parse_partitions(text)


def test_token_cache_renews_before_expiry() -> None:
    cache = TokenCache()
    assert cache.current(0.0) is None
    assert repr(cache) == "TokenCache(empty)"
    tok, short = Secret("tok"), Secret("short")
    cache.store(tok, 3600, now=1000.0)
    assert repr(cache) == "TokenCache(<token>)"
    assert cache.current(1000.0 + 3539) is tok
    assert cache.current(1000.0 + 3540) is None  # 60 s margin
    cache.store(short, 20, now=0.0)
    assert cache.current(17.9) is short
    assert cache.current(18.0) is None
    cache.discard(Secret("other"))
    assert cache.current(1.0) is short
    cache.discard(Secret("short"))
    assert cache.current(1.0) is None
    cache.discard(short)  # nothing cached: no error


def test_the_same_token_handed_back_is_kept_until_it_really_expires() -> None:
    # Adobe, "Authentication": before expiry the identity endpoint "returns the same
    # token and its remaining lifespan": renewing 60 s early would fetch it again and
    # again, so a token already held is used until a second before it expires.
    cache = TokenCache()
    cache.store(Secret("tok"), 3600, now=0)
    assert cache.current(3539) is not None
    assert cache.current(3540) is None  # due for renewal 60 s early
    cache.store(Secret("tok"), 60, now=3540)  # the same token, 60 s left
    assert cache.current(3598) is not None
    assert cache.current(3599) is None
    cache.store(Secret("new"), 3600, now=3600)
    assert cache.current(7139) is not None
    assert cache.current(7140) is None
