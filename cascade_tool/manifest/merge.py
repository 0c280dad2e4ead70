"""Merging: a new discovery added to a reviewed manifest without rewriting what is there.

The reviewed text is kept byte for byte; entries whose FK has disappeared get `stale = true`
(generate, plan and verify skip them), written by tomlkit, which edits TOML keeping its comments
and layout; new FKs and candidates are appended at the end. The merged text must parse back to
exactly the old entries plus the new ones, or nothing is written.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Table

from cascade_tool import catalog
from cascade_tool.discover import discover
from cascade_tool.errors import DiscoverError, ManifestError
from cascade_tool.graph import Relation, find_target
from cascade_tool.manifest.read import Manifest, TableName, parse_manifest
from cascade_tool.manifest.write import candidates_block, comment, entries_block
from cascade_tool.proposals import Candidate, Discovery, Proposal

_CANDIDATE_TAG = re.compile(r"^[ \t]*#[ \t]*candidate:[ \t]*(.+?)[ \t]*$")
STALE_NOTE = "cascade-tool discover --merge: no foreign key matches this entry any more"


@dataclass(frozen=True)
class Merged:
    text: str
    added: tuple[Proposal, ...]
    stale: tuple[str, ...]  # labels of the entries newly marked stale, with why
    candidates: tuple[Candidate, ...]
    notes: tuple[str, ...]  # things a person should look at (an FK back under a stale entry)



def merge_file(
    conn: psycopg.Connection[Any], path: Path, target_name: TableName | None, *, count_orphans: bool = True
) -> tuple[Discovery, Merged]:
    """Discover against the manifest at `path` (its target, unless --target names the same)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:  # line endings as they are
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {getattr(exc, 'strerror', None) or exc}") from None
    manifest = parse_manifest(text, str(path))
    target = find_target(conn, manifest.target)
    if target_name is not None:
        other = find_target(conn, target_name)
        if other.oid != target.oid:
            raise DiscoverError(
                f"{other} is not the target of {path} ({target}): leave it out to merge",
                option="target",
            )
    d = discover(conn, target, count_orphans=count_orphans)
    return d, merge(conn, d, text, manifest)


def merge(conn: psycopg.Connection[Any], d: Discovery, text: str, manifest: Manifest) -> Merged:
    """Add what is new to an existing manifest's text; never rewrite what is there."""
    # Look every entry up, stale ones included (to notice an FK that came back): row.i is then
    # the entry's index.
    everything = replace(manifest, entries=tuple(replace(e, stale=False) for e in manifest.entries))
    rows = catalog.resolve(conn, everything)
    by_entry: dict[int, list[catalog.LookupRow]] = {}
    for row in rows:
        by_entry.setdefault(int(row.i), []).append(row)
    matched = {int(r.fk_oid) for r in rows if r.fk_oid}
    existing_keys = {
        (r.table_display, frozenset(r.columns or []), r.target_display) for r in rows
    }
    raw = tomllib.loads(text)
    tags = {m.group(1) for line in text.splitlines() if (m := _CANDIDATE_TAG.match(line))}

    cr = "\r" if "\r\n" in text else ""
    if not text.endswith("\n"):
        text += cr + "\n"  # the file did not end with a line break: it gets one
    doc = _document(text, manifest.source)
    tables = doc.get("tables")
    if not isinstance(raw.get("tables"), list) or not isinstance(tables, AoT) \
            or len(tables) != len(manifest.entries):
        raise DiscoverError(
            f"{manifest.source}: merge needs one [[tables]] header per entry, none of them inline"
        )

    stale: list[tuple[int, str]] = []  # (entry index, why)
    notes: list[str] = []
    for entry in manifest.entries:
        entry_rows = by_entry.get(entry.index, [])
        if any(r.fk_oid for r in entry_rows):
            if entry.stale:
                notes.append(f"{entry.label}: marked stale, but a foreign key matches it again; "
                             "remove stale = true to apply it")
            continue
        if "stale" in raw["tables"][entry.index] or not entry_rows:
            continue  # a person (or an earlier merge) decided already
        why = _stale_reason(entry_rows[0], entry.optional, tags)
        if why:
            stale.append((entry.index, why))

    for index, _why in stale:
        _mark_stale(tables[index], cr)

    added = [
        p for p in d.proposals
        if not any(f.oid in matched for f in p.fks)
        and (str(p.fk.child), frozenset(p.fk.columns), str(p.fk.parent)) not in existing_keys
    ]
    for p in d.proposals:
        key = (str(p.fk.child), frozenset(p.fk.columns), str(p.fk.parent))
        if not any(f.oid in matched for f in p.fks) and key in existing_keys:
            notes.append(f"{p.fk.label}: an entry names these columns but does not match this FK "
                         "(check its references); not added")
    entry_tables = {(r.table_display, tuple(r.columns or [])) for r in rows}
    candidates = [
        c for c in d.candidates
        if c.key not in tags and (str(c.relation), (c.column,)) not in entry_tables
    ]

    appended: list[str] = []
    if added:
        appended += ["", f"# === Added by cascade-tool discover --merge: {len(added)} foreign "
                         f"key(s) new since this manifest was written ==="] + entries_block(added)
    appended += candidates_block(d.target, candidates)
    result = doc.as_string()
    if appended:
        result += "\n".join(line + cr for line in appended) + "\n"
    _check_merge(result, raw, [i for i, _ in stale], added, manifest.source)
    return Merged(
        text=result,
        added=tuple(added),
        stale=tuple(f"{manifest.entries[i].label}: {why}" for i, why in sorted(stale)),
        candidates=tuple(candidates),
        notes=tuple(notes),
    )


