"""What discover proposes: the types it returns, which the manifest writer renders.

Below both cascade_tool.discover (which builds them from the catalog) and
cascade_tool.manifest.write (which turns them into TOML), so that neither imports the other's
types; they hold only what the two share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cascade_tool.graph import ForeignKey, Graph, Relation, Target

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def comment(text: str) -> str:
    """Text safe inside a one-line TOML comment: control characters shown, never a line break."""
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def describe_columns(fk: ForeignKey) -> str:
    """The FK's columns with their types: `owner_id bigint NOT NULL`."""
    parts = [
        f"{c} {t}{' NOT NULL' if c in fk.not_null_columns else ''}"
        for c, t in zip(fk.columns, fk.column_types, strict=True)
    ]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def fk_notes(fk: ForeignKey) -> list[str]:
    """What a reviewer should know about the FK (partitioned, NOT VALID, unindexed...)."""
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

    def column_summary(self) -> str:
        """The FK's columns with their types: `owner_id bigint NOT NULL`."""
        return describe_columns(self.fk)

    def notes(self) -> list[str]:
        """What a reviewer should know about the FK (partitioned, NOT VALID, unindexed...)."""
        return fk_notes(self.fk)

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
        return comment(f"{self.relation.manifest_name}({self.column})")

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
