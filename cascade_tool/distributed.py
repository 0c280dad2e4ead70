"""Distributed PostgreSQL: on a Citus coordinator, how each manifest entry will be swapped and
which entries Citus would reject.

Citus is detected by its extension (pg_extension). How it places each table comes from
pg_dist_partition and pg_dist_schema (sql/citus_tables.sql): hash-distributed on a column, a
reference table, a Citus local table (partmethod 'n', repmodel 's', colocation 0), a table of a
distributed (tenant) schema, or another single-shard distributed table. A table Citus does not
know is local to the coordinator. `judge` is pure: one step and the two placements in, the
verdict out. Every rule in it is checked against a real cluster by tests/test_citus_plan.py,
which runs the plan's own ALTER TABLE statements there and compares.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import psycopg

from cascade_tool import sqlfile
from cascade_tool.errors import DatabaseError
from cascade_tool.plan import Step

CITUS_TABLES_SQL = sqlfile.load("citus_tables")
CITUS_PLACEMENTS_SQL = sqlfile.load("citus_placements")
CITUS_SHARD_FKS_SQL = sqlfile.load("citus_shard_fks")
CITUS_SHARD_STATS_SQL = sqlfile.load("citus_shard_stats")
# pg_constraint.confdeltype
ACTION_CODES = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

# Placement kinds. "distributed" is hash-distributed on a column; "schema" a table of a
# distributed schema (schema-based sharding); "single-shard" a distributed table without a
# distribution column outside such a schema. All three are sharded: FKs between them need colocation.
LOCAL, CITUS_LOCAL, REFERENCE, DISTRIBUTED, SCHEMA, SINGLE_SHARD = (
    "local", "citus local", "reference", "distributed", "schema", "single-shard")
SHARDED = (DISTRIBUTED, SCHEMA, SINGLE_SHARD)
_NAMES = {
    LOCAL: "a local table (not in Citus' metadata)",
    CITUS_LOCAL: "a Citus local table",
    REFERENCE: "a reference table",
    DISTRIBUTED: "a distributed table",
    SCHEMA: "a table of a distributed schema",
    SINGLE_SHARD: "a single-shard distributed table",
}


@dataclass(frozen=True)
class Placement:
    """How Citus places a table: its kind, distribution column (hash only) and colocation group."""

    kind: str
    column: str | None = None
    colocation: int | None = None
    oid: int | None = None


LOCAL_PLACEMENT = Placement(LOCAL)


@dataclass(frozen=True)
class CitusEntry:
    """What Citus will make of one entry the upgrade converts or creates."""

    entry: int
    table: str
    columns: list[str]
    target: str
    constraint: str | None
    action: str  # convert | create
    table_kind: str
    target_kind: str
    swap: str  # rename | four-step | add
    sequential: bool  # the revision sets citus.multi_shard_modify_mode = 'sequential' for it
    rejected: str | None  # why Citus refuses the new FK; None when it accepts it
    note: str | None = None  # accepted, with something a person should know
    estimate: str | None = None  # rows and size summed over the table's shards

    @property
    def where(self) -> str:
        return f"{self.table}({', '.join(self.columns)})"

    @property
    def how(self) -> str:
        """How the revision changes it, in a sentence."""
        if self.swap == "add":
            text = "created with ADD CONSTRAINT"
        elif self.swap == "four-step":
            text = ("four-step swap without RENAME CONSTRAINT (Citus refuses renaming constraints of "
                    f"{_NAMES[self.table_kind]}): add under a temporary name, drop the old FK, add under "
                    "the old name, drop the temporary one")
        else:
            text = "swap with RENAME CONSTRAINT (a local table)"
        if self.sequential:
            text += ("; the revision sets citus.multi_shard_modify_mode = 'sequential' for it "
                     "(an FK to a reference table)")
        return text

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["how"] = self.how
        return data


@dataclass(frozen=True)
class CitusReport:
    """The Citus version (None: not a Citus coordinator) and its verdict per entry."""

    version: str | None
    entries: list[CitusEntry] = field(default_factory=list)

    @property
    def rejected(self) -> list[str]:
        return [f"{e.where}: {e.rejected}" for e in self.entries if e.rejected]

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "rejected": self.rejected, "entries": [e.to_json() for e in self.entries]}


def _rows(conn: psycopg.Connection[Any], query: str, params: dict[str, Any], doing: str) -> list[Any]:
    """The rows of one of the Citus queries; a failure is one line naming what was being done."""
    try:
        return conn.execute(query, params).fetchall()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(f"Citus: {doing}: {first}") from None


def citus_version(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'").fetchone()
    return None if row is None else str(row[0])


def _position(columns: list[str], column: str | None) -> int | None:
    return columns.index(column) if column in columns else None


def judge(step: Step, child: Placement, parent: Placement) -> tuple[str | None, str | None]:
    """(why Citus rejects the entry's new FK or None, a note or None), from the two placements.

    The rules and Citus' messages they stand for (Citus 13.2, checked by tests on a cluster):
    sharded -> local: "referenced table must be a distributed table or a reference table";
    sharded -> Citus local, or sharded -> sharded not colocated: "relations are not colocated or
    not referencing a reference table"; hash -> hash without the distribution column at the same
    position on both sides: "Foreign keys are supported in two cases ..."; SET NULL / SET DEFAULT
    on an FK of a hash-distributed table that includes its distribution column: "SET NULL or SET
    DEFAULT is not supported ..."; reference or Citus local -> sharded: "foreign keys from
    reference tables and local tables to distributed tables are not supported"; reference ->
    local or Citus local: "can only be defined with NO ACTION or RESTRICT behaviors".
    """
    c, p = child.kind, parent.kind
    sets = step.wanted in ("SET NULL", "SET DEFAULT")
    if c in SHARDED:
        if p == LOCAL:
            return (f"Citus needs the referenced table {step.target} to be distributed or a reference table "
                    "(it is a local table on the coordinator)"), None
        if p == CITUS_LOCAL:
            return f"Citus has no FK from {_NAMES[c]} to a Citus local table ({step.target})", None
        if p in SHARDED and child.colocation != parent.colocation:
            return f"Citus needs {step.table} and {step.target} colocated for this FK (they are not)", None
        if c == p == DISTRIBUTED:
            mine, theirs = _position(step.columns, child.column), _position(step.references, parent.column)
            if mine is None or mine != theirs:
                return (f"Citus needs an FK between distributed tables to hold the distribution column "
                        f"{child.column} at the same position as {step.target}'s {parent.column}"), None
        if c == DISTRIBUTED and sets and child.column in step.columns:
            return (f"Citus rejects ON DELETE {step.wanted} on an FK that includes the distribution column "
                    f"{child.column}; CASCADE, RESTRICT or NO ACTION are allowed"), None
        return None, None
    if c in (REFERENCE, CITUS_LOCAL) and p in SHARDED:
        return f"Citus has no FK from {_NAMES[c]} to {_NAMES[p]} ({step.target})", None
    if c == REFERENCE and p in (LOCAL, CITUS_LOCAL) and step.wanted not in ("NO ACTION", "RESTRICT"):
        return (f"Citus allows an FK from a reference table to {_NAMES[p]} ({step.target}) only with "
                f"ON DELETE NO ACTION or RESTRICT, not {step.wanted}"), None
    if c == LOCAL and p in SHARDED:
        return None, (f"Citus accepts this FK from a table it does not manage to {_NAMES[p]}; whether "
                      "it is enforced on every shard is not something cascade-tool checks: try it on staging")
    if c == LOCAL and p in (REFERENCE, CITUS_LOCAL):
        return None, f"Citus adds {step.table} to its metadata as a Citus local table when the FK is added"
    return None, None


def citus_entries(steps: list[Step], placements: dict[str, Placement]) -> list[CitusEntry]:
    """Citus' verdict on each entry the upgrade would convert or create (pure: `placements` maps
    schema.table to how Citus places it; tables not in it are local)."""
    out: list[CitusEntry] = []
    for step in steps:
        if step.action not in ("convert", "create"):
            continue
        child = placements.get(step.table, LOCAL_PLACEMENT)
        parent = placements.get(step.target, LOCAL_PLACEMENT)
        rejected, note = judge(step, child, parent)
        swap = "add" if step.action == "create" else "rename" if child.kind == LOCAL else "four-step"
        sequential = parent.kind == REFERENCE and child.kind in SHARDED
        out.append(CitusEntry(step.entry, step.table, list(step.columns), step.target, step.constraint,
                              step.action, child.kind, parent.kind, swap, sequential, rejected, note))
    return out


def four_step(statements: list[str]) -> list[str] | None:
    """The swap without RENAME CONSTRAINT: ADD under the temporary name NOT VALID, DROP the old
    FK, ADD under the old name NOT VALID, DROP the temporary one. None when `statements` is not
    the plain swap (add, drop, rename) this rewrites."""
    renames = [s for s in statements if " RENAME CONSTRAINT " in s]
    if len(renames) != 1 or len(statements) != 3 or statements[2] != renames[0]:
        return None
    add, drop, rename = statements
    head, _, tail = rename.partition(" RENAME CONSTRAINT ")
    tmp, _, name = tail.partition(" TO ")
    # both names as the lookup quoted them (quote_ident): the new ADD reuses the old name's text
    marker = f" ADD CONSTRAINT {tmp} "
    if not name or marker not in add or not add.startswith(head + " ") or not drop.startswith(head + " "):
        return None
    return [add, drop, add.replace(marker, f" ADD CONSTRAINT {name} ", 1), f"{head} DROP CONSTRAINT {tmp}"]


SEQUENTIAL = "SET LOCAL citus.multi_shard_modify_mode = 'sequential'"


def as_on_citus(steps: list[Step], report: CitusReport) -> list[Step]:
    """The steps with their swap statements as the revision runs them on this coordinator: the
    four-step swap where Citus refuses the rename, after SET LOCAL of the sequential mode where
    the revision sets it. Unchanged without Citus, and where the lookup's statements already
    take that form."""
    by_entry = {(e.entry, e.constraint): e for e in report.entries}
    out: list[Step] = []
    for step in steps:
        entry = by_entry.get((step.entry, step.constraint))
        swap = list(step.swap_statements)
        if entry is not None and entry.swap == "four-step" and step.constraint:
            swap = four_step(swap) or swap
        if entry is not None and entry.sequential and swap and not any("multi_shard_modify_mode" in s for s in swap):
            swap = [SEQUENTIAL, *swap]
        if swap == step.swap_statements:
            out.append(step)
            continue
        out.append(replace(step, swap_statements=swap,
                           statements=step.index_statements + swap + step.validate_statements))
    return out


def citus_problems(steps: list[Step], placements: dict[str, Placement]) -> list[str]:
    """One line per entry Citus would reject (pure)."""
    return [f"{e.where}: {e.rejected}" for e in citus_entries(steps, placements) if e.rejected]


def placements(conn: psycopg.Connection[Any]) -> dict[str, Placement]:
    out: dict[str, Placement] = {}
    query = CITUS_TABLES_SQL
    if conn.execute("SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_schema')").fetchone() == (None,):
        # before Citus 12: no schema-based sharding
        query = query.replace("pg_catalog.pg_dist_schema s", "(SELECT NULL::oid AS schemaid) s")
    for row in conn.execute(query).fetchall():
        oid, name, method, replication, colocation, column, in_schema = row
        if method == "h":
            kind = DISTRIBUTED
        elif method == "n" and replication == "t":
            kind = REFERENCE
        elif method == "n" and colocation == 0:
            kind = CITUS_LOCAL
        elif method == "n":
            kind = SCHEMA if in_schema else SINGLE_SHARD
        else:  # append or range distribution: sharded, without a usable column for our rules
            kind = SINGLE_SHARD
        out[str(name)] = Placement(kind, column if kind == DISTRIBUTED else None, colocation, int(oid))
    return out


def check(conn: psycopg.Connection[Any], steps: list[Step]) -> CitusReport:
    """The Citus version (None when the extension is absent) and its verdict per entry."""
    version = citus_version(conn)
    if version is None:
        return CitusReport(None)
    entries = citus_entries(steps, placements(conn))
    stats = shard_stats(conn, [e.table for e in entries])
    return CitusReport(version, [replace(e, estimate=stats[e.table].describe()) if e.table in stats else e
                                 for e in entries])


@dataclass(frozen=True)
class ShardDrift:
    """A shard placement whose copy of an FK disagrees with the manifest (or is missing)."""

    entry: int
    table: str
    columns: list[str]
    constraint: str
    shard: str  # schema.shard_table
    node: str  # host:port
    wanted: str
    actual: str | None  # None: the shard has no copy of the FK

    @property
    def detail(self) -> str:
        found = f"ON DELETE {self.actual}" if self.actual else "no copy of the FK"
        return (f"{self.table}({', '.join(self.columns)}) {self.constraint}: shard {self.shard} on node "
                f"{self.node} has {found}, the manifest wants ON DELETE {self.wanted}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["detail"] = self.detail
        return data


def shard_drift(conn: psycopg.Connection[Any], steps: list[Step]) -> list[ShardDrift]:
    """On a Citus coordinator: every shard placement (on the workers, and on the coordinator for
    reference and Citus local tables) whose copy of a matching FK does not carry the manifest's
    ON DELETE. Only entries whose coordinator FK already matches are checked (the others are drift
    already). Empty when Citus is absent. Reads each node's catalog with run_command_on_all_nodes."""
    if citus_version(conn) is None:
        return []
    placed = placements(conn)
    checked = [s for s in steps if s.constraint and s.status in ("ok", "not_valid")
               and placed.get(s.table, LOCAL_PLACEMENT).kind != LOCAL]
    if not checked:
        return []
    relids = sorted({placed[s.table].oid or 0 for s in checked})
    shards: dict[int, list[tuple[int, str, str, int, str]]] = {}
    for relid, shardid, schema, shard_relname, nodeid, host, port in _rows(
        conn, CITUS_PLACEMENTS_SQL, {"relids": relids}, "verify could not list the shard placements"
    ):
        shards.setdefault(int(relid), []).append((int(shardid), str(schema), str(shard_relname), int(nodeid),
                                                  f"{host}:{port}"))
    # (nodeid, schema, table) -> [(constraint, action, columns)]
    fks: dict[tuple[int, str, str], list[tuple[str, str, list[str]]]] = {}
    for nodeid, success, result in _rows(conn, CITUS_SHARD_FKS_SQL, {}, "verify could not read the nodes' FKs"):
        if not success:
            raise DatabaseError(f"verify could not read the catalog of Citus node {nodeid}: {result}")
        for schema, table, conname, code, columns in json.loads(result):
            fks.setdefault((int(nodeid), schema, table), []).append((conname, ACTION_CODES.get(code, code),
                                                                     list(columns or [])))
    out: list[ShardDrift] = []
    for step in checked:
        constraint = step.constraint or ""
        for shardid, schema, shard_relname, nodeid, node in shards.get(placed[step.table].oid or 0, []):
            copies = fks.get((nodeid, schema, shard_relname), [])
            named = [c for c in copies if c[0] == f"{constraint}_{shardid}"]
            # a long name gets a hash instead of the shard id appended: match the columns then
            same = named or [c for c in copies if c[2] == list(step.columns)]
            actual = same[0][1] if same else None
            if actual != step.wanted:
                out.append(ShardDrift(step.entry, step.table, list(step.columns), constraint,
                                      f"{schema}.{shard_relname}", node, step.wanted, actual))
    return out


