"""lint: what would make deleting a target row fail, or cost more than it should.

The graph is every declared FK reachable from the target (cascade_tool.graph). With a manifest,
each FK an entry matches is judged with the entry's ON DELETE (the database as it will be after
the deploy); without one, with the catalog's (the database as it is). A table's rows are
"deleted with the target" when an all-CASCADE path leads there from the target.

Finding kinds (severity in brackets; the manifest's own choice of RESTRICT / NO ACTION turns the
blocking kinds into info):

- set_null_not_null [error]: ON DELETE SET NULL / SET DEFAULT writes NULL into a NOT NULL column,
  so deleting a referenced row fails;
- set_default_violates_fk [error]: the column default SET DEFAULT writes matches no parent row;
- blocking_fk [warning; info when the delete does not reach it yet]: RESTRICT / NO ACTION on a
  path from the target: which deletions it stops;
- undeletable_rows [warning]: how many target rows cannot be deleted because of one blocking FK
  (read-only counts along the shortest CASCADE path; an upper bound, see the docs' lint page);
- unindexed_fk [warning]: no index leads with the FK columns, so each delete scans the table;
  partial_index_fk [info]: only a `col IS NOT NULL` partial index does, which PostgreSQL uses;
- not_valid, not_enforced [warning];
- missing_table, missing_column, missing_target [error; info when optional], missing_fk [info],
  manifest_blocked [error]: manifest entries that do not match the database; stale_entry [info];
- cycle [info], multiple_paths [info; warning when a RESTRICT / NO ACTION check can run before
  the CASCADE that would remove the row], set_null_then_cascade [info].
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from cascade_tool import catalog
from cascade_tool.graph import (
    BLOCKING,
    DELETING,
    NULLING,
    ForeignKey,
    Graph,
    Target,
    count_rows,
    find_target,
    load_graph,
)
from cascade_tool.manifest import Manifest, TableName

SEVERITIES = ("error", "warning", "info")
_MISSING_SEVERITY = {"missing_table": "missing_table", "missing_columns": "missing_column",
                     "missing_target": "missing_target"}


@dataclass(frozen=True)
class Finding:
    severity: str  # error | warning | info
    kind: str
    object: str  # what it is about: an FK, a table, a manifest entry, a cycle
    message: str  # what is wrong and why it matters
    fix: str
    rows: int | None = None  # undeletable_rows: how many target rows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        return SEVERITIES.index(self.severity), self.kind, self.object, self.message


@dataclass(frozen=True)
class LintResult:
    target: Target
    findings: tuple[Finding, ...]
    edges: int
    tables: int
    manifest: str | None

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def fails(self, threshold: str) -> bool:
        """Any finding at or above `threshold` (error > warning > info)?"""
        limit = SEVERITIES.index(threshold)
        return any(SEVERITIES.index(f.severity) <= limit for f in self.findings)

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.findings]


def lint(
    conn: psycopg.Connection[Any],
    *,
    manifest: Manifest | None = None,
    target: TableName | None = None,
    count: bool = True,
) -> LintResult:
    """Lint the graph around `target`, or around a manifest's target as the manifest will leave it."""
    if (manifest is None) == (target is None):
        raise ValueError("lint needs a manifest or a target, not both")
    name = manifest.target if manifest is not None else target
    assert name is not None
    tgt = find_target(conn, name)
    graph = load_graph(conn, tgt)
    findings: list[Finding] = []
    actions: dict[int, str] = {}
    chosen: dict[int, str] = {}  # FK oid -> the manifest entry that sets its action
    if manifest is not None:
        rows = catalog.resolve(conn, manifest)
        findings += _manifest_findings(manifest, rows)
        for row in rows:
            entry = manifest.active[int(row.i)]
            if row.fk_oid:
                actions[int(row.fk_oid)] = str(row.wanted_action)
                chosen[int(row.fk_oid)] = f"{manifest.source} {entry.label}"
    findings += _run(_View(conn, graph, actions, chosen, count, manifest is not None))
    findings.sort(key=lambda f: f.sort_key)
    return LintResult(tgt, tuple(findings), len(graph.edges), len(graph.reachable()),
                      manifest.source if manifest else None)


