"""Get Lead by Id over a store kept from an earlier configuration: a custom field whose
type changed reads back typed when its stored text fits the new type, and as the stored
text when it does not (a word in a number field, a number too large for a float), which
JSON could not carry as a number anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import MakeSandboxServer, client_for

from mktows import LeadRecord
from mktows.sandbox import SandboxConfig

from ._rest_util import Rest


@pytest.mark.parametrize(
    ("new_type", "stored", "answered"),
    [
        pytest.param("integer", "7", 7, id="fits-integer"),
        pytest.param("float", "0.5", 0.5, id="fits-float"),
        pytest.param("boolean", "true", True, id="fits-boolean"),
        pytest.param("integer", "gold", "gold", id="word-in-integer"),
        pytest.param("boolean", "maybe", "maybe", id="word-in-boolean"),
        pytest.param("float", "1e999", "1e999", id="float-overflows"),
        pytest.param("currency", "-1e999", "-1e999", id="currency-overflows"),
    ],
)
def test_a_field_whose_type_changed_reads_back_typed_or_as_stored(
    make_sandbox_server: MakeSandboxServer,
    tmp_path: Path,
    new_type: str,
    stored: str,
    answered: Any,
) -> None:
    db = tmp_path / "kept.db"
    before = make_sandbox_server(SandboxConfig(custom_fields={"Tier": "string"}), db_path=db)
    with client_for(before) as soap:
        lead_id = soap.sync_lead(
            LeadRecord(email="kept@x.com", attributes={"Tier": stored})
        ).lead_id
    # The same SQLite file, served again with Tier retyped.
    after = make_sandbox_server(SandboxConfig(custom_fields={"Tier": new_type}), db_path=db)
    with Rest(after) as rest:
        lead = rest.lead(lead_id, "tier,email")
    assert lead == {"id": lead_id, "tier": answered, "email": "kept@x.com"}
    assert type(lead["tier"]) is type(answered)
