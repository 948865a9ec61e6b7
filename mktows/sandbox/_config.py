"""Sandbox configuration: SOAP users, REST clients, workspaces, partitions,
assignment rules, custom fields and limits, from defaults or a JSON file.
Validates; never touches a socket or a database.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError
from ._catalog import ATTR_TYPES, KEY_NAMES, STANDARD_FIELDS, FieldCatalog
from ._faults import FaultRule

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_ENCRYPTION_KEY",
    "DEFAULT_USER_ID",
    "DEFAULT_WORKSPACE",
    "AssignmentRule",
    "SandboxConfig",
    "Workspace",
]

DEFAULT_USER_ID = "mktows_sandbox_user"
# Sandbox-only and published on purpose: it protects nothing. Use your own in shared setups.
DEFAULT_ENCRYPTION_KEY = "mktows-sandbox-key"
DEFAULT_WORKSPACE = "Default"
DEFAULT_CLIENT_ID = "mktows-sandbox-client"
# Sandbox-only and published on purpose, like DEFAULT_ENCRYPTION_KEY: it protects nothing.
DEFAULT_CLIENT_SECRET = "mktows-sandbox-secret"  # noqa: S105

_KEY_FIELD = "Email"  # the one key an assignment rule can test


@dataclass(frozen=True, slots=True)
class Workspace:
    """A workspace: its lead partitions and the primary one among them (SPEC §3)."""

    name: str
    partitions: tuple[str, ...] = (DEFAULT_WORKSPACE,)
    primary: str = DEFAULT_WORKSPACE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("a workspace needs a non-empty name")
        if (
            isinstance(self.partitions, str)
            or not self.partitions
            or not all(isinstance(p, str) and p.strip() for p in self.partitions)
        ):
            raise ConfigError(f"workspace {self.name!r} needs a list of non-empty partition names")
        if self.primary not in self.partitions:
            raise ConfigError(
                f"workspace {self.name!r}: primary partition {self.primary!r} is not one of "
                f"its partitions {list(self.partitions)}"
            )


@dataclass(frozen=True, slots=True)
class AssignmentRule:
    """New leads that qualify go to ``partition``: ``field`` equals ``equals``
    (case-insensitive), or the Email ends with ``email_domain`` (e.g. "acme.com").
    ``field`` is a field name in any case ("industry" is Industry); a
    :class:`SandboxConfig` stores it as the catalog spells it.
    """

    partition: str
    field: str = "Email"
    equals: str | None = None
    email_domain: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.field, str) or not self.field.strip():
            raise ConfigError(
                f"assignment rule for partition {self.partition!r} needs a field name string"
            )
        if (self.equals is None) == (self.email_domain is None):
            raise ConfigError(
                f"assignment rule for partition {self.partition!r} needs exactly one of "
                "'equals' (with 'field') or 'email_domain'"
            )
        if self.email_domain is not None and not _is_email(self.field):
            raise ConfigError(
                f"assignment rule for partition {self.partition!r}: email_domain applies to "
                f"the Email field, not {self.field!r}"
            )

    def matches(self, email: str | None, attributes: Mapping[str, str]) -> bool:
        """Whether a new lead with this Email and these attributes qualifies."""
        if self.email_domain is not None:
            if not email:
                return False
            domain = self.email_domain.lower().lstrip("@")
            address = email.strip().lower()
            return address.endswith("@" + domain) or address.endswith("." + domain)
        value = email if _is_email(self.field) else attributes.get(self.field)
        assert self.equals is not None
        return value is not None and value.strip().lower() == self.equals.strip().lower()


def _is_email(name: str) -> bool:
    return name.strip().lower() == "email"


def _frozen_map(data: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(data))


def _positive(name: str, value: object, *, allow_zero: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything the sandbox can be told. The defaults need no file: one user
    (:data:`DEFAULT_USER_ID` / :data:`DEFAULT_ENCRYPTION_KEY`), workspace "Default"
    with primary partition "Default", and the real service's limits (SPEC §5).

    Limits of 0 are off. ``freshness_window`` is how far (seconds) a request
    timestamp may be from the server's clock, past or future.

    The REST face: ``rest_clients`` maps client ids to secrets (default one pair,
    :data:`DEFAULT_CLIENT_ID` / :data:`DEFAULT_CLIENT_SECRET`; empty turns REST
    identity off), ``token_lifetime`` is an access token's life in seconds, and
    ``rest_foreign_id_field`` the REST name of the ForeignSysPersonId key.
    ``custom_rest_names`` gives a custom field a REST name other than its name
    with the first letter lowered.

    >>> SandboxConfig(daily_quota=0, custom_fields={"Tier": "string"})
    """

    users: Mapping[str, str] = field(
        default_factory=lambda: _frozen_map({DEFAULT_USER_ID: DEFAULT_ENCRYPTION_KEY}),
        repr=False,  # holds the encryption keys
    )
    workspaces_enabled: bool = True
    workspaces: tuple[Workspace, ...] = (Workspace(DEFAULT_WORKSPACE),)
    assignment_rules: tuple[AssignmentRule, ...] = ()
    custom_fields: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    rate_limit_calls: int = 100
    rate_limit_window: float = 20.0
    concurrency_limit: int = 10
    daily_quota: int = 10_000
    freshness_window: float = 300.0
    max_request_bytes: int = 1024 * 1024
    rest_clients: Mapping[str, str] = field(
        default_factory=lambda: _frozen_map({DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}),
        repr=False,  # holds the client secrets
    )
    token_lifetime: float = 3600.0
    rest_foreign_id_field: str = "externalId"
    custom_rest_names: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    journal_size: int = 1000
    faults: tuple[FaultRule, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.users, Mapping) or not self.users:
            raise ConfigError("users must map at least one user id to its encryption key")
        for user, key in self.users.items():
            if not isinstance(user, str) or not user.strip():
                raise ConfigError("a user id must be a non-empty string")
            if not isinstance(key, str) or not key:
                raise ConfigError(f"user {user!r} needs a non-empty encryption key string")
        object.__setattr__(self, "users", _frozen_map(self.users))
        if not isinstance(self.rest_clients, Mapping):
            raise ConfigError("rest_clients must map client ids to client secrets")
        for client, secret in self.rest_clients.items():
            if not isinstance(client, str) or not client.strip():
                raise ConfigError("a REST client id must be a non-empty string")
            if not isinstance(secret, str) or not secret:
                raise ConfigError(f"REST client {client!r} needs a non-empty secret string")
        object.__setattr__(self, "rest_clients", _frozen_map(self.rest_clients))
        _positive("token_lifetime", self.token_lifetime, allow_zero=False)
        self._check_workspaces()
        self._check_fields()
        for name in ("rate_limit_calls", "concurrency_limit", "daily_quota"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name} must be a whole number (0 = off), got {value!r}")
            _positive(name, value, allow_zero=True)
        _positive("rate_limit_window", self.rate_limit_window, allow_zero=False)
        _positive("freshness_window", self.freshness_window, allow_zero=False)
        if isinstance(self.max_request_bytes, bool) or not isinstance(self.max_request_bytes, int):
            raise ConfigError(
                f"max_request_bytes must be a whole number, got {self.max_request_bytes!r}"
            )
        _positive("max_request_bytes", self.max_request_bytes, allow_zero=False)
        if isinstance(self.journal_size, bool) or not isinstance(self.journal_size, int):
            raise ConfigError(f"journal_size must be a whole number, got {self.journal_size!r}")
        _positive("journal_size", self.journal_size, allow_zero=False)
        rules = tuple(self.faults)
        if not all(isinstance(rule, FaultRule) for rule in rules):
            raise ConfigError("faults must be a list of fault rules")
        object.__setattr__(self, "faults", rules)

    def _check_workspaces(self) -> None:
        if not isinstance(self.workspaces_enabled, bool):
            raise ConfigError("workspaces_enabled must be true or false")
        spaces = tuple(self.workspaces)
        names = [ws.name for ws in spaces]
        # Names match case-insensitively (Marketo's own Java sample names "Default" as
        # "default"), so they must differ in more than case.
        if len({name.casefold() for name in names}) != len(names):
            raise ConfigError(f"workspace names must be unique (ignoring case), got {names}")
        if DEFAULT_WORKSPACE.casefold() not in {name.casefold() for name in names}:
            # SPEC §3: "Default" always exists
            spaces = (Workspace(DEFAULT_WORKSPACE), *spaces)
        object.__setattr__(self, "workspaces", spaces)
        partitions = {p for ws in spaces for p in ws.partitions}
        rules = tuple(self.assignment_rules)
        for rule in rules:
            if rule.partition not in partitions:
                raise ConfigError(
                    f"assignment rule names partition {rule.partition!r}, which no workspace "
                    f"has (partitions: {sorted(partitions)})"
                )
        object.__setattr__(self, "assignment_rules", rules)

    def _check_fields(self) -> None:
        if not isinstance(self.custom_fields, Mapping):
            raise ConfigError("custom_fields must map field names to attrTypes")
        lower = {name.lower() for name in STANDARD_FIELDS} | KEY_NAMES
        for name, kind in self.custom_fields.items():
            if not isinstance(name, str) or not name.strip() or not name.isidentifier():
                raise ConfigError(f"custom field name {name!r} must be a non-empty identifier")
            if name.lower() in lower:
                raise ConfigError(f"custom field {name!r} clashes with a standard field or key")
            if kind not in ATTR_TYPES:
                raise ConfigError(
                    f"custom field {name!r} has type {kind!r}; use one of {sorted(ATTR_TYPES)}"
                )
        object.__setattr__(self, "custom_fields", _frozen_map(self.custom_fields))
        if not isinstance(self.rest_foreign_id_field, str):
            raise ConfigError("rest_foreign_id_field must be a string (a REST field name)")
        if not isinstance(self.custom_rest_names, Mapping):
            raise ConfigError("custom_rest_names must map custom field names to REST names")
        for name, rest in self.custom_rest_names.items():
            if name not in self.custom_fields:
                raise ConfigError(f"custom_rest_names names {name!r}, which is no custom field")
            if not isinstance(rest, str):
                raise ConfigError(f"the REST name of {name!r} must be a string")
        object.__setattr__(self, "custom_rest_names", _frozen_map(self.custom_rest_names))
        catalog = self.catalog()  # REST names: identifiers, no clashes (raises ConfigError)
        rules = []
        for rule in self.assignment_rules:
            # Stored as the catalog spells it: attributes reach the rules canonical.
            spelled = _KEY_FIELD if _is_email(rule.field) else catalog.canonical(rule.field)
            if spelled is None:
                raise ConfigError(
                    f"assignment rule for partition {rule.partition!r} uses unknown field "
                    f"{rule.field!r}"
                )
            rules.append(dataclasses.replace(rule, field=spelled))
        object.__setattr__(self, "assignment_rules", tuple(rules))

    def workspace(self, name: str) -> Workspace | None:
        """The workspace called ``name`` in any case ("default" is "Default"), or None."""
        wanted = name.casefold()
        return next((ws for ws in self.workspaces if ws.name.casefold() == wanted), None)

    def catalog(self) -> FieldCatalog:
        """The field catalog this configuration describes."""
        return FieldCatalog(
            self.custom_fields,
            rest_names=self.custom_rest_names,
            foreign_id_rest_name=self.rest_foreign_id_field,
        )

    def published_credentials(self) -> tuple[str, ...]:
        """The published credential pairs this configuration accepts, described (empty
        when none): :data:`DEFAULT_USER_ID` with :data:`DEFAULT_ENCRYPTION_KEY`, and
        :data:`DEFAULT_CLIENT_ID` with :data:`DEFAULT_CLIENT_SECRET`.
        """
        found = []
        if self.users.get(DEFAULT_USER_ID) == DEFAULT_ENCRYPTION_KEY:
            found.append(f"SOAP user {DEFAULT_USER_ID}")
        if self.rest_clients.get(DEFAULT_CLIENT_ID) == DEFAULT_CLIENT_SECRET:
            found.append(f"REST client {DEFAULT_CLIENT_ID}")
        return tuple(found)

    def without_published_credentials(self) -> SandboxConfig:
        """A copy where your own credentials replace the published ones: the published
        SOAP user is dropped when another user is configured, the published REST client
        when another client is.
        """
        users = {
            user: key
            for user, key in self.users.items()
            if (user, key) != (DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY)
        }
        clients = {
            client: secret
            for client, secret in self.rest_clients.items()
            if (client, secret) != (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        }
        return dataclasses.replace(
            self,
            users=users or self.users,
            rest_clients=clients or self.rest_clients,
        )

    def with_client(self, client_id: str, secret: str) -> SandboxConfig:
        """A copy where REST client ``client_id`` has ``secret`` (added or replaced)."""
        clients = dict(self.rest_clients)
        clients[client_id] = secret
        return dataclasses.replace(self, rest_clients=clients)

    def with_user(self, user_id: str, encryption_key: str) -> SandboxConfig:
        """A copy where ``user_id`` signs with ``encryption_key`` (added or replaced)."""
        users = dict(self.users)
        users[user_id] = encryption_key
        return dataclasses.replace(self, users=users)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SandboxConfig:
        """Build from parsed JSON; keys starting with ``_`` are comments and ignored."""
        if not isinstance(data, Mapping):
            raise ConfigError("the sandbox configuration must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        options: dict[str, Any] = {}
        for key, value in data.items():
            if key.startswith("_"):
                continue
            if key not in known:
                raise ConfigError(
                    f"unknown configuration key {key!r}; known keys: {', '.join(sorted(known))}"
                )
            options[key] = value
        try:
            if "workspaces" in options:
                options["workspaces"] = tuple(
                    Workspace(
                        name=ws["name"],
                        partitions=_partitions(ws),
                        primary=ws.get("primary", (ws.get("partitions") or [DEFAULT_WORKSPACE])[0]),
                    )
                    for ws in _items(options["workspaces"], "workspaces")
                )
            if "assignment_rules" in options:
                options["assignment_rules"] = tuple(
                    AssignmentRule(**{k: v for k, v in rule.items() if not k.startswith("_")})
                    for rule in _items(options["assignment_rules"], "assignment_rules")
                )
            if "faults" in options:
                options["faults"] = tuple(
                    FaultRule.from_dict(rule) for rule in _items(options["faults"], "faults")
                )
            if isinstance(options.get("custom_fields"), list):
                listed = _items(options["custom_fields"], "custom_fields")
                options["custom_fields"] = {f["name"]: f.get("type", "string") for f in listed}
                named = {f["name"]: f["rest_name"] for f in listed if "rest_name" in f}
                if named:
                    options["custom_rest_names"] = {**options.get("custom_rest_names", {}), **named}
            return cls(**options)
        except ConfigError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"invalid sandbox configuration: {type(exc).__name__}: {exc}"
            ) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SandboxConfig:
        """Read a JSON configuration file (see templates/sandbox.json)."""
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except OSError as exc:
            raise ConfigError(
                f"cannot read sandbox configuration {os.fspath(path)!r}: {exc.strerror}"
            ) from None
        except ValueError as exc:
            raise ConfigError(
                f"sandbox configuration {os.fspath(path)!r} is not valid JSON: {exc}"
            ) from None
        return cls.from_dict(data)


def _partitions(workspace: Mapping[str, Any]) -> tuple[str, ...]:
    value = workspace.get("partitions", [DEFAULT_WORKSPACE])
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise ConfigError(
            f"workspace {workspace.get('name')!r}: partitions must be a list of partition "
            f'names, e.g. ["Europe"], got {value!r}'
        )
    return tuple(value)


def _items(value: object, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(f"{name} must be a list of JSON objects")
    return value
