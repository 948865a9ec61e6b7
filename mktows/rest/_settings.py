"""Where and as whom to call REST, and what a client keeps between calls; no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .._errors import ConfigError
from .._models import Secret

__all__ = [
    "Catalog",
    "LeadField",
    "RestSettings",
    "RestState",
    "TokenCache",
    "parse_partitions",
]

TOKEN_MARGIN = 60.0  # renew this long before expiry (or a tenth of a shorter lifetime)
# Adobe ("Authentication"): "If you call the Identity endpoint before the token expires,
# the response returns the same token and its remaining lifespan". Renewing early then
# yields the token already held: it is kept until this close to its real expiry.
SAME_TOKEN_MARGIN = 1.0


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no request could carry it
        return False
    return True


def _required(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} is required")
    if not value.isprintable():  # also a lone surrogate, which no request could carry
        raise ConfigError(f"{what} holds a control character or a lone surrogate: {value!r}")
    return value.strip()


@dataclass(frozen=True, slots=True, kw_only=True)
class RestSettings:
    """Where and as whom to call the REST API, and how SOAP concepts map onto it.

    ``foreign_id_field`` is the REST name of the custom lead field that holds
    the old ForeignSysPersonId (None: leads keyed by it are refused);
    ``partitions`` maps a SOAP workspace name to a REST partition name.
    ``client_secret`` may be given as a str; it is kept as a
    :class:`~mktows.Secret` (``.value`` reads it), so no repr shows it.
    """

    rest_url: str
    identity_url: str
    client_id: str
    client_secret: Secret | str  # a Secret once constructed (Secrets compare by value)
    foreign_id_field: str | None = None
    partitions: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Wrapped first: from here on no repr of these settings shows the secret.
        secret = self.client_secret
        if not isinstance(secret, Secret):
            secret = Secret(secret)
        object.__setattr__(self, "client_secret", secret)
        for name in ("rest_url", "identity_url"):
            url = _required(getattr(self, name), name)
            object.__setattr__(self, name, url.rstrip("/"))
        object.__setattr__(self, "client_id", _required(self.client_id, "client_id"))
        if not isinstance(secret.value, str) or not secret.value:
            raise ConfigError("client_secret is required (the API user's client secret)")
        if not _encodable(secret.value):
            raise ConfigError("client_secret holds a character UTF-8 cannot encode; copy it again")
        if self.foreign_id_field is not None:
            object.__setattr__(
                self, "foreign_id_field", _required(self.foreign_id_field, "foreign_id_field")
            )
        partitions = {}
        for workspace, partition in dict(self.partitions).items():
            partitions[_required(workspace, "a workspace name in partitions")] = _required(
                partition, f"the partition of workspace {workspace!r}"
            )
        object.__setattr__(self, "partitions", MappingProxyType(partitions))


def parse_partitions(text: str) -> dict[str, str]:
    """``"Europe=EU,US=US"`` -> ``{"Europe": "EU", "US": "US"}``; ConfigError when malformed."""
    mapping: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        workspace, sep, partition = item.partition("=")
        if not sep or not workspace.strip() or not partition.strip():
            raise ConfigError(
                f"a workspace mapping must read WORKSPACE=PARTITION[,...], got {item.strip()!r}"
            )
        mapping[workspace.strip()] = partition.strip()
    return mapping


class TokenCache:
    """One OAuth access token and when to stop using it; ``now`` is seconds since the epoch.

    The entry is one tuple, replaced whole, so threads sharing a cache never see
    a token with another token's expiry. The token is kept in a :class:`Secret`:
    no repr, and no error reporter's dump of locals, shows it.
    """

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        self._entry: tuple[Secret, float] | None = None

    def __repr__(self) -> str:
        return f"TokenCache({'<token>' if self._entry else 'empty'})"

    def current(self, now: float) -> Secret | None:
        """The token, unless there is none or it is due for renewal at ``now``."""
        entry = self._entry
        if entry is not None and now < entry[1]:
            return entry[0]
        return None

    def store(self, token: Secret, expires_in: float, now: float) -> None:
        """Keep ``token``, valid for ``expires_in`` seconds from ``now``, renewing early;
        the same token handed back again (see :data:`SAME_TOKEN_MARGIN`) is used until
        just before it really expires.
        """
        lifetime = max(0.0, expires_in)
        entry = self._entry
        same = entry is not None and entry[0].value == token.value
        margin = SAME_TOKEN_MARGIN if same else TOKEN_MARGIN
        self._entry = (token, now + lifetime - min(margin, lifetime / 10))

    def discard(self, token: Secret) -> None:
        """Forget ``token`` (the server refused it), unless another has replaced it."""
        entry = self._entry
        if entry is not None and entry[0].value == token.value:
            self._entry = None


@dataclass(frozen=True, slots=True)
class LeadField:
    """One field of the lead schema: its REST and SOAP names and its data type."""

    rest_name: str
    soap_name: str
    data_type: str


class Catalog:
    """The lead schema from Describe, by SOAP name and by REST name."""

    __slots__ = ("by_rest", "by_soap")

    def __init__(self, fields: list[LeadField]) -> None:
        self.by_rest: Mapping[str, LeadField] = {f.rest_name: f for f in fields}
        self.by_soap: Mapping[str, LeadField] = {f.soap_name: f for f in fields}

    def __repr__(self) -> str:
        return f"Catalog({len(self.by_rest)} fields)"

    def field_for(self, name: str) -> LeadField | None:
        """The field an attribute ``name`` means: its SOAP name, else its REST name."""
        return self.by_soap.get(name) or self.by_rest.get(name)


@dataclass(eq=False)
class RestState:
    """What a client keeps between calls: the (shared) token cache and the lead schema."""

    tokens: TokenCache
    catalog: Catalog | None = None