@dataclass(frozen=True)
class ShardStats:
    """A Citus table's rows and size summed over its shards (one placement each), from the
    shards' catalog rows. `unknown` counts shards never analyzed (rows from the statistics
    collector then, size unknown)."""

    shards: int
    rows: int | None
    heap_bytes: int
    total_bytes: int
    unknown: int

    @property
    def cost(self) -> str:
        """The validation cost in preflight's words (sql/preflight.sql's pf_cost)."""
        if self.unknown:
            return "unknown"
        if self.heap_bytes == 0:
            return "none"
        if self.heap_bytes < 10 << 20:
            return "trivial"
        if self.heap_bytes < 1 << 30:
            return "small"
        return "medium" if self.heap_bytes < 10 << 30 else "large"

    def describe(self) -> str:
        rows = "rows unknown" if self.rows is None else f"about {self.rows} rows"
        if self.unknown and self.rows is not None:
            rows += f" (estimated from live tuples in {self.unknown} shard(s) never analyzed)"
        size = (f"{_pretty(self.total_bytes)} in total" if not self.unknown
                else "size unknown until its shards are analyzed (ANALYZE on the coordinator reaches every shard)")
        return f"{rows}, {size}, summed over {self.shards} shard(s)"


def _pretty(size: int) -> str:
    """pg_size_pretty's rounding (bytes, kB, MB, GB, TB)."""
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(value) < 10 * 1024:
            return f"{int(round(value))} {unit}"
        value /= 1024
    return f"{int(round(value))} TB"