def _manifest_findings(manifest: Manifest, rows: list[catalog.LookupRow]) -> list[Finding]:
    out = [
        Finding(
            "info", "stale_entry", f"{manifest.source} {entry.label}",
            f"{entry.describe()}: marked stale (its FK is gone); generate, plan and verify skip it",
            "remove the entry once reviewed, or remove stale = true to apply it again",
        )
        for entry in manifest.stale
    ]
    seen: set[int] = set()
    for row in rows:
        i = int(row.i)
        if i in seen:
            continue
        seen.add(i)
        entry = manifest.active[i]
        obj = f"{manifest.source} {entry.label}"
        status = str(row.status)
        if status in _MISSING_SEVERITY:
            optional = status == "missing_table" and entry.optional
            out.append(Finding(
                "info" if optional else "error", _MISSING_SEVERITY[status], obj,
                f"{entry.describe()}: {row.detail}"
                + ("; the entry is optional, so the upgrade skips it quietly" if optional else
                   "; the upgrade skips it with a WARNING and verify reports drift"),
                "nothing, if this deployment lacks it on purpose" if optional else
                "fix the name, mark the entry optional = true, or remove it",
            ))
        elif status == "create":
            out.append(Finding(
                "info", "missing_fk", obj,
                f"{entry.describe()}: no foreign key matches this entry, so the upgrade creates one "
                f"(ON DELETE {entry.on_delete}); it stops first if orphan rows would violate it",
                "run cascade-tool plan to count orphan rows; remove the entry if the FK was dropped on purpose",
            ))
        elif status in ("unparseable", "no_primary_key", "missing_references", "not_unique"):
            out.append(Finding(
                "error", "manifest_blocked", obj, f"{entry.describe()}: {row.detail}; the upgrade would stop",
                "name the referenced columns (references = [...]) or add the unique key they need",
            ))
    return out


class _View:
    """The FK graph as lint judges it: each FK's action (the manifest's, else the catalog's), the
    tables a delete of a target row reaches, and the wording the findings share."""

    def __init__(self, conn: psycopg.Connection[Any], graph: Graph, actions: dict[int, str],
                 chosen: dict[int, str], count: bool, with_manifest: bool) -> None:
        self.conn = conn
        self.graph = graph
        self.target = graph.target
        self.actions = actions
        self.chosen = chosen
        self.count = count
        self.deleted = graph.deleted_with_target(actions)
        self.paths = self._any_paths()
        self.with_manifest = with_manifest
        self.when = "once the manifest is deployed" if with_manifest else "today"

    def act(self, fk: ForeignKey) -> str:
        return self.actions.get(fk.oid, fk.on_delete)

    def origin(self, fk: ForeignKey) -> str:
        where = self.chosen.get(fk.oid)
        if where is None:
            return ""
        return f" (set by {where})" if self.act(fk) != fk.on_delete else f" (kept by {where})"

    def _any_paths(self) -> dict[int, tuple[ForeignKey, ...]]:
        """Shortest path of FKs (any action) from the target to each table."""
        children = self.graph.children_of()
        paths: dict[int, tuple[ForeignKey, ...]] = {self.target.oid: ()}
        queue = deque([self.target.oid])
        while queue:
            oid = queue.popleft()
            for fk in children.get(oid, []):
                if fk.child_oid not in paths:
                    paths[fk.child_oid] = (*paths[oid], fk)
                    queue.append(fk.child_oid)
        return paths

    def describe_path(self, path: tuple[ForeignKey, ...]) -> str:
        parts = [str(self.target)]
        for fk in path:
            parts.append(f"{fk.child} ({self.act(fk)})")
        return " -> ".join(parts)

    def ident(self, *names: str) -> str:
        return sql.Identifier(*names).as_string(self.conn)

    def columns(self, names: tuple[str, ...]) -> str:
        return ", ".join(self.ident(c) for c in names)

    def reach(self, fk: ForeignKey) -> tuple[str, str]:
        """How a delete gets to rows that reference fk.parent, and how to point back at them."""
        if fk.parent_oid == self.target.oid:
            return f"deleting a {self.target} row", "it"
        path = self.deleted.get(fk.parent_oid)
        if path is not None:
            return (f"deleting a {self.target} row, which deletes {fk.parent} rows "
                    f"({self.describe_path(path)}),", "one of them")
        return f"deleting a {fk.parent} row", "it"


