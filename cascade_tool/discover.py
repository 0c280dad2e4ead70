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

What it returns (Discovery, Proposal, Candidate) lives in cascade_tool.proposals, below both this
module and the writer. The manifest text is written by cascade_tool.manifest.write;
cascade_tool.manifest.merge adds a new discovery to an existing manifest without rewriting it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from cascade_tool import sqlfile
from cascade_tool.errors import DatabaseError
from cascade_tool.graph import ForeignKey, Graph, Relation, Target, count_rows, find_target, load_graph
from cascade_tool.manifest import ACTIONS, TableName
from cascade_tool.proposals import Candidate, Discovery, Proposal

__all__ = ["Candidate", "Discovery", "Proposal", "discover", "propose", "singular"]


CANDIDATES_SQL = sqlfile.load("candidates")

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


# --- discovering ----------------------------------------------------------------------------


def discover(
    conn: psycopg.Connection[Any], target_name: str | TableName | Target, *, count_orphans: bool = True
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
        rank = (1, depth, fk.parent) if chain else (0, ACTIONS.index(action), fk.parent)
        out.append(((*rank, fk.child, fk.columns, fk.name), proposal))
        others = [f for f in fks if f not in same]
        if others:
            out[-1] = (out[-1][0], _with_reason(proposal, "; not listed: " + ", ".join(
                f"{f.name} pairs these columns with ({', '.join(f.references)})" for f in others)))
    out.sort(key=lambda item: item[0])
    return [p for _, p in out]


def _with_reason(p: Proposal, extra: str) -> Proposal:
    return Proposal(p.fks, p.action, p.kept, p.reason + extra, p.group, p.chain, p.depth, p.references)


@dataclass(frozen=True)
class _CandidateRow:
    """One row of sql/candidates.sql."""

    schema: str
    table: str
    column: str
    type: str
    not_null: bool
    indexed: bool


def _candidates(conn: psycopg.Connection[Any], target: Target, count_orphans: bool) -> list[Candidate]:
    if len(target.primary_key) != 1:
        return []  # a composite key has no single look-alike column
    stem = singular(target.relation.name)
    try:
        with conn.cursor(row_factory=class_row(_CandidateRow)) as cur:
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
                table=sql.Identifier(r.schema, r.table), col=sql.Identifier(r.column),
                target=sql.Identifier(target.relation.schema, target.relation.name), key=key,
            )
            for r in rows
        ]
        orphans = list(count_rows(conn, queries))
    return [
        Candidate(Relation(r.schema, r.table), r.column, r.type, r.not_null, r.indexed, n)
        for r, n in zip(rows, orphans, strict=True)
    ]
