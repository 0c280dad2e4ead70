"""The layout holds: one CLI module per command, every exception in errors.py, no printing in the
library, no library module too big to read."""

from __future__ import annotations

import ast
from pathlib import Path

import click

from cascade_tool.cli import cli
from tests.helpers import REPO

PACKAGE = REPO / "cascade_tool"
MAX_LINES = 600


def _library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts)


def test_each_command_has_its_module_of_the_same_name() -> None:
    for name, command in cli.commands.items():
        module = PACKAGE / "cli" / f"{name.replace('-', '_')}.py"
        assert module.is_file(), f"{name}: no {module.relative_to(REPO)}"
        assert command.callback is not None
        assert command.callback.__module__ == f"cascade_tool.cli.{name.replace('-', '_')}", name
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                assert sub.callback is not None and sub.callback.__module__ == command.callback.__module__


def test_no_exception_is_defined_outside_errors_py() -> None:
    bases = {"Exception", "BaseException", "CascadeToolError", "ValueError", "RuntimeError"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                if names & bases or any(n.endswith("Error") for n in names):
                    offenders.append(f"{path.relative_to(REPO)}: {node.name}")
    assert offenders == []


def test_the_library_prints_nothing() -> None:
    """Text is made in cascade_tool/output/; the library returns data."""
    offenders = []
    for path in _library_modules():
        text = path.read_text("utf-8")
        if "output" in path.relative_to(PACKAGE).parts or 'if __name__ == "__main__":' in text:
            continue  # the output layer; a program run in a process of its own (fleet's worker)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call):
                func = node.func
                name = getattr(func, "id", None) or getattr(func, "attr", None)
                owner = getattr(getattr(func, "value", None), "id", None)
                if name == "print" or (owner == "click" and name in ("echo", "secho")):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_no_library_module_is_too_big_to_read() -> None:
    sizes = {str(p.relative_to(REPO)): len(p.read_text("utf-8").splitlines()) for p in _library_modules()}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