# --- the checks, in the order they run --------------------------------------------------


def _run(view: _View) -> list[Finding]:
    """Every check: those of each FK, then the graph's shape, then (if asked) the row counts."""
    out: list[Finding] = []
    blockers: list[tuple[ForeignKey, Finding]] = []  # findings that stop a delete of a target row
    defaults: list[ForeignKey] = []  # SET DEFAULT FKs whose constant defaults are looked up
    for fk in view.graph.edges:
        out += _one_fk(view, fk, blockers, defaults)
    out += _default_checks(view, defaults, blockers)
    out += _cycles(view)
    out += _multiple_paths(view)
    out += _set_null_then_cascade(view)
    if view.count:
        out += _undeletable(view, blockers)
    return out


def _one_fk(view: _View, fk: ForeignKey, blockers: list[tuple[ForeignKey, Finding]],
            defaults: list[ForeignKey]) -> list[Finding]:
    """The findings of one FK; adds to `blockers` and `defaults` what later checks count."""
    out: list[Finding] = []
    action = view.act(fk)
    live = fk.parent_oid in view.deleted
    failing = fk.failing_set_columns(action)
    if failing:
        finding = _set_null_not_null(view, fk, action, failing)
        out.append(finding)
        if live:
            blockers.append((fk, finding))
    elif action == "SET DEFAULT" and _default_kind(fk) == "constant":
        defaults.append(fk)
    elif action == "SET DEFAULT" and _default_kind(fk) == "opaque":
        out.append(Finding(
            "info", "set_default_violates_fk", fk.label,
            f"ON DELETE SET DEFAULT{view.origin(fk)}: lint does not evaluate the defaults of "
            f"{', '.join(fk.written_columns)} (only constants are); if what they give matches no "
            f"{fk.parent} row, deletes fail",
            f"check that the default names an existing {fk.parent} row",
        ))
    if action in BLOCKING:
        finding = _blocking(view, fk, action, live)
        out.append(finding)
        if live:
            blockers.append((fk, finding))
    out += _index(view, fk)
    out += _validity(view, fk)
    return out


# --- one FK: its action, its defaults, its index, its validity ------------------------------


def _set_null_not_null(view: _View, fk: ForeignKey, action: str, failing: tuple[str, ...]) -> Finding:
    cols = ", ".join(failing)
    deleting, it = view.reach(fk)
    return Finding(
        "error", "set_null_not_null", fk.label,
        f"ON DELETE {action}{view.origin(fk)} writes NULL into NOT NULL column(s) {cols}: "
        f"{deleting} fails with a NOT NULL violation while a {fk.child} row references {it}",
        f"make it ON DELETE CASCADE if the {fk.child.name} rows belong to the {fk.parent.name} row, "
        f"else drop NOT NULL: ALTER TABLE {view.ident(fk.child.schema, fk.child.name)} "
        f"ALTER COLUMN {view.ident(failing[0])} DROP NOT NULL;",
    )


def _default_kind(fk: ForeignKey) -> str:
    """What SET DEFAULT writes: "null" (a NULL: a MATCH SIMPLE FK is then not checked),
    "constant" (checked against the parent table), or "opaque" (not evaluated)."""
    defaults = [fk.default_of(c) for c in fk.written_columns]
    if fk.match != "FULL" and any(d is None or d.expression is None for d in defaults):
        return "null"
    if fk.written_columns == fk.columns and all(d is not None and d.constant for d in defaults):
        return "constant"
    return "opaque"


