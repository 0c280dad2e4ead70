"""The troubleshooting page lists every message the code can print, each with cause and remedy.

The list is read from the code (docs/hooks/messages.py) and filled into the page by an MkDocs hook
(docs/hooks/troubleshooting.py); causes and remedies live in docs/hooks/troubleshooting.toml.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", REPO / "docs" / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def skeleton_regex(text: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in text.split("…")), re.S)


def test_every_message_the_code_can_print_has_a_cause_and_a_remedy() -> None:
    hook = load("troubleshooting")
    assert hook.problems() == []
    for entry in hook.catalog()["entry"]:
        assert entry["cause"].strip() and entry["remedy"].strip(), entry["messages"]


def test_the_extraction_finds_messages_from_every_source() -> None:
    texts = {m.text: m for m in load("messages").all_messages()}
    assert len(texts) > 100
    for known in [
        "no database: pass --database-url or set DATABASE_URL",  # click.UsageError
        "…: missing name",  # ManifestError
        "…: environment variable … (url_env) is not set",  # errors.append(...)
        "cascade-tool: upgrade stopped before changing anything: …",  # RAISE EXCEPTION
        "…: … lacks the REFERENCES privilege on …",  # the opening check's problems
        "referenced columns (…) of … have no unique constraint",  # the lookup's detail
        "cascade-tool: …=…: expected true or false",  # CommandError in revision.py.j2
        "…: its machinery is from cascade-tool …, newer than the installed …; upgrade cascade-tool",
    ]:
        assert known in texts, known


def test_a_message_without_an_entry_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = load("troubleshooting")
    messages = load("messages")
    real = messages.all_messages()
    new = messages.Message("a brand new problem: …", "cascade_tool/x.py:1", "cli")
    monkeypatch.setattr(hook, "_messages_module", lambda: type("M", (), {"all_messages": lambda: [*real, new]}))
    assert hook.problems() == ["no entry in docs/hooks/troubleshooting.toml for: a brand new problem: …"]
    monkeypatch.setattr(hook, "_messages_module", lambda: type("M", (), {"all_messages": lambda: real[1:]}))
    assert any("no code prints" in p for p in hook.problems())


def test_the_page_renders_every_message() -> None:
    hook = load("troubleshooting")
    text = hook.render()
    for message in load("messages").all_messages():
        assert f"`{message.text}`" in text


def test_the_lock_give_up_example_has_the_shape_the_revision_prints() -> None:
    page = (REPO / "docs" / "troubleshooting.md").read_text()
    example = re.search(r"production: `(.*?)`\.", " ".join(page.split())).group(1)  # type: ignore[union-attr]
    skeleton = next(m.text for m in load("messages").all_messages() if "stopped: no lock within" in m.text)
    assert skeleton_regex(skeleton.removeprefix("cascade-tool: ")).fullmatch(example), (skeleton, example)
