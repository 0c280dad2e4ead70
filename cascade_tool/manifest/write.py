"""Writing a manifest: the TOML text discover proposes, comments saying why for each entry.

Everything written reads back with cascade_tool.manifest.parse_manifest (discover checks it).
"""

from __future__ import annotations

import json
from typing import Any

from cascade_tool.errors import DiscoverError
from cascade_tool.graph import Target
from cascade_tool.manifest.read import ACTIONS
from cascade_tool.proposals import CONTROL, Candidate, Discovery, Proposal, comment

__all__ = ["candidates_block", "comment", "entries_block", "render", "toml_string", "toml_value"]


def toml_string(value: str) -> str:
    """A TOML string: literal ('...') for names with double quotes, else basic ("...").

    A basic string uses JSON's escapes, which are TOML's; DEL must be escaped too.
    """
    if '"' in value and "'" not in value and not CONTROL.search(value):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_string(v) for v in value) + "]"
    return toml_string(str(value))


def entry_lines(p: Proposal) -> list[str]:
    fk = p.fk
    lines = [f"# {comment(fk.name)}: {comment(p.column_summary())}, ON DELETE {fk.on_delete} today."]
    verdict = "kept" if p.kept else f"-> {p.action}"
    lines.append(f"# {verdict}: {comment(p.reason)}.")
    if len(p.fks) > 1:
        names = ", ".join(f.name for f in p.fks)
        lines.append(f"# {len(p.fks)} FKs match this entry ({comment(names)}): each is converted.")
    lines += [f"# note: {comment(n)}." for n in p.notes()]
    lines.append("[[tables]]")
    lines += [f"{k} = {toml_value(v)}" for k, v in p.fields().items()]
    return lines


def entries_block(proposals: tuple[Proposal, ...] | list[Proposal]) -> list[str]:
    lines: list[str] = []
    group: str | None = None
    for p in proposals:
        if p.group != group:
            group = p.group
            lines += ["", f"# --- {comment(group)} ---"]
        lines += ["", *entry_lines(p)]
    return lines


def candidates_block(target: Target, candidates: tuple[Candidate, ...] | list[Candidate]) -> list[str]:
    if not candidates:
        return []
    lines = [
        "",
        f"# --- Candidates: columns that look like references to {comment(str(target))} but have no",
        "# foreign key (name and type match). Uncomment an entry to have generate create the FK;",
        "# the upgrade stops if orphan rows would violate it (plan counts them). ---",
    ]
    for c in candidates:
        facts = [c.type + (" NOT NULL" if c.not_null else ""), "indexed" if c.indexed else "no index"]
        if c.orphans is not None:
            facts.append(f"{c.orphans} row(s) reference no {target.relation.name} row")
        lines += [
            "",
            f"# candidate: {c.key}",
            f"# {comment(', '.join(facts))}.",
            "# [[tables]]",
            f"# name = {toml_string(c.relation.manifest_name)}",
            f"# columns = {toml_value([c.column])}",
            f"# on_delete = {toml_string(c.action)}",
            f"# group = {toml_string('candidates (no FK yet)')}",
        ]
    return lines


def render(d: Discovery) -> str:
    """The manifest discover writes (accepted by cascade_tool.manifest.load_manifest)."""
    if not d.proposals:
        hint = f" ({len(d.candidates)} column(s) look like references but have no FK)" if d.candidates else ""
        raise DiscoverError(f"no foreign key references {d.target}: no manifest to write{hint}")
    g, target = d.graph, d.target
    changes = {a: sum(1 for p in d.proposals if not p.kept and p.action == a) for a in ACTIONS}
    proposed = ", ".join(f"{n} to {a}" for a, n in changes.items() if n) or "none"
    lines = [
        f"# Written by cascade-tool discover --target {comment(target.relation.manifest_name)}.",
        f"# {len(g.edges)} foreign keys reach {comment(str(target))}: {len(g.direct())} reference it "
        f"directly, the others through chains",
        f"# (entries with `target`); {len(g.reachable())} tables reach it. "
        "Per-partition copies are not listed: an entry",
        "# for a partitioned table covers them.",
        f"# Proposed changes: {proposed}; {sum(p.kept for p in d.proposals)} entries kept as they are.",
        "# Rules: NOT NULL (owner) columns -> CASCADE; nullable columns (actors such as created_by_id,",
        "# references) -> SET NULL; nullable self-references -> SET NULL; an FK already CASCADE,",
        "# SET NULL on nullable columns, SET DEFAULT or RESTRICT -> kept. Each entry says why.",
        "# Review every entry, then run cascade-tool lint --manifest and cascade-tool plan.",
        "",
        "[target]",
        f"table = {toml_string(target.relation.manifest_name)}",
    ]
    if target.primary_key:
        lines.append(f"columns = {toml_value(list(target.primary_key))}")
    lines += entries_block(d.proposals)
    lines += candidates_block(target, d.candidates)
    return "\n".join(lines) + "\n"
