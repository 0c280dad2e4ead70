"""discover: write a manifest from the catalog instead of by hand.

Every declared FK whose referenced table is the target or reaches it (cascade_tool.graph) gets
an entry with a proposed ON DELETE action and a comment saying why:

- an FK already CASCADE, SET NULL on nullable columns, SET DEFAULT or RESTRICT is kept;
- a self-reference on nullable columns becomes SET NULL;
- NOT NULL columns (an owner: the rows are the parent row's) become CASCADE;
- nullable columns (an actor or a mere reference, such as created_by_id) become SET NULL.

FKs to the target come first, grouped by proposed action; chain entries (`target = ...`) follow,
grouped by the table they reference, nearest first. Columns that look like references to the
target but have no FK are listed at the end as commented-out candidates, with their orphan
counts. The output is deterministic: everything is sorted, nothing depends on the clock.

`merge()` adds to an existing manifest without rewriting it: the reviewed text is kept byte for
byte, entries whose FK has disappeared get `stale = true` (generate, plan and verify skip them),
and new FKs and candidates are appended at the end.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from cascade_tool import catalog
from cascade_tool.errors import DatabaseError, DiscoverError, ManifestError
from cascade_tool.graph import ForeignKey, Graph, Relation, Target, count_rows, find_target, load_graph
from cascade_tool.manifest import Manifest, parse_manifest

CANDIDATES_SQL = resources.files("cascade_tool").joinpath("sql/candidates.sql").read_text("utf-8")

ACTION_ORDER = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
_GROUP_LABELS = {
    "CASCADE": "owned rows (CASCADE)",
    "SET NULL": "references (SET NULL)",
    "SET DEFAULT": "references (SET DEFAULT)",
    "RESTRICT": "blocking (RESTRICT)",
    "NO ACTION": "blocking (NO ACTION)",
}
# Column names that say "who did something" rather than "whose row this is" (comments only).
_ACTOR = re.compile(
    r"(^|_)((created|updated|deleted|modified|closed|merged|approved|resolved|edited|reviewed|"
    r"verified|assigned|invited|banned|blocked|reported|requested|confirmed|cancell?ed|canceled|"
    r"triggered|started|stopped|locked|unlocked|archived|published|imported|promoted|dismissed|"
    r"revoked|granted|added|removed|changed|last_edited|authored|set)_by(_user)?(_id)?"
    r"|(creator|updater|author|approver|inviter|reviewer|assignee|reporter|editor|modifier|"
    r"deleter|closer|merger|resolver|verifier|banner|redeemer|sender|recipient|moderator|actor|"
    r"initiator|requester|importer|promoter|to|from)(_user)?_id)$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TABLES_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*tables[ \t]*\]\][ \t]*(#.*)?$")
_ANY_HEADER = re.compile(r"^[ \t]*\[")
_CANDIDATE_TAG = re.compile(r"^[ \t]*#[ \t]*candidate:[ \t]*(.+?)[ \t]*$")
STALE_NOTE = "cascade-tool discover --merge: no foreign key matches this entry any more"



@dataclass(frozen=True)
class Proposal:
    """One manifest entry: an FK (or duplicate FKs on the same columns) and its proposed action."""

    fks: tuple[ForeignKey, ...]
    action: str
    kept: bool
    reason: str
    group: str
    chain: bool
    depth: int  # how many FKs the referenced table is from the target (0: the target itself)
    references: tuple[str, ...] | None  # written only when not the default

    @property
    def fk(self) -> ForeignKey:
        return self.fks[0]

    def fields(self) -> dict[str, Any]:
        """The entry's keys, in the order they are written."""
        out: dict[str, Any] = {"name": self.fk.child.manifest_name, "columns": list(self.fk.columns)}
        if self.references is not None:
            out["references"] = list(self.references)
        if self.chain:
            out["target"] = self.fk.parent.manifest_name
        out["on_delete"] = self.action
        out["group"] = self.group
        return out


@dataclass(frozen=True)
class Candidate:
    """A column that looks like a reference to the target but has no FK."""

    relation: Relation
    column: str
    type: str
    not_null: bool
    indexed: bool
    orphans: int | None  # rows whose value matches no target row (None: not counted)

    @property
    def key(self) -> str:
        """The tag a manifest carries for it: `public.reactions(creator_id)`."""
        return _comment(f"{self.relation.manifest_name}({self.column})")

    @property
    def action(self) -> str:
        return "CASCADE" if self.not_null else "SET NULL"


