"""Fuzzing the parsers: whatever the bytes, the outcome is a value or a mktows error.

Three generators: raw bytes, mutations of valid messages, and random trees in
the right envelope with the service's element names (to reach deep paths).
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mktows
from mktows import (
    Fault,
    LeadRecord,
    SyncLeadRequest,
    SyncLeadResult,
    SyncStatus,
    build_fault_envelope,
    build_sync_lead_envelope,
    build_sync_lead_response,
    parse_sync_lead_request,
    parse_sync_lead_response,
)

FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

LEAD = LeadRecord(
    id=5,
    email="a@b.c",
    foreign_sys_person_id="X1",
    foreign_sys_type="SFDC",
    attributes=[
        mktows.Attribute(name="FirstName", value="Ann"),
        mktows.Attribute(name="Age", value=3),
        mktows.Attribute(name="Opt", value=True),
    ],
)
SEEDS = [
    build_sync_lead_response(SyncLeadResult(lead_id=5, status=SyncStatus.UPDATED, lead=LEAD)),
    build_sync_lead_response(SyncLeadResult(lead_id=0, status=SyncStatus.FAILED, error="no")),
    build_fault_envelope(Fault.for_code(20023)),
    build_sync_lead_envelope(
        LEAD,
        user_id="u",
        encryption_key="k",
        workspace="W",
        marketo_cookie="c",
        timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    ),
]

NAMES = [
    "result", "leadId", "syncStatus", "status", "error", "leadRecord", "Id", "Email",
    "ForeignSysPersonId", "ForeignSysType", "leadAttributeList", "attribute", "attrName",
    "attrType", "attrValue", "faultcode", "faultstring", "detail", "code", "message",
    "returnLead", "marketoCookie",
]  # fmt: skip
TEXTS = st.one_of(
    st.sampled_from(["", "1", "-1", "CREATED", "UPDATED", "FAILED", "SFDC", "true", "x" * 20]),
    st.text(max_size=12),
)


def _tree(depth: int) -> st.SearchStrategy[str]:
    leaf = st.builds(
        lambda n, t, nil: f'<{n} xsi:nil="true"/>' if nil else f"<{n}>{_escape(t)}</{n}>",
        st.sampled_from(NAMES),
        TEXTS,
        st.booleans(),
    )
    if depth == 0:
        return leaf
    return st.one_of(
        leaf,
        st.builds(
            lambda n, kids: f"<{n}>{''.join(kids)}</{n}>",
            st.sampled_from(NAMES),
            st.lists(_tree(depth - 1), max_size=4),
        ),
    )


def _escape(text: str) -> str:
    text = "".join(ch for ch in text if ch.isprintable())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _envelope(top: str, body: str) -> bytes:
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xmlns:m="http://www.marketo.com/mktows/"><s:Body><{top}>{body}</{top.split()[0]}>'
        "</s:Body></s:Envelope>"
    ).encode()


def _check_response(body: bytes) -> None:
    error: mktows.ResponseError | None = None
    try:
        outcome = parse_sync_lead_response(body, status_code=500)
    except mktows.ResponseError as exc:  # any other exception fails the test
        error = exc
    if error is None:
        assert isinstance(outcome, (SyncLeadResult, Fault))
    else:
        assert error.status_code == 500
        assert len(error.body_excerpt) <= 501


def _check_request(body: bytes) -> None:
    error: mktows.FaultError | None = None
    try:
        outcome = parse_sync_lead_request(body)
    except mktows.FaultError as exc:
        error = exc
    if error is None:
        assert isinstance(outcome, SyncLeadRequest)
    else:
        assert error.code in (20012, 20017, 20019, 20110)


@FUZZ
@given(st.binary(max_size=2000))
def test_raw_bytes(body: bytes) -> None:
    _check_response(body)
    _check_request(body)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(
                st.sampled_from([b"<", b">", b"&", b"&#0;", b"<x>", b"]]>", b"\x00"])
            )
        elif data:
            del data[at : at + draw(st.integers(1, 40))]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_messages(body: bytes) -> None:
    _check_response(body)
    _check_request(body)


@FUZZ
@given(
    st.sampled_from(["m:successSyncLead", "s:Fault", "m:paramsSyncLead"]),
    st.lists(_tree(3), max_size=4),
)
def test_random_trees_in_the_right_envelope(top: str, kids: list[str]) -> None:
    body = _envelope(top, "".join(kids))
    _check_response(body)
    _check_request(body)
