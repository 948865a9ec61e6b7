"""The sandbox's service core: authenticate, limit, then apply SPEC §3. Every
matching rule lives here, once, in :meth:`SyncService.upsert`; SOAP's syncLead
(:meth:`SyncService.sync`) and REST's Sync Leads are thin translations into it.
Pure of HTTP, XML and JSON: it takes requests, a store and a clock, and returns
results or raises FaultError.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .._errors import FaultError, ValidationError
from .._hints import hint
from .._models import (
    Attribute,
    Fault,
    ForeignSysType,
    LeadRecord,
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
    check_sync_keys,
)
from .._signing import parse_timestamp, verify
from ._catalog import misfit
from ._config import DEFAULT_WORKSPACE, SandboxConfig, Workspace
from ._limits import Limiter
from ._store import LeadRow, Store, Transaction

__all__ = [
    "Clock",
    "Keys",
    "Lookup",
    "Mode",
    "Outcome",
    "Placement",
    "SyncService",
    "Upserted",
    "utc_now",
]

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The default clock: now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def _fault(code: int, detail: str) -> FaultError:
    return FaultError(Fault.for_code(code, detail))


# The ForeignSysType of a ForeignSysPersonId given without one (REST has no type).
_UNTYPED = ForeignSysType.CUSTOM.value


class Lookup(str, enum.Enum):
    """The key a lead was matched by (SOAP names, as SOAP's FAILED messages say them)."""

    ID = "Id"
    FOREIGN_ID = "ForeignSysPersonId"
    COOKIE = "cookie"
    EMAIL = "Email"

    def __str__(self) -> str:
        return self.value


class Mode(enum.Enum):
    """What a sync may do: SOAP always upserts; REST also has createOnly / updateOnly."""

    UPSERT = "createOrUpdate"
    CREATE = "createOnly"
    UPDATE = "updateOnly"
    DUPLICATE = "createDuplicate"  # REST: always a new lead, whatever matches


class Outcome(enum.Enum):
    """What :meth:`SyncService.upsert` did, or why it did nothing."""

    CREATED = "created"
    UPDATED = "updated"
    NOT_FOUND = "not found"  # an Id that matched nothing, or UPDATE without a match
    EXISTS = "exists"  # CREATE and a lead matched
    WRONG_PARTITION = "wrong partition"  # matched by a unique key outside the required one
    FOREIGN_ID_TAKEN = "foreign id taken"  # the ForeignSysPersonId is another lead's
    MULTIPLE = "multiple"  # REST: several leads match the lookup Email (1007)


@dataclass(frozen=True, slots=True)
class Keys:
    """The lead keys of one sync (each None when not given); the cookie goes apart."""

    id: int | None = None
    email: str | None = None
    fsp_id: str | None = None
    fsp_type: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Partition rules of one sync (SPEC §3). A new lead goes to ``partition`` when
    given, else to the first matching assignment rule's, else to ``fallback``. A lead
    matched by a unique key (not by Email) must be in ``required`` when that is given;
    ``strict`` (REST): by Email too ("the API returns an error if the lead does not
    exist in the specified partition", Adobe, "Leads").
    """

    fallback: str
    required: str | None = None
    partition: str | None = None
    strict: bool = False


@dataclass(frozen=True, slots=True)
class Upserted:
    """The outcome, the lead written or matched (None for NOT_FOUND), the key it was
    matched by, and for FOREIGN_ID_TAKEN the Id of the lead holding that key.
    """

    outcome: Outcome
    row: LeadRow | None
    via: Lookup | None = None
    holder: int | None = None


def insert_lead(
    tx: Transaction,
    keys: Keys,
    stored: Mapping[str, str],
    partition: str,
    lead_id: int | None = None,
) -> LeadRow:
    """Insert a new lead with ``keys`` and its non-empty ``stored`` attributes; a foreign
    id given without its type is CUSTOM (SPEC §1). ``lead_id`` None: the next id."""
    fsp_type = keys.fsp_type or (_UNTYPED if keys.fsp_id is not None else None)
    new_id = tx.insert(
        email=keys.email,
        fsp_id=keys.fsp_id,
        fsp_type=fsp_type,
        partition=partition,
        attrs=dict(stored),
        lead_id=lead_id,
    )
    return LeadRow(new_id, keys.email, keys.fsp_id, fsp_type, partition, dict(stored))


class SyncService:
    """syncLead as the service does it (SPEC §2-§4), over a :class:`Store`."""

    def __init__(self, config: SandboxConfig, store: Store, *, clock: Clock = utc_now) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.catalog = config.catalog()
        self.limiter = Limiter(
            rate_calls=config.rate_limit_calls,
            rate_window=config.rate_limit_window,
            concurrency=config.concurrency_limit,
            daily_quota=config.daily_quota,
        )
        self._written = threading.local()

    def take_written(self) -> list[tuple[LeadRow, bool]]:
        """(lead as committed, created) of every write this thread made since it last
        asked, in order: the call journal records them without reading the store again."""
        rows: list[tuple[LeadRow, bool]] = getattr(self._written, "rows", [])
        self._written.rows = []
        return rows

    def handle(self, request: SyncLeadRequest, *, ignored: tuple[str, ...] = ()) -> SyncLeadResult:
        """Authenticate, count against the limits, then sync (faults raise). ``ignored``:
        the elements the request carried that the schema does not know (a fault names them).
        """
        user = self.authenticate(request)
        self.limiter.admit(user, self.clock())
        return self.sync(request, ignored=ignored)

    def authenticate(self, request: SyncLeadRequest) -> str:
        """The signing user id, or 20014 (header, user, signature) / 20016 (timestamp)."""
        auth = request.auth
        if auth is None:
            raise _fault(20014, "the AuthenticationHeader is missing")
        key = self.config.users.get(auth.user_id)
        if key is None or not verify(auth.signature, auth.timestamp, auth.user_id, key):
            # One message for both: do not tell a caller which user ids exist.
            raise _fault(20014, "unknown mktowsUserId or bad requestSignature")
        try:
            when = parse_timestamp(auth.timestamp)
        except ValueError:
            raise _fault(20016, "requestTimestamp must be a W3C date-time with an offset") from None
        skew = abs((self.clock() - when).total_seconds())
        if skew > self.config.freshness_window:
            raise _fault(
                20016,
                f"requestTimestamp is {skew:.0f} s from the server clock; "
                f"the window is {self.config.freshness_window:g} s",
            )
        return auth.user_id

    # -- SPEC §3 ------------------------------------------------------------------

    def _target(self, name: str | None) -> tuple[Workspace, bool]:
        """The workspace a call works in, and whether a context header named it."""
        default = self.config.workspace(DEFAULT_WORKSPACE)
        assert default is not None
        name = name or None  # an empty targetWorkspace is no header
        if not self.config.workspaces_enabled:
            if name is not None and name.casefold() != DEFAULT_WORKSPACE.casefold():
                raise _fault(
                    20110,
                    f"workspaces are not enabled; targetWorkspace must be "
                    f"{DEFAULT_WORKSPACE!r}, got {name[:60]!r}",
                )
            return default, False
        if name is None:
            return default, False
        found = self.config.workspace(name)
        if found is None:
            raise _fault(20110, f"unknown targetWorkspace {name[:60]!r}")
        return found, True

    def _attributes(self, lead: LeadRecord) -> dict[str, str]:
        values: dict[str, str] = {}
        for attr in lead.attributes.as_tuple():
            name = self.catalog.canonical(attr.name)
            if name is None:
                raise _fault(20105, f"unknown attribute {attr.name[:60]!r}")
            expected = misfit(self.catalog.attr_type(name), attr.value)
            if expected is not None:
                raise _fault(
                    20110,
                    f"attribute {name!r} is of type {self.catalog.attr_type(name)}: its value "
                    f"must be {expected}, got {attr.value[:40]!r}",
                )
            values[name] = attr.value
        return values

    def sync(self, request: SyncLeadRequest, *, ignored: tuple[str, ...] = ()) -> SyncLeadResult:
        """Insert or update the lead of an authenticated request (SPEC §3)."""
        lead = request.lead
        try:
            check_sync_keys(lead)
        except ValidationError as exc:
            # As Marketo: an unknown element is ignored; the fault says which, and why.
            advice = hint(ignored)
            raise _fault(20109, str(exc) if advice is None else f"{exc}; {advice}") from None
        workspace, named = self._target(request.workspace)
        attrs = self._attributes(lead)
        done = self.upsert(
            Keys(
                id=lead.id,
                email=lead.email,
                fsp_id=lead.foreign_sys_person_id,
                fsp_type=lead.foreign_sys_type.value if lead.foreign_sys_type else None,
            ),
            attrs,
            placement=Placement(
                fallback=workspace.primary, required=workspace.primary if named else None
            ),
            cookie=request.marketo_cookie,
        )
        if done.outcome is Outcome.NOT_FOUND:
            raise _fault(20103, f"no lead has Id {lead.id}")
        row = done.row
        # Every other outcome names the lead: with SOAP's precedence a ForeignSysPersonId
        # is the key itself, so it is never found taken on insert.
        assert row is not None
        if done.outcome is Outcome.WRONG_PARTITION:
            error = (
                f"lead {row.id} matched by {done.via} is in partition {row.partition!r}, not in "
                f"the primary partition {workspace.primary!r} of workspace {workspace.name!r}"
            )
            return SyncLeadResult(lead_id=row.id, status=SyncStatus.FAILED, error=error)
        if done.outcome is Outcome.FOREIGN_ID_TAKEN:
            fsp_id = lead.foreign_sys_person_id or ""
            error = f"ForeignSysPersonId {fsp_id[:60]!r} already belongs to lead {done.holder}"
            return SyncLeadResult(lead_id=row.id, status=SyncStatus.FAILED, error=error)
        status = SyncStatus.CREATED if done.outcome is Outcome.CREATED else SyncStatus.UPDATED
        return SyncLeadResult(
            lead_id=row.id,
            status=status,
            lead=self.record(row) if request.return_lead else None,
        )

    # -- the one core operation both faces call -------------------------------------

    def upsert(
        self,
        keys: Keys,
        attrs: Mapping[str, str],
        *,
        lookup: Lookup | None = None,
        mode: Mode = Mode.UPSERT,
        placement: Placement,
        cookie: str | None = None,
    ) -> Upserted:
        """Match, then insert or update one lead in one transaction (SPEC §3).

        ``lookup`` None follows SOAP's key precedence (Id > ForeignSysPersonId >
        cookie > Email); a REST lookupField names the one key to match on. The
        other keys given are written to the lead (rules 1-2). An unmatched Id is
        NOT_FOUND; ``mode`` CREATE refuses a matched lead (EXISTS), UPDATE an
        unmatched one (NOT_FOUND). ``attrs`` are canonical names; an empty value
        clears the field. ``cookie`` is associated with the lead synced.
        """
        with self.store.transaction() as tx:
            found, via = self._match(tx, keys, lookup, cookie)
            if mode is Mode.DUPLICATE:
                found = None
            elif (
                found is not None
                and lookup is Lookup.EMAIL
                and mode is not Mode.CREATE
                and len(tx.listed(email=found.email, limit=2)) > 1
            ):
                # REST updates only a lead its key matches alone (1007); SOAP the latest.
                return Upserted(Outcome.MULTIPLE, None, via)
            if found is None:
                if mode is Mode.UPDATE or via is Lookup.ID:
                    return Upserted(Outcome.NOT_FOUND, None)
                if keys.fsp_id is not None and via is not Lookup.FOREIGN_ID:
                    holder = tx.by_foreign_id(keys.fsp_id)
                    if holder is not None:  # only a REST email lookup can get here
                        return Upserted(Outcome.FOREIGN_ID_TAKEN, None, via, holder.id)
                stored = {k: v for k, v in attrs.items() if v != ""}
                row = insert_lead(tx, keys, stored, self._partition(keys.email, stored, placement))
                outcome = Outcome.CREATED
            else:
                if mode is Mode.CREATE:
                    return Upserted(Outcome.EXISTS, found, via)
                refused = self._refusal(tx, found, via, keys, placement)
                if refused is not None:
                    return refused
                row = self._updated(found, keys, attrs)
                tx.update(row)
                outcome = Outcome.UPDATED
            if cookie:
                tx.associate_cookie(cookie, row.id)
        rows = getattr(self._written, "rows", None)  # committed: noted for the journal
        if rows is not None:
            rows.append((row, outcome is Outcome.CREATED))
        return Upserted(outcome, row, via)

    def associate(self, lead_id: int, cookie: str) -> bool:
        """Associate a Munchkin cookie with a lead (moved from any other); False if no such lead."""
        with self.store.transaction() as tx:
            if tx.by_id(lead_id) is None:
                return False
            tx.associate_cookie(cookie, lead_id)
        return True

    def lead(self, lead_id: int) -> LeadRow | None:
        """The stored lead with this Id, or None."""
        with self.store.transaction() as tx:
            return tx.by_id(lead_id)

    def leads_by_email(self, email: str) -> list[LeadRow]:
        """The stored leads with this Email (case-insensitive), by Id."""
        with self.store.transaction() as tx:
            return tx.listed(email=email, limit=1000)

    def _partition(self, email: str | None, attrs: Mapping[str, str], placement: Placement) -> str:
        if placement.partition is not None:
            return placement.partition
        for rule in self.config.assignment_rules:
            if rule.matches(email, attrs):
                return rule.partition
        return placement.fallback

    @staticmethod
    def _match(
        tx: Transaction, keys: Keys, lookup: Lookup | None, cookie: str | None
    ) -> tuple[LeadRow | None, Lookup]:
        """Key precedence: Id > ForeignSysPersonId > cookie > Email (SPEC §3 rules 1-4),
        or the one key ``lookup`` names.
        """
        if lookup is Lookup.ID or (lookup is None and keys.id is not None):
            assert keys.id is not None
            return tx.by_id(keys.id), Lookup.ID
        if lookup is Lookup.FOREIGN_ID or (lookup is None and keys.fsp_id is not None):
            assert keys.fsp_id is not None
            # The unique key: no fall-through to cookie or Email when it matches nothing.
            return tx.by_foreign_id(keys.fsp_id), Lookup.FOREIGN_ID
        if lookup is None and cookie:
            found = tx.by_cookie(cookie)
            if found is not None:
                return found, Lookup.COOKIE
        assert keys.email is not None  # the callers guarantee a key
        return tx.by_email(keys.email), Lookup.EMAIL

    @staticmethod
    def _refusal(
        tx: Transaction, found: LeadRow, via: Lookup, keys: Keys, placement: Placement
    ) -> Upserted | None:
        """Why an update must not happen, or None."""
        required = placement.required
        by_key = via is not Lookup.EMAIL or placement.strict
        if required is not None and by_key and found.partition != required:
            return Upserted(Outcome.WRONG_PARTITION, found, via)
        fsp_id = keys.fsp_id
        if via is not Lookup.FOREIGN_ID and fsp_id is not None and fsp_id != found.fsp_id:
            holder = tx.by_foreign_id(fsp_id)
            if holder is not None:
                return Upserted(Outcome.FOREIGN_ID_TAKEN, found, via, holder.id)
        return None

    @staticmethod
    def _updated(found: LeadRow, keys: Keys, attrs: Mapping[str, str]) -> LeadRow:
        """The matched lead with the request's keys and attributes applied."""
        merged = dict(found.attrs)
        for name, value in attrs.items():
            if value == "":
                merged.pop(name, None)  # an empty value clears the field
            else:
                merged[name] = value
        fsp_id, fsp_type = found.fsp_id, found.fsp_type
        if keys.fsp_id is not None:
            fsp_id = keys.fsp_id
            fsp_type = keys.fsp_type or fsp_type or _UNTYPED
        return LeadRow(
            id=found.id,
            email=keys.email if keys.email is not None else found.email,
            fsp_id=fsp_id,
            fsp_type=fsp_type,
            partition=found.partition,
            attrs=merged,
        )

    def record(self, row: LeadRow) -> LeadRecord:
        """The full stored lead as returnLead answers it, attrType from the catalog."""
        # A field dropped from the configuration since it was stored is not answered.
        names = sorted(
            (name for name in row.attrs if self.catalog.canonical(name) == name),
            key=self.catalog.order,
        )
        return LeadRecord(
            id=row.id,
            email=row.email,
            foreign_sys_person_id=row.fsp_id,
            foreign_sys_type=row.fsp_type,
            attributes=[
                Attribute(name=name, value=row.attrs[name], type=self.catalog.attr_type(name))
                for name in names
            ],
        )
