"""Many leads over REST in as few calls as the contract allows, written once as a flow of
Send/Sleep (SPEC §7); no I/O, no clock.

Adobe ("Leads", Sync Leads): up to 300 records per call, one action, lookup field and
partition per call, results "in the same order as records in the request input array";
a body over 1 MB is refused (413). Leads that share a key never go in one call, and a
later one is sent only after the call holding the earlier one has been answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from .._codes import FATAL_CODES
from .._errors import (
    ConfigError,
    FaultError,
    MktowsError,
    ResponseError,
    ValidationError,
)
from .._flow import Flow, Pacing
from .._models import LeadRecord, SyncLeadResult, SyncStatus
from ._build import (
    JSON_HEADERS,
    SyncPlan,
    build_get_leads,
    plan_sync,
    sync_body,
    sync_record,
)
from ._flow import _Call, _optional_text, _Request, describe
from ._parse import parse_associate, parse_leads, parse_sync_results
from ._settings import Catalog, RestSettings, RestState

__all__ = ["MAX_BATCH", "MAX_BODY", "Outcome", "batch_flow", "key_values"]

MAX_BATCH = 300  # records per Sync Leads call, and ids per Get Leads by Filter Type
MAX_BODY = 1_000_000  # bytes; Adobe answers 413 past 1 MB (1,048,576), headroom kept

Outcome = SyncLeadResult | MktowsError


def key_values(lead: LeadRecord, foreign_id_field: str | None) -> frozenset[tuple[str, str]]:
    """The key values that identify ``lead`` to Marketo: two leads sharing any one of
    them must never be in one call nor in flight at once (SPEC §7). Emails compare
    without case, as Marketo's dedupe does."""
    keys = set()
    if lead.id is not None:
        keys.add(("id", str(lead.id)))
    if lead.email is not None:
        keys.add(("email", lead.email.strip().lower()))
    if lead.foreign_sys_person_id is not None:
        keys.add((foreign_id_field or "foreign", lead.foreign_sys_person_id))
    return frozenset(keys)


@dataclass
class _Chunk:
    plan: SyncPlan
    rows: list[int] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)
    size: int = 0


class _Batch:
    """One sync_leads_batch: the outcomes so far and a fresh deadline per exchange."""

    def __init__(
        self,
        settings: RestSettings,
        state: RestState,
        count: int,
        make_call: Callable[[], _Call],
    ) -> None:
        self.settings = settings
        self.state = state
        self.outcomes: list[Outcome | None] = [None] * count
        self.make_call = make_call
        self.stopped: FaultError | None = None  # a fault no later call can get past

    def exchange(self, request: _Request) -> Flow[Any]:
        return (yield from self.make_call().exchange(request))

    def send_chunk(self, chunk: _Chunk) -> Flow[None]:
        if self.stopped is not None:
            for row in chunk.rows:
                self.outcomes[row] = self.stopped
            return
        base = self.settings.rest_url
        count = len(chunk.rows)
        try:
            answers = yield from self.exchange(
                _Request(
                    url=f"{base}/v1/leads.json",
                    label="syncLeads",
                    parse=lambda data, status: parse_sync_results(data, count, status_code=status),
                    method="POST",
                    body=sync_body(chunk.plan, chunk.records),
                    headers=JSON_HEADERS,
                )
            )
        except MktowsError as exc:  # the whole call failed: every row of it did
            if isinstance(exc, FaultError) and exc.code in FATAL_CODES:
                self.stopped = exc
            answers = [exc] * count
        for row, answer in zip(chunk.rows, answers, strict=True):
            self.outcomes[row] = answer


def batch_flow(
    leads: Sequence[LeadRecord],
    *,
    settings: RestSettings,
    state: RestState,
    return_lead: bool = False,
    workspace: str | None = None,
    marketo_cookies: Sequence[str | None] | None = None,
    batch_size: int = MAX_BATCH,
    pacing: Pacing,
) -> Flow[list[Outcome]] | list[Outcome]:
    """Sync ``leads`` in Sync Leads calls of up to ``batch_size`` (at most 300) records,
    grouped by action, lookup field and partition; one outcome per lead, in input order:
    a SyncLeadResult (FAILED for a skipped record) or the MktowsError of that lead (a
    lead that cannot be sent, a 1004/1006 record, or its call's error after retries).

    ``marketo_cookies`` (one per lead, or None) are associated per lead after its sync;
    ``return_lead`` reads the synced leads back with Get Leads by Filter Type
    (``filterType=id``), up to 300 ids a call. Each exchange has its own deadline.
    A workspace without a partition mapping raises ValidationError before anything is sent.
    When no lead can be sent at all, the outcomes are returned at once, not as a flow.
    """
    if not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH:
        raise ConfigError(f"batch_size must be 1 to {MAX_BATCH}, got {batch_size!r}")
    if not isinstance(return_lead, bool):
        raise ValidationError("return_lead must be True or False", field="returnLead")
    _optional_text(workspace, "workspace")
    cookies: list[str | None] = (
        list(marketo_cookies) if marketo_cookies is not None else [None] * len(leads)
    )
    if len(cookies) != len(leads):
        raise ValidationError(
            f"marketo_cookies holds {len(cookies)} values for {len(leads)} leads",
            field="marketoCookie",
        )
    plans: list[SyncPlan | None] = []
    batch = _Batch(
        settings,
        state,
        len(leads),
        lambda: _Call(settings, state, pacing),
    )
    for row, (lead, cookie) in enumerate(zip(leads, cookies, strict=True)):
        try:
            _optional_text(cookie, "marketoCookie")
            plans.append(plan_sync(lead, settings, workspace))
        except ValidationError as exc:
            if exc.field == "workspace":
                raise  # every lead alike: a settings error, nothing sent
            batch.outcomes[row] = exc
            plans.append(None)
        except ConfigError as exc:
            batch.outcomes[row] = exc
            plans.append(None)
    if all(plan is None for plan in plans):
        return [outcome for outcome in batch.outcomes if outcome is not None]
    return _run(batch, leads, plans, cookies, return_lead, batch_size)


