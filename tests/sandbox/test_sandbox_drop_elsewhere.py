"""A "drop" fault rule under a WSGI server other than the sandbox's own. Only the
sandbox's server can close a connection unanswered; under any other (the standard
library's here; waitress or gunicorn alike) the app answers the nearest thing a WSGI
app can say: an empty 502, as a proxy answers when its upstream hangs up. Clients
treat both as a transient failure.
"""

from __future__ import annotations

import threading
import wsgiref.simple_server
from collections.abc import Iterator

import httpx
import pytest
from support import NO_RETRY

from mktows import Client, LeadRecord, ResponseError, SyncStatus
from mktows.sandbox import DEFAULT_ENCRYPTION_KEY, DEFAULT_USER_ID, make_app


class _Quiet(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stdlib_base() -> Iterator[str]:
    """The sandbox served by wsgiref on a loopback port: its base URL."""
    app = make_app()
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        app.close()


def test_a_drop_rule_answers_an_empty_502(stdlib_base: str) -> None:
    rule = {"match": {"wire": "soap"}, "drop": True, "times": 1}
    assert (
        httpx.post(f"{stdlib_base}/_sandbox/api/faults", json=rule, timeout=10).status_code == 201
    )
    url = f"{stdlib_base}/soap/mktows/2_2"
    with Client(url, DEFAULT_USER_ID, DEFAULT_ENCRYPTION_KEY, retry=NO_RETRY) as client:
        with pytest.raises(ResponseError) as caught:
            client.sync_lead(LeadRecord(email="dropped@example.com"))
        assert caught.value.status_code == 502
        again = client.sync_lead(LeadRecord(email="dropped@example.com"))
    assert again.status is SyncStatus.CREATED  # the rule was used up
    calls = httpx.get(f"{stdlib_base}/_sandbox/api/calls", timeout=10).json()["calls"]
    dropped, created = sorted(calls, key=lambda c: c["id"])
    assert (dropped["outcome"], dropped["http_status"], dropped["dropped"]) == ("FAULT", None, True)
    assert created["outcome"] == "CREATED"
