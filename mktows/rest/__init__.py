"""The same syncLead call over Marketo's REST API: settings, parsers, builders and the
call flow (pure), and the sync and async clients that drive them.
"""

from __future__ import annotations

from ._client import AsyncRestClient, RestClient
from ._core import RestSettings, parse_partitions

__all__ = ["AsyncRestClient", "RestClient", "RestSettings", "parse_partitions"]
