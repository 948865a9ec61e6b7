"""The REST package's layers: imports point one way, settings <- parse <- build <- flow <- batch <-
client (tests/test_package.py keeps the pure ones free of I/O and the whole free of cycles).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mktows.rest

PACKAGE = Path(mktows.rest.__file__).parent
LAYERS = ["_settings", "_parse", "_build", "_flow", "_batch", "_client", "__init__"]


def _siblings(name: str) -> set[str]:
    """The modules of mktows/rest that ``mktows/rest/<name>.py`` imports."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            # "from ._flow import x", or "from . import _flow"
            found.update([node.module] if node.module else [a.name for a in node.names])
    return found


def test_every_module_has_a_layer() -> None:
    assert sorted(path.stem for path in PACKAGE.glob("*.py")) == sorted(LAYERS)


@pytest.mark.parametrize("name", LAYERS)
def test_imports_point_down_the_layers(name: str) -> None:
    below = set(LAYERS[: LAYERS.index(name)])
    assert _siblings(name) <= below, f"rest/{name}.py imports {sorted(_siblings(name) - below)}"