@dataclass(frozen=True)
class Discovery:
    graph: Graph
    proposals: tuple[Proposal, ...]  # in manifest order
    candidates: tuple[Candidate, ...]

    @property
    def target(self) -> Target:
        return self.graph.target

    def summary(self) -> str:
        g = self.graph
        return (
            f"{len(g.edges)} foreign keys reach {g.target} ({len(g.direct())} directly), "
            f"from {len(g.reachable())} tables; {len(self.proposals)} entries "
            f"({sum(not p.kept for p in self.proposals)} to change), "
            f"{len(self.candidates)} candidate column(s) without an FK"
        )


@dataclass(frozen=True)
class Merged:
    text: str
    added: tuple[Proposal, ...]
    stale: tuple[str, ...]  # labels of the entries newly marked stale, with why
    candidates: tuple[Candidate, ...]
    notes: tuple[str, ...]  # things a person should look at (an FK back under a stale entry)

    def summary(self) -> str:
        return (
            f"{len(self.added)} new entr{'y' if len(self.added) == 1 else 'ies'}, "
            f"{len(self.stale)} marked stale, {len(self.candidates)} new candidate(s)"
        )


# --- discovering ----------------------------------------------------------------------------


def discover(
    conn: psycopg.Connection[Any], target_name: str | Target, *, count_orphans: bool = True
) -> Discovery:
    """Read the graph around the target and propose an action for every FK in it."""
    target = target_name if isinstance(target_name, Target) else find_target(conn, target_name)
    graph = load_graph(conn, target)
    proposals = _proposals(graph)
    candidates = _candidates(conn, target, count_orphans)
    return Discovery(graph, tuple(proposals), tuple(candidates))


