"""MkDocs hook: fills docs/troubleshooting.md with every message the code can print.

The messages come from the code (docs/hooks/messages.py); causes and remedies from
docs/hooks/troubleshooting.toml. A message without an entry fails the build, as does an entry
for a message the code no longer prints.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MARKER = "<!-- messages: generated from the code -->"


def _messages_module() -> Any:
    spec = importlib.util.spec_from_file_location("cascade_tool_doc_messages", HERE / "messages.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def catalog() -> dict[str, Any]:
    with (HERE / "troubleshooting.toml").open("rb") as handle:
        return tomllib.load(handle)


def problems() -> list[str]:
    """Messages without an entry, and entries naming no message the code prints."""
    found = {m.text for m in _messages_module().all_messages()}
    listed: dict[str, int] = {}
    data = catalog()
    for entry in data["entry"]:
        for text in entry["messages"]:
            listed[text] = listed.get(text, 0) + 1
    out = [f"no entry in docs/hooks/troubleshooting.toml for: {text}" for text in sorted(found - set(listed))]
    out += [f"docs/hooks/troubleshooting.toml: no code prints: {text}" for text in sorted(set(listed) - found)]
    out += [f"docs/hooks/troubleshooting.toml: listed twice: {text}" for text, n in listed.items() if n > 1]
    out += [f"unknown section {e['section']!r}" for e in data["entry"] if e["section"] not in data["sections"]]
    return out


def render() -> str:
    module = _messages_module()
    origin = {m.text: m for m in module.all_messages()}
    data = catalog()
    lines = []
    for section in data["sections"]:
        entries = [e for e in data["entry"] if e["section"] == section]
        if not entries:
            continue
        lines += [f"## {section}", ""]
        for entry in entries:
            for text in entry["messages"]:
                where = "the revision, in Alembic's output" if origin[text].origin == "revision" else "the CLI"
                lines.append(f"- `{text}` <small>({where})</small>")
            lines += ["", f"**Cause.** {entry['cause']}", "", f"**Remedy.** {entry['remedy']}", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if page.file.src_uri != "troubleshooting.md":
        return markdown
    missing = problems()
    if missing:
        raise SystemExit("troubleshooting page:\n" + "\n".join(missing))
    return markdown.replace(MARKER, render())
