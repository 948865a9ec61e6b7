"""Every example in README.md runs as written, so the front door cannot rot.

Each ``python`` block runs in a fresh interpreter (a block that defines ``test_``
functions runs under pytest), each ``console`` block's ``$`` commands in a fresh
``bash -e``; both in a scratch folder holding a copy of ``templates/``, with no
``MKTOWS_*`` variable set and the embedded sandbox's state kept there too. A block may
opt out only with a visible line right above it: ``*Not run by the tests: <reason>.*``
Blocks in other languages (TOML, CSV, JSON, text) are data, not examples.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import ROOT, clean_env

README = ROOT / "README.md"
RUN = ("python", "console")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_OPT_OUT = re.compile(r"^\*Not run by the tests: (?P<reason>.+\S)\.\*$")


@dataclass(frozen=True)
class Block:
    """A fenced block of the README: its language, text, first line and opt-out reason."""

    lang: str
    text: str
    line: int
    skip: str | None


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, with the reason it opts out, if it does."""
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        opt_out = _OPT_OUT.match(before.strip())
        found.append(
            Block(
                lang=match.group(1),
                text=match.group(2),
                line=text.count("\n", 0, match.start()) + 1,
                skip=opt_out.group("reason") if opt_out else None,
            )
        )
    return found


def commands(block: str) -> str:
    """The ``$`` commands of a console block (continuation lines kept) as a script."""
    lines: list[str] = []
    continued = False
    for line in block.splitlines():
        if line.startswith("$ "):
            lines.append(line[2:])
        elif continued:
            lines.append(line)
        else:
            continue
        continued = line.endswith("\\")
    return "\n".join(lines)


def _env(workdir: Path) -> dict[str, str]:
    return clean_env(
        HOME=str(workdir),
        XDG_DATA_HOME=str(workdir / ".data"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )


_ALL = blocks(README.read_text(encoding="utf-8"))
_EXAMPLES = [block for block in _ALL if block.lang in RUN]


def test_the_readme_has_examples_and_every_opt_out_says_why() -> None:
    assert len(_EXAMPLES) >= 5
    ran = [block for block in _EXAMPLES if block.skip is None]
    assert len(ran) >= len(_EXAMPLES) // 2, "most examples must run"
    for block in _ALL:
        assert block.lang, f"README.md:{block.line}: a fenced block without a language"


def test_block_parsing() -> None:
    text = (
        "intro\n\n```python\nprint(1)\n```\n\n*Not run by the tests: needs an account.*\n"
        "```console\n$ mktows x \\\n  --y\nout\n```\n"
    )
    first, second = blocks(text)
    assert (first.lang, first.text, first.line, first.skip) == ("python", "print(1)\n", 3, None)
    assert (second.lang, second.skip) == ("console", "needs an account")
    assert commands(second.text) == "mktows x \\\n  --y"


@pytest.mark.parametrize(
    "block", _EXAMPLES, ids=[f"README.md:{block.line}-{block.lang}" for block in _EXAMPLES]
)
def test_readme_example_runs(block: Block, tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(f"README.md:{block.line} opts out: {block.skip}")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    env = _env(tmp_path)
    if block.lang == "python" and "\ndef test_" in "\n" + block.text:
        (tmp_path / "test_example.py").write_text(block.text, encoding="utf-8")
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_example.py"]
    elif block.lang == "python":
        args = [sys.executable, "-c", block.text]
    else:
        script = commands(block.text)
        assert script, f"README.md:{block.line}: a console block without a $ command"
        # Background jobs (a server the block started with &) end with the block.
        args = ["bash", "-e", "-c", f"trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{script}"]
    # Its own process group, ended whole afterwards: a server a block left running
    # (or one that ran into the timeout) must not outlive the test.
    with subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()  # what it printed before it hung
            stderr += "\n[timed out after 180 s]"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    done = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
    assert done.returncode == 0, (
        f"README.md:{block.line} failed (exit {done.returncode}):\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