def _document(text: str, source: str) -> tomlkit.TOMLDocument:
    """The manifest as tomlkit edits it, provided it gives the text back byte for byte (it does
    for every ordinary layout; not, for example, for [[tables]] headers spaced differently)."""
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise DiscoverError(f"{source}: cannot merge into this file ({exc}); nothing written") from None
    if doc.as_string() != text:
        raise DiscoverError(f"{source}: cannot merge into this file's layout safely; nothing written")
    return doc


def _mark_stale(entry: Table, cr: str) -> None:
    """`stale = true  # why` right after the entry's last key, before the comments that introduce
    the next entry, in the file's line endings."""
    mark = tomlkit.item(True)
    mark.comment(STALE_NOTE)
    mark.trivia.comment_ws = "  "
    mark.trivia.trail = cr + "\n"
    body = entry.value.body
    last = max(i for i, (key, _) in enumerate(body) if key is not None)
    if last == len(body) - 1:
        entry.value.append("stale", mark)
    else:
        entry.value._insert_at(last + 1, "stale", mark)  # tomlkit has no public insert


def _stale_reason(row: catalog.LookupRow, optional: bool, tags: set[str]) -> str | None:
    status = row.status
    if status == "missing_table":
        return None if optional else "its table does not exist"
    if status == "missing_columns":
        return str(row.detail)
    if status == "missing_target":
        return str(row.detail)
    if status in ("create", "no_primary_key", "missing_references", "not_unique"):
        key = comment(f"{Relation(*row.found_table).manifest_name}"
                       f"({', '.join(row.columns or [])})")
        if key in tags:
            return None  # a candidate someone uncommented: the FK is to be created
        return "no foreign key matches it"
    return None


def _check_merge(
    text: str, raw: dict[str, Any], stale: list[int], added: list[Proposal], source: str
) -> None:
    """The merged text must parse to exactly the old entries (plus marks) and the new ones."""
    try:
        merged = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DiscoverError(f"{source}: merging would produce invalid TOML ({exc}); nothing written") from None
    expected = [dict(t) for t in raw["tables"]]
    for i in stale:
        expected[i]["stale"] = True
    expected += [p.fields() for p in added]
    if merged.get("tables") != expected or {k: v for k, v in merged.items() if k != "tables"} != {
        k: v for k, v in raw.items() if k != "tables"
    }:
        raise DiscoverError(f"{source}: cannot merge into this file's layout safely; nothing written")
    parse_manifest(text, source)