def shard_stats(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, ShardStats]:
    """Rows and sizes of those of `tables` (schema.table) that Citus shards or replicates, summed
    over one placement per shard; empty without Citus."""
    if citus_version(conn) is None:
        return {}
    placed = placements(conn)
    wanted = {placed[name].oid: name for name in dict.fromkeys(tables)
              if name in placed and placed[name].oid is not None}
    if not wanted:
        return {}
    # shard id -> (table, schema, shard table, the nodes holding it)
    shards: dict[int, tuple[str, str, str, list[int]]] = {}
    for relid, shardid, schema, shard_relname, nodeid, _, _ in _rows(
        conn, CITUS_PLACEMENTS_SQL, {"relids": sorted(oid for oid in wanted if oid is not None)},
        "could not list the shard placements",
    ):
        shards.setdefault(int(shardid), (wanted[int(relid)], str(schema), str(shard_relname), []))[3].append(
            int(nodeid))
    names = sorted({(schema, relname) for _, schema, relname, _ in shards.values()})
    found: dict[tuple[int, str, str], list[Any]] = {}
    for nodeid, success, result in _rows(
        conn, CITUS_SHARD_STATS_SQL, {"schemas": [n[0] for n in names], "names": [n[1] for n in names]},
        "could not read the shards' sizes",
    ):
        if success:
            for schema, relname, *numbers in json.loads(result):
                found[(int(nodeid), schema, relname)] = numbers
    totals: dict[str, list[int]] = {}  # table -> [shards, rows, heap, total, unknown, rows unknown]
    for table, schema, relname, nodes in shards.values():
        acc = totals.setdefault(table, [0, 0, 0, 0, 0, 0])
        acc[0] += 1
        numbers = next((found[(n, schema, relname)] for n in sorted(nodes) if (n, schema, relname) in found), None)
        if numbers is None:
            acc[4] += 1
            acc[5] += 1
            continue
        reltuples, relpages, live, extra_pages, block = numbers
        if reltuples >= 0 and not (relpages == 0 and live > 0):
            acc[1] += int(reltuples)
        else:
            acc[4] += 1
            if live > 0:
                acc[1] += int(live)
            else:
                acc[5] += 1
        acc[2] += int(relpages) * int(block)
        acc[3] += (int(relpages) + int(extra_pages)) * int(block)
    return {table: ShardStats(a[0], None if a[5] else a[1], a[2], a[3], a[4]) for table, a in totals.items()}


