"""Timestamps and request signatures (SPEC §2). Pure: the clock is a parameter."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from ._errors import ValidationError
from ._values import parse_w3c_datetime

__all__ = ["format_timestamp", "parse_timestamp", "sign", "verify"]


def format_timestamp(when: dt.datetime) -> str:
    """W3C date-time with an explicit offset and whole seconds: ``2013-07-31T12:38:47-07:00``.

    A naive datetime is refused: without an offset the service cannot tell the
    time and answers 20016.
    """
    if not isinstance(when, dt.datetime):
        raise ValidationError(
            f"timestamp must be a datetime, not {type(when).__name__}", field="timestamp"
        )
    offset = when.utcoffset()
    if offset is None:
        raise ValidationError(
            "timestamp must be timezone-aware, e.g. datetime.now(timezone.utc)",
            field="timestamp",
        )
    minutes = int(offset.total_seconds()) // 60
    sign_char = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    local = when.replace(tzinfo=None, microsecond=0).isoformat()
    return f"{local}{sign_char}{hours:02d}:{mins:02d}"


def parse_timestamp(text: str) -> dt.datetime:
    """Read a W3C timestamp with ``Z`` or an offset; ValueError when it has neither."""
    when = parse_w3c_datetime(text.strip())
    if when.tzinfo is None:
        raise ValueError(f"timestamp {text[:40]!r} has no offset")
    return when


def sign(timestamp: str, user_id: str, encryption_key: str) -> str:
    """Lowercase hex HMAC-SHA1 of ``timestamp + user_id`` keyed by the encryption key."""
    message = (timestamp + user_id).encode("utf-8", "surrogatepass")
    key = encryption_key.encode("utf-8", "replace")
    if key.count(b"?") != encryption_key.count("?"):  # only lone surrogates are replaced
        # Raised here, not from the UnicodeEncodeError, whose text would hold the key.
        raise ValidationError(
            "encryption_key holds a character UTF-8 cannot encode; copy the key again",
            field="encryption_key",
        )
    return hmac.new(key, message, hashlib.sha1).hexdigest()


def verify(signature: str, timestamp: str, user_id: str, encryption_key: str) -> bool:
    """Constant-time check of a received signature (case-insensitive hex)."""
    expected = sign(timestamp, user_id, encryption_key)
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected.encode("ascii"), given)
