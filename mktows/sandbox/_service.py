"""The sandbox's service core: authenticate, limit, then apply SPEC §3 to one
parsed syncLead request. Every matching rule lives here, once. Pure of HTTP and
XML: it takes a SyncLeadRequest, a store and a clock, and returns a
SyncLeadResult or raises FaultError.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from .._errors import FaultError, ValidationError
from .._models import (
    Attribute,
    Fault,
    LeadRecord,
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
    check_sync_keys,
)
from .._signing import parse_timestamp, verify
from ._catalog import FieldCatalog
from ._config import DEFAULT_WORKSPACE, SandboxConfig, Workspace
from ._limits import Limiter
from ._store import LeadRow, Store, Transaction

__all__ = ["Clock", "SyncService", "utc_now"]

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The default clock: now, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def _fault(code: int, detail: str) -> FaultError:
    return FaultError(Fault.for_code(code, detail))


class SyncService:
    """syncLead as the service does it (SPEC §2-§4), over a :class:`Store`."""

    def __init__(self, config: SandboxConfig, store: Store, *, clock: Clock = utc_now) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.catalog = FieldCatalog(config.custom_fields)
        self.limiter = Limiter(
            rate_calls=config.rate_limit_calls,
            rate_window=config.rate_limit_window,
            concurrency=config.concurrency_limit,
            daily_quota=config.daily_quota,
        )

    def handle(self, request: SyncLeadRequest) -> SyncLeadResult:
        """Authenticate, count against the limits, then sync (faults raise)."""
        user = self.authenticate(request)
        self.limiter.admit(user, self.clock())
        return self.sync(request)

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
            if name is not None and name != DEFAULT_WORKSPACE:
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
            values[name] = attr.value
        return values

    def _partition(self, lead: LeadRecord, attrs: Mapping[str, str], workspace: Workspace) -> str:
        for rule in self.config.assignment_rules:
            if rule.matches(lead.email, attrs):
                return rule.partition
        return workspace.primary

    def sync(self, request: SyncLeadRequest) -> SyncLeadResult:
        """Insert or update the lead of an authenticated request (SPEC §3)."""
        lead = request.lead
        try:
            check_sync_keys(lead)
        except ValidationError as exc:
            raise _fault(20109, str(exc)) from None
        workspace, named = self._target(request.workspace)
        attrs = self._attributes(lead)
        cookie = request.marketo_cookie
        with self.store.transaction() as tx:
            found, via = self._match(tx, lead, cookie)
            if found is None:
                fsp_type = lead.foreign_sys_type.value if lead.foreign_sys_type else None
                stored = {k: v for k, v in attrs.items() if v != ""}
                partition = self._partition(lead, stored, workspace)
                lead_id = tx.insert(
                    email=lead.email,
                    fsp_id=lead.foreign_sys_person_id,
                    fsp_type=fsp_type,
                    partition=partition,
                    attrs=stored,
                )
                status = SyncStatus.CREATED
                row = LeadRow(
                    lead_id, lead.email, lead.foreign_sys_person_id, fsp_type, partition, stored
                )
            else:
                failed = self._refusal(tx, found, via, lead, workspace, named)
                if failed is not None:
                    return SyncLeadResult(lead_id=found.id, status=SyncStatus.FAILED, error=failed)
                row = self._updated(found, lead, attrs)
                tx.update(row)
                status = SyncStatus.UPDATED
            if cookie:
                tx.associate_cookie(cookie, row.id)
        return SyncLeadResult(
            lead_id=row.id,
            status=status,
            lead=self.record(row) if request.return_lead else None,
        )

    @staticmethod
    def _match(tx: Transaction, lead: LeadRecord, cookie: str | None) -> tuple[LeadRow | None, str]:
        """Key precedence: Id > ForeignSysPersonId > cookie > Email (SPEC §3 rules 1-4)."""
        if lead.id is not None:
            found = tx.by_id(lead.id)
            if found is None:
                raise _fault(20103, f"no lead has Id {lead.id}")
            return found, "Id"
        if lead.foreign_sys_person_id is not None:
            # The unique key: no fall-through to cookie or Email when it matches nothing.
            return tx.by_foreign_id(lead.foreign_sys_person_id), "ForeignSysPersonId"
        if cookie:
            found = tx.by_cookie(cookie)
            if found is not None:
                return found, "cookie"
        assert lead.email is not None  # check_sync_keys guarantees a key
        return tx.by_email(lead.email), "Email"

    @staticmethod
    def _refusal(
        tx: Transaction,
        found: LeadRow,
        via: str,
        lead: LeadRecord,
        workspace: Workspace,
        named: bool,
    ) -> str | None:
        """Why an update must not happen (a FAILED status), or None."""
        if named and via != "Email" and found.partition != workspace.primary:
            return (
                f"lead {found.id} matched by {via} is in partition {found.partition!r}, not in "
                f"the primary partition {workspace.primary!r} of workspace {workspace.name!r}"
            )
        fsp_id = lead.foreign_sys_person_id
        if via == "Id" and fsp_id is not None and fsp_id != found.fsp_id:
            holder = tx.by_foreign_id(fsp_id)
            if holder is not None:
                return f"ForeignSysPersonId {fsp_id[:60]!r} already belongs to lead {holder.id}"
        return None

    @staticmethod
    def _updated(found: LeadRow, lead: LeadRecord, attrs: Mapping[str, str]) -> LeadRow:
        """The matched lead with the request's keys and attributes applied."""
        merged = dict(found.attrs)
        for name, value in attrs.items():
            if value == "":
                merged.pop(name, None)  # an empty value clears the field
            else:
                merged[name] = value
        fsp_id, fsp_type = found.fsp_id, found.fsp_type
        if lead.foreign_sys_person_id is not None:
            fsp_id = lead.foreign_sys_person_id
            fsp_type = lead.foreign_sys_type.value if lead.foreign_sys_type else fsp_type
        return LeadRow(
            id=found.id,
            email=lead.email if lead.email is not None else found.email,
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
