"""The package as users get it: public names, layering, vendoring, licence, packaged data."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mktows

PACKAGE = Path(mktows.__file__).parent
ROOT = PACKAGE.parent

# The pure core: no I/O libraries, no clock reads beyond the documented default.
PURE = [
    "_models", "_errors", "_xml", "_signing", "_build", "_parse", "_schema", "_retry",
    "_soap_flow", "rest/_core",
]  # fmt: skip
FORBIDDEN_IN_PURE = {"httpx", "socket", "sqlite3", "asyncio", "time", "urllib.request", "http"}


def test_public_names_are_exactly_all() -> None:
    public = {name for name in dir(mktows) if not name.startswith("_")}
    # Submodules and the __future__ feature are attributes, not API.
    kinds = ("module", "_Feature")
    not_api = {name for name in public if type(getattr(mktows, name)).__name__ in kinds}
    assert set(mktows.__all__) == (public - not_api) | {"__version__"}
    assert len(set(mktows.__all__)) == len(mktows.__all__)
    for name in mktows.__all__:
        assert getattr(mktows, name) is not None


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mktows.Nope  # noqa: B018


def test_import_stays_light() -> None:
    """The bulk tools load on first use: importing mktows does not import asyncio."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys, mktows; print('asyncio' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "False", done.stderr
    assert mktows.RateLimiter.__name__ == "RateLimiter"


def test_the_documented_surface_exists() -> None:
    from mktows import (  # noqa: F401
        AsyncClient,
        Attribute,
        Client,
        Fault,
        LeadRecord,
        SyncLeadResult,
        build_sync_lead_envelope,
        parse_sync_lead_response,
    )


def _imports(path: Path) -> set[str]:
    """The absolute modules a file imports, dotted names in full."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_pure_modules_import_no_io() -> None:
    for name in PURE:
        bad = {
            module
            for module in _imports(PACKAGE / f"{name}.py")
            for forbidden in FORBIDDEN_IN_PURE
            if module == forbidden or module.startswith(forbidden + ".")
        }
        assert not bad, f"mktows/{name}.py imports {sorted(bad)}"


def test_package_imports_are_relative() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                assert node.module.split(".")[0] != "mktows", f"{path}: absolute import"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] != "mktows", f"{path}: absolute import"


def test_package_carries_its_licence_and_types() -> None:
    assert (PACKAGE / "py.typed").exists()
    assert (PACKAGE / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "MIT License" in (PACKAGE / "LICENSE").read_text()


def test_vendored_copy_works_alone(tmp_path: Path) -> None:
    """Copied under another package's _vendor/, mktows imports, builds, validates and parses
    without the installed mktows ever being imported."""
    vendor = tmp_path / "host" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "host" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copytree(PACKAGE, vendor / "mktows", ignore=shutil.ignore_patterns("__pycache__"))
    script = textwrap.dedent(
        """
        import datetime as dt, sys
        from host._vendor import mktows
        lead = mktows.LeadRecord(email="t@t.com", attributes={"FirstName": "George"})
        ts = dt.datetime(2013, 7, 31, 12, 38, 47, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
        body = mktows.build_sync_lead_envelope(lead, user_id="u", encryption_key="k", timestamp=ts)
        assert mktows.validate_envelope(body) == [], "invalid"
        assert b"soap:address" in mktows.wsdl("http://127.0.0.1:1/soap/mktows/2_2")
        answer = mktows.build_fault_envelope(mktows.Fault.for_code(20014))
        fault = mktows.parse_sync_lead_response(answer)
        assert fault.code == 20014
        assert "mktows" not in sys.modules, "the installed package was imported"
        assert all(not m.startswith("mktows.") for m in sys.modules), "installed submodule imported"
        print("vendored ok")
        """
    )
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n{script}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "vendored ok"


def test_import_has_no_side_effects() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import logging, threading; n = threading.active_count(); import mktows; "
            "assert threading.active_count() == n; "
            "assert not logging.getLogger('mktows').handlers; print('clean')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == "clean", done.stderr