def _default_checks(view: _View, fks: list[ForeignKey], blockers: list[tuple[ForeignKey, Finding]]) -> list[Finding]:
    queries: list[sql.Composable] = []
    for fk in fks:
        conds = sql.SQL(" AND ").join(
            sql.SQL("p.{} = ({})").format(sql.Identifier(ref), sql.SQL(str(d.expression)))
            for col, ref in zip(fk.columns, fk.references, strict=True)
            if (d := fk.default_of(col)) is not None
        )
        queries.append(sql.SQL("SELECT count(*) FROM {} AS p WHERE {}").format(
            sql.Identifier(fk.parent.schema, fk.parent.name), conds))
    out = []
    for fk, found in zip(fks, count_rows(view.conn, queries), strict=True):
        if found:
            continue
        values = ", ".join(f"{c} = {d.expression}" for c in fk.columns if (d := fk.default_of(c)))
        deleting, it = view.reach(fk)
        finding = Finding(
            "error", "set_default_violates_fk", fk.label,
            f"ON DELETE SET DEFAULT{view.origin(fk)} writes the defaults ({values}), and no "
            f"{fk.parent} row has them: {deleting} fails with a foreign key violation while a "
            f"{fk.child} row references {it}",
            f"create the {fk.parent.name} row the default points at, change the default, or use "
            "CASCADE / SET NULL",
        )
        out.append(finding)
        if fk.parent_oid in view.deleted:
            blockers.append((fk, finding))
    return out


def _blocking(view: _View, fk: ForeignKey, action: str, live: bool) -> Finding:
    intended = fk.oid in view.chosen
    if live:
        deleting, it = view.reach(fk)
        message = (f"ON DELETE {action}{view.origin(fk)}: {deleting} fails while a "
                   f"{fk.child} row references {it}")
        severity = "info" if intended else "warning"
    else:
        path = view.paths.get(fk.parent_oid, ())
        message = (f"ON DELETE {action}{view.origin(fk)}: a delete from {view.target} does not reach "
                   f"{fk.parent} rows {view.when} ({view.describe_path(path)}), but once it does, "
                   f"it fails while a {fk.child} row references them")
        severity = "info"
    if fk.self_reference:
        other = ("SET NULL (the rows stay, the link is cleared; CASCADE would delete the rows that "
                 "point at a deleted row, recursively)")
    else:
        other = (f"CASCADE (the {fk.child.name} rows belong to the {fk.parent.name} row) or SET NULL "
                 "(nullable references)")
    fix = (f"keep it if such deletes must be refused; otherwise {other}"
           + (" in the manifest" if view.with_manifest else ""))
    return Finding(severity, "blocking_fk", fk.label, message, fix)


def _index(view: _View, fk: ForeignKey) -> list[Finding]:
    if fk.indexed:
        return []
    table = view.ident(fk.child.schema, fk.child.name)
    create = f"CREATE INDEX CONCURRENTLY ON {table} ({view.columns(fk.columns)});"
    if fk.partial_index_serves:
        return [Finding(
            "info", "partial_index_fk", fk.label,
            f"only a partial index (WHERE {fk.partial_index}) leads with ({', '.join(fk.columns)}); "
            "PostgreSQL uses it for the FK's lookups, since col = $1 implies the predicate, so "
            "deletes do not scan the table (counts that ignore partial indexes list it as unindexed)",
            f"nothing to do; if that index is ever dropped: {create}",
        )]
    verb = {"CASCADE": "deletes the referencing rows", "SET NULL": "updates the referencing rows",
            "SET DEFAULT": "updates the referencing rows"}.get(view.act(fk), "looks for referencing rows")
    partial = (f" (a partial index WHERE {fk.partial_index} has the columns, but lookups outside "
               "its predicate cannot use it)" if fk.partial_index else "")
    return [Finding(
        "warning", "unindexed_fk", fk.label,
        f"no index leads with ({', '.join(fk.columns)}){partial}: every delete of a {fk.parent} row "
        f"{verb} by scanning all of {fk.child}",
        create,
    )]


