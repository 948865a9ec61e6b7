"""Fault rules: make matching calls fail on purpose (a fault code, a delay, a FAILED
syncStatus, a dropped connection), ``times`` times or with a ``probability``.
Parsing, matching and counting only; the WSGI adapter acts on what a rule says.
No I/O, no clock.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._codes import FAULT_MESSAGES, REST_FOR_SOAP, REST_MESSAGES, REST_TWIN_CODES
from .._errors import ConfigError

__all__ = ["FaultRule", "FaultRules", "Injected", "parse_rule_text"]

_WIRES = ("soap", "rest")
_MATCH_KEYS = ("email", "wire", "user")
_ACTIONS = ("code", "delay_ms", "status", "drop")
_RULE_KEYS = frozenset({"match", *_ACTIONS, "error", "times", "probability"})
_MAX_DELAY_MS = 120_000


def _text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"fault rule: match.{name} must be a non-empty string, got {value!r}")
    return value


def _whole(name: str, value: object, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"fault rule: {name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and <= {high}" if high is not None else ""
        raise ConfigError(f"fault rule: {name} must be >= {low}{upper}, got {value}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRule:
    """What to do to calls that match. ``email`` is a glob (``*@flaky.test``, case
    insensitive), ``wire`` ``soap`` or ``rest``, ``user`` a SOAP user id or REST
    client id; None matches anything. Exactly one of ``code`` (a SOAP fault code or
    a REST error code), ``status`` ("FAILED", with ``error``), ``drop`` (close the
    connection unanswered), or ``delay_ms`` alone; ``delay_ms`` may also come
    before another action. ``times`` (None: every time) or ``probability``.
    """

    email: str | None = None
    wire: str | None = None
    user: str | None = None
    code: int | None = None
    delay_ms: int = 0
    status: str | None = None
    error: str | None = None
    drop: bool = False
    times: int | None = None
    probability: float | None = None

    def __post_init__(self) -> None:
        if self.wire is not None and self.wire not in _WIRES:
            raise ConfigError(f"fault rule: match.wire must be 'soap' or 'rest', got {self.wire!r}")
        if self.code is not None:
            _whole("code", self.code, low=1)
            if self.code not in FAULT_MESSAGES and self.code not in REST_MESSAGES:
                raise ConfigError(
                    f"fault rule: code {self.code} is neither a syncLead fault code (20xxx) "
                    "nor a REST error code (6xx, 1xxx)"
                )
        _whole("delay_ms", self.delay_ms, low=0, high=_MAX_DELAY_MS)
        if self.status is not None and self.status != "FAILED":
            raise ConfigError(f"fault rule: status can only be 'FAILED', got {self.status!r}")
        if self.error is not None and (self.status is None or not isinstance(self.error, str)):
            raise ConfigError("fault rule: error is the text of a status FAILED rule")
        if not isinstance(self.drop, bool):
            raise ConfigError(f"fault rule: drop must be true or false, got {self.drop!r}")
        actions = sum((self.code is not None, self.status is not None, self.drop))
        if actions > 1 or (actions == 0 and not self.delay_ms):
            raise ConfigError(
                "fault rule: give one of code, status (FAILED), drop, or delay_ms alone"
            )
        if self.times is not None and self.probability is not None:
            raise ConfigError("fault rule: give times or probability, not both")
        if self.times is not None:
            _whole("times", self.times, low=1)
        if self.probability is not None:
            p = self.probability
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
                raise ConfigError(f"fault rule: probability must be in (0, 1], got {p!r}")

    @classmethod
    def from_dict(cls, data: object) -> FaultRule:
        """A rule from its JSON form: ``{"match": {...}, "code": 20023, "times": 3}``."""
        if not isinstance(data, Mapping):
            raise ConfigError("a fault rule must be a JSON object")
        unknown = sorted(str(key) for key in data if key not in _RULE_KEYS)
        if unknown:
            raise ConfigError(
                f"fault rule: unknown key {unknown[0]!r}; "
                f"known keys: {', '.join(sorted(_RULE_KEYS))}"
            )
        match = data.get("match", {})
        if not isinstance(match, Mapping):
            raise ConfigError("fault rule: match must be a JSON object")
        odd = sorted(str(key) for key in match if key not in _MATCH_KEYS)
        if odd:
            raise ConfigError(f"fault rule: match.{odd[0]} is unknown; use email, wire, user")
        return cls(
            email=_text("email", match.get("email")),
            wire=_text("wire", match.get("wire")),
            user=_text("user", match.get("user")),
            code=data.get("code"),
            delay_ms=data.get("delay_ms", 0),
            status=data.get("status"),
            error=data.get("error"),
            drop=data.get("drop", False),
            times=data.get("times"),
            probability=data.get("probability"),
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (without None values)."""
        match = {k: v for k, v in (("email", self.email), ("wire", self.wire)) if v is not None}
        if self.user is not None:
            match["user"] = self.user
        data: dict[str, Any] = {"match": match}
        for name in ("code", "status", "error", "times", "probability"):
            value = getattr(self, name)
            if value is not None:
                data[name] = value
        if self.delay_ms:
            data["delay_ms"] = self.delay_ms
        if self.drop:
            data["drop"] = True
        return data

    def code_for(self, wire: str) -> int | None:
        """The code this rule answers on ``wire``: itself, or its twin on the other wire;
        None when the code has no meaning there (the rule then does not apply).
        """
        code = self.code
        assert code is not None
        if wire == "soap":
            return code if code in FAULT_MESSAGES else REST_TWIN_CODES.get(code)
        return code if code in REST_MESSAGES else REST_FOR_SOAP.get(code)

    def applies(self, *, wire: str, email: str | None, user: str | None) -> bool:
        """Whether a call with these facts matches (counting nothing)."""
        if self.wire is not None and self.wire != wire:
            return False
        if self.user is not None and self.user != user:
            return False
        if self.email is not None and (
            email is None or not fnmatch.fnmatchcase(email.lower(), self.email.lower())
        ):
            return False
        if self.code is not None and self.code_for(wire) is None:
            return False
        return not (self.status is not None and wire != "soap")  # FAILED is a SOAP status