def with_shard_costs(conn: psycopg.Connection[Any], findings: tuple[Any, ...]) -> tuple[Any, ...]:
    """preflight's `table` findings with rows, size and validation cost from the shards, for the
    tables Citus shards or replicates (the coordinator's shell tables hold no rows)."""
    tables = [str(f.detail.get("table")) for f in findings if f.kind == "table"]
    stats = shard_stats(conn, tables) if tables else {}
    if not stats:
        return findings
    out = []
    for finding in findings:
        found = stats.get(str(finding.detail.get("table"))) if finding.kind == "table" else None
        parts = finding.message.rsplit("; ", 2)
        if found is None or len(parts) != 3:
            out.append(finding)
            continue
        head = f"{finding.object}: {found.describe()}"
        explain = {"unknown": "its shards were never analyzed: run ANALYZE on the coordinator for estimates",
                   "none": "empty", "trivial": "under 10 MB to scan", "small": "under 1 GB to scan: seconds",
                   "medium": "under 10 GB to scan: minutes",
                   "large": "10 GB or more to scan: VALIDATE may take a long time"}[found.cost]
        detail = {**finding.detail, "rows_estimate": found.rows, "heap_bytes": found.heap_bytes,
                  "total_bytes": found.total_bytes, "cost": found.cost, "shards": found.shards,
                  "shards_unanalyzed": found.unknown, "unanalyzed": found.unknown}
        message = f"{head}; {parts[1]}; validation cost {found.cost} ({explain})"
        out.append(type(finding)(finding.severity, finding.kind, finding.object, message, detail))
    return tuple(out)
