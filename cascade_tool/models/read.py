"""Reading the models: their foreign keys, matched to manifest entries, and the FK options the
database will have after the upgrade (what alembic autogenerate compares).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ForeignKeyConstraint, MetaData, Table

from cascade_tool.catalog import LookupRow as Row
from cascade_tool.manifest import Entry, TableName

DEFAULT_SCHEMA = "public"


@dataclass(frozen=True)
class ModelFK:
    """A ForeignKeyConstraint of the models, with what it references."""

    table: Table
    constraint: ForeignKeyConstraint
    columns: tuple[str, ...]
    ref: TableName  # schema None: the default schema
    ref_columns: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{_table_label(self.table)}({', '.join(self.columns)})"


def _table_label(table: Table) -> str:
    return f"{table.schema}.{table.name}" if table.schema else table.name


def _model_fks(metadata: MetaData) -> list[ModelFK]:
    out: list[ModelFK] = []
    for table in metadata.sorted_tables:
        for fkc in sorted(table.foreign_key_constraints, key=lambda c: [e.parent.name for e in c.elements]):
            refs: list[tuple[str | None, str, str]] = []
            for element in fkc.elements:
                try:
                    col = element.column
                    refs.append((col.table.schema, col.table.name, col.name))
                except Exception:  # unresolvable target: read it from the string
                    tokens = getattr(element, "_column_tokens", None)
                    if not tokens or tokens[2] is None:
                        break
                    refs.append((tokens[0], tokens[1], tokens[2]))
            if len(refs) != len(fkc.elements) or len({(s, t) for s, t, _ in refs}) != 1:
                continue
            out.append(ModelFK(
                table, fkc, tuple(e.parent.name for e in fkc.elements),
                TableName(refs[0][0], refs[0][1]), tuple(c for _, _, c in refs),
            ))
    return out


def _same_schema(wanted: str | None, model: str | None) -> bool:
    return (wanted or DEFAULT_SCHEMA) == (model or DEFAULT_SCHEMA)


def _names_table(name: TableName, schema: str | None, table: str, *, loose: bool) -> bool:
    """Does the manifest's name denote this model table? `loose`: any schema for unqualified names."""
    if name.name != table:
        return False
    return _same_schema(name.schema, schema) or (loose and name.schema is None)


def _tables_for(metadata: MetaData, name: TableName) -> list[Table]:
    tables = [t for t in metadata.sorted_tables if _names_table(name, t.schema, t.name, loose=False)]
    if not tables and name.schema is None:
        tables = [t for t in metadata.sorted_tables if t.name == name.name]
    return tables


def _fk_matches(entry: Entry, fk: ModelFK) -> bool:
    if not _names_table(entry.table, fk.table.schema, fk.table.name, loose=True):
        return False
    if not _names_table(entry.target, fk.ref.schema, fk.ref.name, loose=True):
        return False
    if entry.references is not None:
        return sorted(zip(fk.columns, fk.ref_columns, strict=True)) == sorted(
            zip(entry.columns, entry.references, strict=True)
        )
    return sorted(fk.columns) == sorted(entry.columns)


def _norm_action(value: str | None) -> str | None:
    """As alembic compares them: case-insensitive, NO ACTION the same as nothing."""
    if not value:
        return None
    norm = " ".join(value.upper().split())
    return None if norm == "NO ACTION" else norm


def _deferral(deferrable: bool | None, initially: str | None) -> str:
    """Alembic's three-state value for DEFERRABLE/INITIALLY."""
    if initially and initially.lower() == "deferred":
        return "DEFERRABLE INITIALLY DEFERRED"
    return "DEFERRABLE" if deferrable else "NOT DEFERRABLE"


@dataclass(frozen=True)
class DbOptions:
    """The FK options autogenerate compares, as the database will have them after the upgrade."""

    onupdate: str | None
    deferral: str


def _def_options(definition: str) -> DbOptions:
    """Read ON UPDATE and DEFERRABLE/INITIALLY from pg_get_constraintdef() text.

    Everything up to the referenced column list may hold quoted identifiers; after it come
    keywords only (and ON DELETE SET NULL's column list, skipped as a parenthesized group).
    """
    depth, groups, quoted, rest = 0, 0, False, []
    for ch in definition:
        if quoted:
            quoted = ch != '"'  # a doubled "" closes and reopens: still inside
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            groups += depth == 0
        elif groups >= 2 and depth == 0:
            rest.append(ch)
    text = " ".join("".join(rest).upper().split())
    match = re.search(r"\bON UPDATE (NO ACTION|RESTRICT|CASCADE|SET NULL|SET DEFAULT)\b", text)
    deferrable = re.search(r"(?<!NOT )\bDEFERRABLE\b", text) is not None
    initially = "DEFERRED" if "INITIALLY DEFERRED" in text else None
    return DbOptions(_norm_action(match.group(1)) if match else None, _deferral(deferrable, initially))


def _db_options(rows: Sequence[Row]) -> DbOptions | None:
    """None when the database cannot tell (table or columns missing, unreadable definition)."""
    for row in rows:
        if row.fk_oid and row.new_def:
            return _def_options(row.new_def)
    if any(row.status == "create" for row in rows):
        return DbOptions(None, "NOT DEFERRABLE")  # the revision creates it with no options
    return None