def parse_rule_text(text: str) -> FaultRule:
    """A rule from the command line: ``code=20023,times=3,email=*@flaky.test``."""
    data: dict[str, Any] = {}
    match: dict[str, Any] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"fault rule {text!r}: expected name=value pairs, got {part!r}")
        value = value.strip()
        if name in _MATCH_KEYS:
            match[name] = value
        elif name in ("code", "delay_ms", "times"):
            try:
                data[name] = int(value)
            except ValueError:
                raise ConfigError(
                    f"fault rule: {name} must be a whole number, got {value!r}"
                ) from None
        elif name == "probability":
            try:
                data[name] = float(value)
            except ValueError:
                raise ConfigError(
                    f"fault rule: probability must be a number, got {value!r}"
                ) from None
        elif name == "drop":
            data[name] = value.lower() in ("1", "true", "yes")
        else:
            data[name] = value
    data["match"] = match
    return FaultRule.from_dict(data)


@dataclass(frozen=True, slots=True)
class Injected:
    """What to do to one call: wait ``delay_ms``, then answer ``code``, a FAILED
    status with ``error``, drop the connection, or (all None/False) go on normally.
    """

    rule_id: int
    delay_ms: int
    code: int | None
    status: str | None
    error: str | None
    drop: bool


class FaultRules:
    """The live rules, in the order added; thread-safe. ``take()`` finds the first
    rule that matches a call and counts it (a rule whose ``times`` are spent is gone).
    """

    def __init__(
        self, rules: Iterable[FaultRule] = (), *, rng: random.Random | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rules: dict[int, tuple[FaultRule, list[int]]] = {}
        self._rng = rng or random.Random()
        for rule in rules:
            self.add(rule)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def add(self, rule: FaultRule) -> int:
        """Add a rule; returns its id."""
        with self._lock:
            rule_id = next(self._ids)
            self._rules[rule_id] = (rule, [0, 0])  # [times left (unused if None), hits]
            if rule.times is not None:
                self._rules[rule_id][1][0] = rule.times
        return rule_id

    def remove(self, rule_id: int) -> bool:
        """Remove one rule; False if there is none with that id."""
        with self._lock:
            return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def listed(self) -> list[dict[str, Any]]:
        """The rules as JSON objects, each with ``id``, ``hits`` and ``times_left``."""
        with self._lock:
            items = list(self._rules.items())
        answer = []
        for rule_id, (rule, (left, hits)) in items:
            data = {"id": rule_id, **rule.as_dict(), "hits": hits}
            data["times_left"] = left if rule.times is not None else None
            answer.append(data)
        return answer

    def take(self, *, wire: str, email: str | None, user: str | None) -> Injected | None:
        """The action for a call (the first matching rule, counted), or None."""
        if not self._rules:
            return None
        with self._lock:
            for rule_id, (rule, counts) in list(self._rules.items()):
                if not rule.applies(wire=wire, email=email, user=user):
                    continue
                if rule.probability is not None and self._rng.random() >= rule.probability:
                    continue
                counts[1] += 1
                if rule.times is not None:
                    counts[0] -= 1
                    if counts[0] <= 0:
                        del self._rules[rule_id]
                return Injected(
                    rule_id=rule_id,
                    delay_ms=rule.delay_ms,
                    code=rule.code_for(wire) if rule.code is not None else None,
                    status=rule.status,
                    error=rule.error,
                    drop=rule.drop,
                )
        return None