def _validity(view: _View, fk: ForeignKey) -> list[Finding]:
    table = view.ident(fk.child.schema, fk.child.name)
    name = view.ident(fk.name)
    out = []
    if not fk.validated:
        out.append(Finding(
            "warning", "not_valid", fk.label,
            "the FK is NOT VALID: rows written before it was added were never checked (some may "
            "reference no row), and verify warns until it is validated (cascade-tool validate)",
            f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};",
        ))
    if not fk.enforced:
        out.append(Finding(
            "warning", "not_enforced", fk.label,
            "the FK is NOT ENFORCED: deletes neither cascade through it nor check it",
            f"ALTER TABLE {table} ALTER CONSTRAINT {name} ENFORCED;",
        ))
    return out


# --- the graph's shape: loops, tables reached several ways, SET NULL before CASCADE ---------


def _cycles(view: _View) -> list[Finding]:
    out = []
    for component in _strongly_connected(view.graph):
        edges = [fk for fk in view.graph.edges
                 if fk.child_oid in component and fk.parent_oid in component and not fk.self_reference]
        relations = sorted({str(fk.child) for fk in edges})
        links = "; ".join(f"{fk.label} {view.act(fk)}" for fk in edges)
        out.append(Finding(
            "info", "cycle", "cycle: " + ", ".join(relations),
            f"these tables reference each other in a loop ({links}): a delete that enters the "
            "loop can come back around it, to rows the path from the target does not suggest; "
            "and rows must be written in an order the loop allows",
            "check that each link's action is meant; one SET NULL link stops a delete going round",
        ))
    return out


def _multiple_paths(view: _View) -> list[Finding]:
    """Tables a delete reaches through several FKs, at least one CASCADE, with other actions.

    PostgreSQL runs the FK triggers of one statement from a queue, first in, first out: the
    triggers of rows deleted by a shorter CASCADE path run first. A row that a CASCADE
    removes before a RESTRICT / NO ACTION check looks for it does not block; a row the check
    finds first does, and at equal depth the order is the triggers' creation order.
    """
    incoming: dict[int, list[ForeignKey]] = {}
    for fk in view.graph.edges:
        if fk.parent_oid in view.deleted and not fk.self_reference and fk.child_oid != view.target.oid:
            incoming.setdefault(fk.child_oid, []).append(fk)
    out = []
    for fks in incoming.values():
        acts = {view.act(fk) for fk in fks}
        if len(acts) < 2 or DELETING not in acts:
            continue
        depth = {fk.oid: len(view.deleted[fk.parent_oid]) for fk in fks}
        first_cascade = min(depth[fk.oid] for fk in fks if view.act(fk) == DELETING)
        early = [fk for fk in fks if view.act(fk) in BLOCKING and depth[fk.oid] <= first_cascade]
        child = fks[0].child
        listed = "; ".join(f"{fk.label} {view.act(fk)}" for fk in fks)
        message = (f"a delete from {view.target} reaches {child} rows through {len(fks)} FKs with "
                   f"different actions ({listed})")
        if early:
            names = ", ".join(fk.name for fk in early)
            message += (f": {names} checks for such rows no later than the first CASCADE removes "
                        "them (PostgreSQL runs FK triggers in path order, and in creation order at "
                        "equal depth), so a row reached both ways can make the delete fail")
            fix = ("make the blocking FK CASCADE or SET NULL as well if such rows should go; keep it "
                   "only if those deletes must be refused")
        else:
            message += (": a row a CASCADE reaches is deleted, whatever the others say (and before "
                        "any RESTRICT / NO ACTION check further down looks for it)")
            fix = "nothing, if that is meant; make the actions agree if those rows should stay"
        out.append(Finding("warning" if early else "info", "multiple_paths", str(child), message, fix))
    return out