def _run(
    batch: _Batch,
    leads: Sequence[LeadRecord],
    plans: list[SyncPlan | None],
    cookies: list[str | None],
    return_lead: bool,
    batch_size: int,
) -> Flow[list[Outcome]]:
    try:
        catalog: Catalog | None = yield from describe(batch.make_call())
    except MktowsError as exc:  # no lead can be sent: each gets the error
        catalog = None
        batch.outcomes = [exc if outcome is None else outcome for outcome in batch.outcomes]
    if catalog is not None:
        yield from _sync_all(batch, leads, plans, catalog, batch_size)
        yield from _associate(batch, cookies)
        if return_lead:
            yield from _read_back(batch, catalog)
    done = [outcome for outcome in batch.outcomes if outcome is not None]
    assert len(done) == len(leads)  # every lead has its outcome
    return done


def _sync_all(
    batch: _Batch,
    leads: Sequence[LeadRecord],
    plans: list[SyncPlan | None],
    catalog: Catalog,
    batch_size: int,
) -> Flow[None]:
    foreign = batch.settings.foreign_id_field
    open_chunks: dict[tuple[str, str, str | None], _Chunk] = {}
    open_keys: set[tuple[str, str]] = set()
    for row, (lead, plan) in enumerate(zip(leads, plans, strict=True)):
        if plan is None:
            continue
        try:
            record = sync_record(plan, lead, catalog)
        except MktowsError as exc:  # 1006 or a value that does not fit: this lead only
            batch.outcomes[row] = exc
            continue
        keys = key_values(lead, foreign)
        if keys & open_keys:  # an earlier lead with this key must be answered first
            for chunk in open_chunks.values():
                yield from batch.send_chunk(chunk)
            open_chunks.clear()
            open_keys.clear()
        found = open_chunks.get(plan.group)
        added = len(record) + 2
        if found is not None and (
            len(found.rows) >= batch_size or found.size + added > MAX_BODY - 200
        ):
            yield from batch.send_chunk(found)
            del open_chunks[plan.group]
            found = None
        if found is None:
            found = open_chunks[plan.group] = _Chunk(plan)
        found.rows.append(row)
        found.records.append(record)
        found.size += added
        open_keys |= keys
    for chunk in open_chunks.values():
        yield from batch.send_chunk(chunk)


def _synced(outcome: Outcome | None) -> SyncLeadResult | None:
    if isinstance(outcome, SyncLeadResult) and outcome.status is not SyncStatus.FAILED:
        return outcome
    return None


def _associate(batch: _Batch, cookies: list[str | None]) -> Flow[None]:
    base = batch.settings.rest_url
    for row, cookie in enumerate(cookies):
        done = _synced(batch.outcomes[row])
        if cookie is None or done is None:
            continue
        try:
            yield from batch.exchange(
                _Request(
                    url=f"{base}/v1/leads/{done.lead_id}/associate.json"
                    f"?cookie={quote(cookie, safe='')}",
                    label="associateLead",
                    parse=lambda data, status: parse_associate(data, status_code=status),
                    method="POST",
                )
            )
        except MktowsError as exc:
            batch.outcomes[row] = exc


def _read_back(batch: _Batch, catalog: Catalog) -> Flow[None]:
    rows = [row for row, outcome in enumerate(batch.outcomes) if _synced(outcome) is not None]
    ids = list(dict.fromkeys(_lead_id(batch, row) for row in rows))
    base = batch.settings.rest_url
    foreign = batch.settings.foreign_id_field
    names = list(catalog.by_rest)
    found: dict[int, LeadRecord] = {}
    failed: dict[int, MktowsError] = {}
    for start in range(0, len(ids), MAX_BATCH):
        part = ids[start : start + MAX_BATCH]
        method, url, body, headers = build_get_leads(base, part, names)
        try:
            found.update(
                (
                    yield from batch.exchange(
                        _Request(
                            url=url,
                            label="getLeads",
                            parse=lambda data, status: parse_leads(data, status, catalog, foreign),
                            method=method,
                            body=body,
                            headers=headers,
                        )
                    )
                )
            )
        except MktowsError as exc:
            failed.update(dict.fromkeys(part, exc))
    for row in rows:
        lead_id = _lead_id(batch, row)
        if lead_id in found:
            outcome = batch.outcomes[row]
            assert isinstance(outcome, SyncLeadResult)
            batch.outcomes[row] = replace(outcome, lead=found[lead_id])
        else:
            batch.outcomes[row] = failed.get(lead_id) or ResponseError(
                f"lead {lead_id}, just synced, was not returned by Get Leads"
            )


def _lead_id(batch: _Batch, row: int) -> int:
    outcome = batch.outcomes[row]
    assert isinstance(outcome, SyncLeadResult)
    return outcome.lead_id
