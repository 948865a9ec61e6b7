"""The same syncLead over Marketo's REST API (SPEC §7): public names only, no code here."""

from __future__ import annotations

from ._client import AsyncRestClient, RestClient
from ._settings import RestSettings, parse_partitions

__all__ = ["AsyncRestClient", "RestClient", "RestSettings", "parse_partitions"]