def _set_null_then_cascade(view: _View) -> list[Finding]:
    children = view.graph.children_of()
    nulled: dict[int, list[ForeignKey]] = {}
    for fk in view.graph.edges:
        if (fk.parent_oid in view.deleted and fk.child_oid not in view.deleted
                and view.act(fk) in NULLING and not fk.failing_set_columns(view.act(fk))):
            nulled.setdefault(fk.child_oid, []).append(fk)
    out = []
    for oid, fks in nulled.items():
        below = [c for c in children.get(oid, []) if view.act(c) == DELETING and c.child_oid != oid]
        if not below:
            continue
        child = fks[0].child
        names = ", ".join(sorted({str(c.child) for c in below})[:5])
        more = len({c.child_oid for c in below})
        out.append(Finding(
            "info", "set_null_then_cascade", str(child),
            f"a delete from {view.target} sets {', '.join(str(fk) for fk in fks)} to NULL: the "
            f"{child} rows stay, so the {len(below)} CASCADE FK(s) that reference {child} "
            f"({names}{', ...' if more > 5 else ''}) do not fire for it",
            f"nothing, if keeping those rows is meant; CASCADE instead of SET NULL if they should "
            f"go with the {view.target.relation.name} row",
        ))
    return out


# --- counts: target rows a blocking FK holds on to (read-only) ------------------------------


def _undeletable(view: _View, blockers: list[tuple[ForeignKey, Finding]]) -> list[Finding]:
    queries = [_blocked_query(view, fk) for fk, _ in blockers]
    out = []
    for (fk, finding), n in zip(blockers, count_rows(view.conn, queries), strict=True):
        if not n:
            continue
        path = view.deleted[fk.parent_oid]
        through = f" through {view.describe_path(path)}" if path else ""
        out.append(Finding(
            "info" if finding.severity == "info" else "warning", "undeletable_rows", fk.label,
            f"up to {n} {view.target} row(s) cannot be deleted "
            f"{view.when}: each has {fk.child} rows{through} that {fk.name} "
            f"({view.act(fk)}) holds on to (fewer if the same delete removes some of those rows "
            "first, through a shorter CASCADE path)",
            f"see the {finding.kind} finding for this FK; or delete or re-point those "
            f"{fk.child.name} rows first",
            rows=n,
        ))
    return out


def _blocked_query(view: _View, fk: ForeignKey) -> sql.Composable:
    """Distinct target keys that have rows blocked by fk (along the shortest CASCADE path)."""
    edges = [*view.deleted[fk.parent_oid], fk]
    alias = [sql.Identifier(f"t{j}") for j in range(len(edges))]
    source: sql.Composable = sql.SQL("{} AS {}").format(
        sql.Identifier(edges[0].child.schema, edges[0].child.name), alias[0])
    for j, e in enumerate(edges[1:], start=1):
        on = sql.SQL(" AND ").join(
            sql.SQL("{}.{} = {}.{}").format(alias[j], sql.Identifier(c), alias[j - 1], sql.Identifier(r))
            for c, r in zip(e.columns, e.references, strict=True))
        source = sql.SQL("{} JOIN {} AS {} ON {}").format(
            source, sql.Identifier(e.child.schema, e.child.name), alias[j], on)
    key = [sql.SQL("{}.{}").format(alias[0], sql.Identifier(c)) for c in edges[0].columns]
    return sql.SQL("SELECT count(*) FROM (SELECT DISTINCT {} FROM {} WHERE {}) AS blocked").format(
        sql.SQL(", ").join(key), source,
        sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(k) for k in key))


# --- graph algorithms ----------------------------------------------------------------------


def _strongly_connected(graph: Graph) -> list[set[int]]:
    """Tarjan's algorithm over the FK graph; components of two or more tables, sorted."""
    succ: dict[int, list[int]] = {}
    for fk in graph.edges:
        if not fk.self_reference:
            succ.setdefault(fk.parent_oid, []).append(fk.child_oid)
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    found: list[set[int]] = []
    counter = 0
    nodes = sorted(set(succ) | {c for cs in succ.values() for c in cs})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ.get(root, [])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(succ.get(nxt, []))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    names = graph.relations()
    return sorted(found, key=lambda c: sorted(str(names[o]) for o in c))