def singular(name: str) -> str:
    """users -> user, categories -> category, addresses -> address: for `user_id` look-alikes."""
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    if name.endswith(("sses", "xes", "zes", "ches", "shes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and len(name) > 1:
        return name[:-1]
    return name


def _role(fk: ForeignKey) -> str | None:
    if any(_ACTOR.search(c) for c in fk.columns):
        return "actor"
    stem = singular(fk.parent.name)
    if any(c in (f"{stem}_id", "owner_id") or c.endswith(f"_{stem}_id") for c in fk.columns):
        return "owner"
    return None


def _describe_columns(fk: ForeignKey) -> str:
    parts = [
        f"{c} {t}{' NOT NULL' if c in fk.not_null_columns else ''}"
        for c, t in zip(fk.columns, fk.column_types, strict=True)
    ]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def propose(fk: ForeignKey) -> tuple[str, bool, str]:
    """(action, kept, why) for one FK: the rules in this module's docstring."""
    parent = fk.parent.name
    failing = fk.failing_set_columns()
    if fk.on_delete == "CASCADE":
        return "CASCADE", True, "already CASCADE"
    if fk.on_delete == "SET NULL" and not failing:
        return "SET NULL", True, "already SET NULL, and the columns it writes may be NULL"
    if fk.on_delete == "SET DEFAULT" and not failing:
        return "SET DEFAULT", True, "already SET DEFAULT (lint checks that the default names an existing row)"
    if fk.on_delete == "RESTRICT":
        return "RESTRICT", True, (
            f"RESTRICT is an explicit choice: it stops the delete of a {parent} row that has such "
            "rows (lint counts them); change it only if that is not wanted"
        )
    if failing:
        return "CASCADE", False, (
            f"{fk.on_delete} on NOT NULL column(s) {', '.join(failing)} makes deleting a {parent} "
            f"row fail today; CASCADE deletes these rows (or drop NOT NULL and keep {fk.on_delete})"
        )
    # NO ACTION from here on
    role = _role(fk)
    if fk.self_reference:
        if fk.nullable:
            return "SET NULL", False, "a self-reference on a nullable column: the rows stay, the link is cleared"
        return "CASCADE", False, (
            "a self-reference on a NOT NULL column: SET NULL would fail; CASCADE deletes the rows "
            "that point at a deleted row, recursively: review"
        )
    if not fk.nullable:
        if role == "actor":
            return "CASCADE", False, (
                f"NOT NULL, but named like an actor column: CASCADE deletes rows this {parent} row "
                "only acted on; consider RESTRICT, or a nullable column with SET NULL"
            )
        if role == "owner":
            return "CASCADE", False, f"a NOT NULL owner column: the rows go with their {parent} row"
        return "CASCADE", False, f"NOT NULL, so taken as an owner column: the rows go with their {parent} row"
    if role == "owner":
        return "SET NULL", False, (
            "nullable, though named like an owner column: SET NULL keeps the rows without one; "
            f"make it CASCADE if they belong to the {parent} row"
        )
    if role == "actor":
        return "SET NULL", False, "a nullable actor column: SET NULL keeps the rows and forgets who"
    return "SET NULL", False, "a nullable reference: SET NULL keeps the rows"


def _notes(fk: ForeignKey) -> list[str]:
    notes = []
    if fk.child_partitioned or fk.parent_partitioned:
        notes.append(f"partitioned: the entry covers its {fk.clones} per-partition copies")
    if not fk.validated:
        notes.append("NOT VALID: verify reports it until it is validated")
    if not fk.enforced:
        notes.append("NOT ENFORCED: it has no effect on deletes until enforced")
    if not fk.covered:
        notes.append(f"no index on ({', '.join(fk.columns)}): each delete scans {fk.child.name}")
    return notes


def _proposals(graph: Graph) -> list[Proposal]:
    target = graph.target
    depths = graph.depths()
    by_key: dict[tuple[int, frozenset[str], int], list[ForeignKey]] = {}
    for fk in graph.edges:
        by_key.setdefault((fk.child_oid, frozenset(fk.columns), fk.parent_oid), []).append(fk)
    out: list[tuple[tuple[Any, ...], Proposal]] = []
    for fks in by_key.values():
        fks.sort(key=lambda f: (f.name, f.oid))
        # Duplicates that pair the columns with other referenced columns are other FKs: a
        # manifest entry is per (table, columns, target), so only the first gets the entry.
        pairs = sorted(zip(fks[0].columns, fks[0].references, strict=True))
        same = tuple(f for f in fks if sorted(zip(f.columns, f.references, strict=True)) == pairs)
        decisions = [propose(f) for f in same]
        action, kept, reason = next((d for d in decisions if not d[1]), decisions[0])
        fk = same[0]
        chain = fk.parent_oid != target.oid
        default_refs = fk.parent_primary_key if chain else target.primary_key
        references = None if fk.references == default_refs and default_refs else fk.references
        depth = depths.get(fk.parent_oid, 0)
        group = f"via {fk.parent}" if chain else f"{target}: {_GROUP_LABELS[action]}"
        proposal = Proposal(same, action, kept, reason, group, chain, depth, references)
        rank = (1, depth, fk.parent) if chain else (0, ACTION_ORDER.index(action), fk.parent)
        out.append(((*rank, fk.child, fk.columns, fk.name), proposal))
        others = [f for f in fks if f not in same]
        if others:
            out[-1] = (out[-1][0], _with_reason(proposal, "; not listed: " + ", ".join(
                f"{f.name} pairs these columns with ({', '.join(f.references)})" for f in others)))
    out.sort(key=lambda item: item[0])
    return [p for _, p in out]


def _with_reason(p: Proposal, extra: str) -> Proposal:
    return Proposal(p.fks, p.action, p.kept, p.reason + extra, p.group, p.chain, p.depth, p.references)


def _candidates(conn: psycopg.Connection[Any], target: Target, count_orphans: bool) -> list[Candidate]:
    if len(target.primary_key) != 1:
        return []  # a composite key has no single look-alike column
    stem = singular(target.relation.name)
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute("SELECT pg_catalog.set_config('jit', 'off', true)")
            cur.execute(
                CANDIDATES_SQL,
                {"target": target.oid, "key_type": target.primary_key_types[0],
                 "names": [f"{stem}_id"], "suffixes": [f"_{stem}_id"]},
            )
            rows = cur.fetchall()
    except psycopg.Error as exc:
        raise DatabaseError(f"catalog lookup failed: {str(exc).strip().splitlines()[0]}") from None
    orphans: list[int | None] = [None] * len(rows)
    if count_orphans and rows:
        key = sql.Identifier(target.primary_key[0])
        queries: list[sql.Composable] = [
            sql.SQL(
                "SELECT count(*) FROM {table} AS c WHERE c.{col} IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM {target} AS t WHERE t.{key} = c.{col})"
            ).format(
                table=sql.Identifier(r["schema"], r["table"]), col=sql.Identifier(r["column"]),
                target=sql.Identifier(target.relation.schema, target.relation.name), key=key,
            )
            for r in rows
        ]
        orphans = list(count_rows(conn, queries))
    return [
        Candidate(Relation(r["schema"], r["table"]), r["column"], r["type"], bool(r["not_null"]),
                  bool(r["indexed"]), n)
        for r, n in zip(rows, orphans, strict=True)
    ]


# --- writing --------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    """A TOML string: literal ('...') for names with double quotes, else basic ("...").

    A basic string uses JSON's escapes, which are TOML's; DEL must be escaped too.
    """
    if '"' in value and "'" not in value and not _CONTROL.search(value):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(toml_string(v) for v in value) + "]"
    return toml_string(str(value))


def _comment(text: str) -> str:
    """Text safe inside a one-line TOML comment: control characters shown, never a line break."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _entry_lines(p: Proposal) -> list[str]:
    fk = p.fk
    lines = [f"# {_comment(fk.name)}: {_comment(_describe_columns(fk))}, ON DELETE {fk.on_delete} today."]
    verdict = "kept" if p.kept else f"-> {p.action}"
    lines.append(f"# {verdict}: {_comment(p.reason)}.")
    if len(p.fks) > 1:
        names = ", ".join(f.name for f in p.fks)
        lines.append(f"# {len(p.fks)} FKs match this entry ({_comment(names)}): each is converted.")
    lines += [f"# note: {_comment(n)}." for n in _notes(fk)]
    lines.append("[[tables]]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in p.fields().items()]
    return lines


def _entries_block(proposals: tuple[Proposal, ...] | list[Proposal]) -> list[str]:
    lines: list[str] = []
    group: str | None = None
    for p in proposals:
        if p.group != group:
            group = p.group
            lines += ["", f"# --- {_comment(group)} ---"]
        lines += ["", *_entry_lines(p)]
    return lines


def _candidates_block(target: Target, candidates: tuple[Candidate, ...] | list[Candidate]) -> list[str]:
    if not candidates:
        return []
    lines = [
        "",
        f"# --- Candidates: columns that look like references to {_comment(str(target))} but have no",
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
            f"# {_comment(', '.join(facts))}.",
            "# [[tables]]",
            f"# name = {toml_string(c.relation.manifest_name)}",
            f"# columns = {_toml_value([c.column])}",
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
    changes = {a: sum(1 for p in d.proposals if not p.kept and p.action == a) for a in ACTION_ORDER}
    proposed = ", ".join(f"{n} to {a}" for a, n in changes.items() if n) or "none"
    lines = [
        f"# Written by cascade-tool discover --target {_comment(target.relation.manifest_name)}.",
        f"# {len(g.edges)} foreign keys reach {_comment(str(target))}: {len(g.direct())} reference it "
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
        lines.append(f"columns = {_toml_value(list(target.primary_key))}")
    lines += _entries_block(d.proposals)
    lines += _candidates_block(target, d.candidates)
    return "\n".join(lines) + "\n"


# --- merging --------------------------------------------------------------------------------


def merge_file(
    conn: psycopg.Connection[Any], path: Path, target_name: str | None, *, count_orphans: bool = True
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
    by_entry: dict[int, list[catalog.Row]] = {}
    for row in rows:
        by_entry.setdefault(int(row.i), []).append(row)
    matched = {int(r.fk_oid) for r in rows if r.fk_oid}
    existing_keys = {
        (r.table_display, frozenset(r.columns or []), r.target_display) for r in rows
    }
    raw = tomllib.loads(text)
    tags = {m.group(1) for line in text.splitlines() if (m := _CANDIDATE_TAG.match(line))}

    # Lines split on "\n" only (str.splitlines() would also split inside a comment at U+2028),
    # each kept with its "\r" in a CRLF file, so that joining them gives the text back.
    cr = "\r" if "\r\n" in text else ""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    else:
        lines[-1] += cr  # the file did not end with a line break: it gets one
    headers = [i for i, line in enumerate(lines) if _TABLES_HEADER.match(line.rstrip("\r"))]
    if len(headers) != len(manifest.entries) or not isinstance(raw.get("tables"), list):
        raise DiscoverError(
            f"{manifest.source}: merge needs one [[tables]] header line per entry "
            f"(found {len(headers)} for {len(manifest.entries)} entries)"
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

    # Insert from the bottom up so that earlier line numbers stay right; each mark goes after
    # the entry's last key line, before the comments that introduce the next entry.
    for index, _why in sorted(stale, reverse=True):
        start = headers[index]
        end = next((j for j in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[j])), len(lines))
        last = max(j for j in range(start, end) if lines[j].strip() and not lines[j].lstrip().startswith("#"))
        lines.insert(last + 1, f"stale = true  # {STALE_NOTE}{cr}")

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
                         f"key(s) new since this manifest was written ==="] + _entries_block(added)
    appended += _candidates_block(d.target, candidates)
    result = "\n".join(lines + [line + cr for line in appended]) + "\n"
    _check_merge(result, raw, [i for i, _ in stale], added, manifest.source)
    return Merged(
        text=result,
        added=tuple(added),
        stale=tuple(f"{manifest.entries[i].label}: {why}" for i, why in sorted(stale)),
        candidates=tuple(candidates),
        notes=tuple(notes),
    )


def _stale_reason(row: catalog.Row, optional: bool, tags: set[str]) -> str | None:
    status = row.status
    if status == "missing_table":
        return None if optional else "its table does not exist"
    if status == "missing_columns":
        return str(row.detail)
    if status == "missing_target":
        return str(row.detail)
    if status in ("create", "no_primary_key", "missing_references", "not_unique"):
        key = _comment(f"{Relation(row.table_schema, row.table_name).manifest_name}"
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
