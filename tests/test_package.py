"""The package as users get it: public names, layering, vendoring, licence, packaged data."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import mktows

PACKAGE = Path(mktows.__file__).parent
ROOT = PACKAGE.parent

# The pure core: no I/O libraries, no clock reads beyond the documented default. A
# thread-local cache (as _xml and _schema keep for lxml's parsers) is fine.
PURE = [
    "_models", "_values", "_errors", "_codes", "_xml", "_signing", "_build", "_parse",
    "_schema", "_flow", "_retry", "_soap_flow",
    "rest/_settings", "rest/_parse", "rest/_build", "rest/_flow",
]  # fmt: skip
FORBIDDEN_IN_PURE = {"httpx", "socket", "sqlite3", "asyncio", "time", "urllib.request", "http"}
# What a pure module must not pull in even indirectly (time and http come with the stdlib).
FORBIDDEN_LOADED = ("httpx", "socket", "sqlite3", "asyncio", "wsgiref")
MAX_LINES = 500

# The public names of 0.1.0: every one must keep importing from mktows.
NAMES_0_1_0 = [
    "AccessDeniedError", "AsyncClient", "AsyncRestClient", "Attribute", "Attributes",
    "AuthHeader", "AuthenticationError", "Client", "ConcurrencyLimitError", "ConfigError",
    "ConversionError", "DeadlineExceeded", "Fault", "FaultError", "ForeignSysType",
    "LeadNotFoundError", "LeadRecord", "MktowsError", "QuotaExceededError", "RateLimitError",
    "RateLimiter", "RemoteError", "RequestExpiredError", "ResponseError", "ResponseTooLarge",
    "RestClient", "RestSettings", "RetryPolicy", "Row", "RowResult", "RowStatus",
    "ServiceInternalError", "SyncLeadRequest", "SyncLeadResult", "SyncStatus",
    "TransportError", "UnknownAttributeError", "ValidationError", "__version__",
    "build_fault_envelope", "build_sync_lead_envelope", "build_sync_lead_response",
    "format_timestamp", "parse_sync_lead_request", "parse_sync_lead_response", "read_rows",
    "sign", "sync_leads", "validate_envelope", "wsdl",
]  # fmt: skip


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


def test_every_0_1_0_name_still_imports() -> None:
    missing = [name for name in NAMES_0_1_0 if name not in mktows.__all__]
    assert not missing, f"names of 0.1.0 gone from mktows.__all__: {missing}"
    for name in NAMES_0_1_0:
        assert getattr(mktows, name) is not None


def _module_name(path: Path) -> str:
    """``mktows.rest._parse`` for ``mktows/rest/_parse.py``; a package for its __init__."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The mktows modules a relative ``from ... import ...`` in ``module`` names."""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    if node.module:
        return [".".join([*base, node.module])]
    found = []
    for alias in node.names:
        candidate = ".".join([*base, alias.name])
        path = ROOT.joinpath(*candidate.split("."))
        is_module = path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
        found.append(candidate if is_module else ".".join(base))
    return found


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _run_time_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run at import: module level, inside if/try, not under TYPE_CHECKING."""
    for node in body:
        if isinstance(node, ast.If):
            if not _is_type_checking(node):
                yield from _run_time_statements(node.body)
            yield from _run_time_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _run_time_statements(block)
            for handler in node.handlers:
                yield from _run_time_statements(handler.body)
        else:
            yield node


def _graph(run_time_only: bool) -> dict[str, set[str]]:
    """mktows module -> the mktows modules it imports (all imports, or only at import)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = _run_time_statements(tree.body) if run_time_only else ast.walk(tree)
        edges = graph.setdefault(module, set())
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.level:
                edges.update(_resolve(module, path.name == "__init__.py", node))
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_no_import_cycle_at_run_time() -> None:
    graph = _graph(run_time_only=True)
    assert "mktows.rest._client" in graph
    assert "mktows.bulk._runner" in graph
    assert _find_cycle(graph) is None, f"import cycle: {' -> '.join(_find_cycle(graph) or [])}"


def test_cycle_finder_finds_one() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    ("inside", "may_not_import", "except_from"),
    [
        pytest.param("mktows", "mktows.cli", ("mktows.cli", "mktows.__main__"), id="cli"),
        pytest.param("mktows", "mktows.sandbox", ("mktows.sandbox", "mktows.cli"), id="sandbox"),
        pytest.param("mktows.bulk", "mktows.sandbox", (), id="bulk-no-sandbox"),
        pytest.param("mktows.rest", "mktows.bulk", (), id="rest-no-bulk"),
    ],
)
def test_imports_point_one_way(
    inside: str, may_not_import: str, except_from: tuple[str, ...]
) -> None:
    """The core knows nothing of the CLI or the sandbox; only the CLI uses the sandbox."""

    def within(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    offenders = {
        f"{module} -> {target}"
        for module, targets in _graph(run_time_only=False).items()
        if within(module, inside) and not any(within(module, ok) for ok in except_from)
        for target in targets
        if within(target, may_not_import)
    }
    assert not offenders


def test_no_module_is_long() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("name", PURE)
def test_pure_module_loads_no_io_library(name: str) -> None:
    """Imported alone, a pure module pulls in no networking, database or event loop.

    The packages' ``__init__`` files (which load the clients) are replaced by empty
    modules, so that only what the module itself needs is imported.
    """
    module = "mktows." + name.replace("/", ".")
    code = textwrap.dedent(
        f"""
        import importlib, sys, types
        for package in ("mktows", "mktows.rest"):
            stub = types.ModuleType(package)
            stub.__path__ = [{str(ROOT)!r} + "/" + package.replace(".", "/")]
            sys.modules[package] = stub
        importlib.import_module({module!r})
        print(sorted(m for m in {FORBIDDEN_LOADED!r} if m in sys.modules))
        """
    )
    # Without coverage's start-up hook in the child, which loads sqlite3 and socket itself.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{module} loads {done.stdout.strip()}"


def test_console_script_and_module_entry_point() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'mktows = "mktows.cli:main"' in pyproject
    from mktows.cli import main

    assert callable(main)
    done = subprocess.run(
        [sys.executable, "-m", "mktows", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"mktows {mktows.__version__}"


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
