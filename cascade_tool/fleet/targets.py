"""Fleet targets: which databases (and tenant schemas) a fleet command runs on.

Targets come from a TOML file (`[[targets]]` tables) or from a read-only query returning
`name, url[, schema]`. Both give the same frozen `Target` rows. A schema target's connection URL
carries `options=-c search_path=<schema>,public`, so with any env.py the unqualified names of a
revision, and Alembic's own `alembic_version`, resolve in that schema first.

Passwords never leave this module unmasked in a message: `Target.display_url` and `mask_url`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg

from cascade_tool import catalog
from cascade_tool.errors import DatabaseError, FleetError
from cascade_tool.tomlfile import parse_toml

_TARGET_KEYS = {"name", "url", "url_env", "schema", "tags"}
_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://")
# Query parameters that hold a secret (libpq's `password`, and the same spelled for SQLAlchemy).
_SECRET_PARAMS = {"password", "sslpassword"}
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Target:
    """One database, or one tenant schema of a database, a fleet command runs on."""

    name: str
    url: str  # as given: the password is still in it; never print it, print display_url
    schema: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def connect_url(self) -> str:
        """The URL to connect with: for a schema target, with the schema first on search_path."""
        if self.schema is None:
            return self.url
        return with_search_path(self.url, self.schema)

    @property
    def database(self) -> str:
        """host:port/dbname, without credentials: targets with the same one share a database."""
        parts = urlsplit(self.url)
        host = parts.netloc.rsplit("@", 1)[-1]
        return f"{host}{parts.path}"

    @property
    def display_url(self) -> str:
        return mask_url(self.url)

    def unreachable(self, message: str) -> str:
        """A connection error's message, with the URL as the user wrote it (the search_path
        option this module adds for a schema target left out) and the schema named."""
        if self.schema is None:
            return message
        shown = re.sub(r"[?&]options=[^\s:&]*", "", message, count=1)
        return shown.replace(": ", f" (schema {self.schema}): ", 1) if shown != message else shown

    def secrets(self) -> list[str]:
        """The literal secrets in the URL, to scrub from any text a target's run produces."""
        return url_secrets(self.url)


def mask_url(url: str) -> str:
    """The URL with its password (user:password@ or ?password=) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        if ":" in creds:
            creds = creds.split(":", 1)[0] + ":***"
        netloc = f"{creds}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k in _SECRET_PARAMS for k, _ in pairs):
            query = urlencode([(k, "***" if k in _SECRET_PARAMS else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """Passwords in a URL, both as written (percent-encoded) and decoded."""
    from urllib.parse import unquote

    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _SECRET_PARAMS and value:
            found.append(value)
    out: set[str] = set()
    for secret in found:
        out.update({secret, unquote(secret), quote(secret, safe="")})
    return sorted((s for s in out if s), key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every literal secret replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _guc_identifier(name: str) -> str:
    """A schema name as search_path reads it, escaped for libpq's `options` (which splits words
    on spaces and takes a backslash as an escape)."""
    quoted = '"' + name.replace('"', '""') + '"'
    return quoted.replace("\\", "\\\\").replace(" ", "\\ ")


def with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-c search_path=<schema>,public` added (any existing `options` kept
    before it, so ours wins). libpq and SQLAlchemy both pass `options` to the server."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    mine = f"-c search_path={_guc_identifier(schema)},public"
    existing = [v for k, v in pairs if k == "options"]
    options = " ".join([*existing, mine])
    pairs = [(k, v) for k, v in pairs if k != "options"] + [("options", options)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs, quote_via=quote), parts.fragment))


def log_name(name: str) -> str:
    """A file name for a target's log: its name with anything but letters, digits, . _ - as _."""
    cleaned = _UNSAFE_FILE_CHARS.sub("_", name).strip(".") or "target"
    return cleaned


def _check_url(url: Any, where: str) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return f"{where}: url must be a non-empty string"
    if not url.startswith(_SCHEMES):
        return f"{where}: url must start with postgresql:// or postgresql+psycopg://, got {mask_url(url)!r}"
    return None


def _target(raw: Any, where: str, env: dict[str, str], errors: list[str]) -> Target | None:
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a table ([[targets]])")
        return None
    unknown = sorted(set(raw) - _TARGET_KEYS)
    if unknown:
        errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_TARGET_KEYS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append(f"{where}: name must be a non-empty string")
        return None
    where = f"{where} ({name})"
    url: str | None = None
    if ("url" in raw) == ("url_env" in raw):
        errors.append(f"{where}: give exactly one of url or url_env")
    elif "url_env" in raw:
        variable = raw["url_env"]
        if not isinstance(variable, str) or not variable:
            errors.append(f"{where}: url_env must name an environment variable")
        elif not env.get(variable):
            errors.append(f"{where}: environment variable {variable} (url_env) is not set")
        else:
            url = env[variable]
    else:
        url = raw["url"]
    if url is not None:
        problem = _check_url(url, where)
        if problem:
            errors.append(problem)
            url = None
    schema = raw.get("schema")
    if schema is not None and (not isinstance(schema, str) or not schema):
        errors.append(f"{where}: schema must be a non-empty string")
        schema = None
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        errors.append(f"{where}: tags must be a list of non-empty strings")
        tags = []
    if url is None:
        return None
    return Target(name=name, url=url, schema=schema, tags=tuple(tags))


def _check_unique(targets: list[Target], source: str, errors: list[str]) -> None:
    names: set[str] = set()
    files: dict[str, str] = {}  # log file name (case-folded) -> the target that has it
    for target in targets:
        if target.name in names:
            errors.append(f"{source}: target name {target.name!r} is used twice")
            continue
        names.add(target.name)
        file = log_name(target.name).lower()
        if file in files:
            errors.append(f"{source}: targets {files[file]!r} and {target.name!r} would share a log file name")
        files[file] = target.name


def parse_targets(raw: bytes | str, source: str = "<targets>", env: dict[str, str] | None = None) -> list[Target]:
    """Targets from TOML text; every problem is reported at once (one FleetError, a line each)."""
    environ = dict(os.environ) if env is None else env
    data = raw.encode() if isinstance(raw, str) else raw
    doc = parse_toml(data, source, FleetError)
    errors: list[str] = []
    unknown = sorted(set(doc) - {"targets"})
    if unknown:
        errors.append(f"{source}: unknown top-level key(s) {', '.join(unknown)} (only [[targets]] is read)")
    items = doc.get("targets")
    if not isinstance(items, list) or not items:
        errors.append(f'{source}: no targets: add [[targets]] tables with name = "..." and url = "..."')
        items = []
    targets = [t for i, item in enumerate(items, 1) if (t := _target(item, f"{source}: target {i}", environ, errors))]
    _check_unique(targets, source, errors)
    if errors:
        raise FleetError(*errors)
    return targets


def load_targets(path: str | Path) -> list[Target]:
    """Read and validate a targets file (see parse_targets)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FleetError(f"cannot read targets file {path}: {exc.strerror}") from None
    return parse_targets(raw, str(path))


def query_targets(query: str, url: str) -> list[Target]:
    """Targets from a query returning `name, url[, schema]`, run in a READ ONLY transaction
    (rolled back) on `url`. Rows are kept in the query's order."""
    with catalog.connect(url) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute(query.encode())  # the user's own query, as given, no parameters
                columns = [d.name for d in cur.description or []]
                rows = cur.fetchall()
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(f"targets query failed on {mask_url(url)}: {first}") from None
        finally:
            conn.rollback()
    if columns[:2] != ["name", "url"] or len(columns) > 3 or (len(columns) == 3 and columns[2] != "schema"):
        raise FleetError(
            f"targets query must return the columns name, url[, schema]; it returned {', '.join(columns) or 'none'}"
        )
    errors: list[str] = []
    targets: list[Target] = []
    for i, row in enumerate(rows, 1):
        name, target_url = row[0], row[1]
        schema = row[2] if len(row) > 2 else None
        where = f"targets query row {i}"
        if not isinstance(name, str) or not name:
            errors.append(f"{where}: name must be non-empty text")
            continue
        problem = _check_url(target_url, f"{where} ({name})")
        if problem:
            errors.append(problem)
            continue
        if schema is not None and (not isinstance(schema, str) or not schema):
            errors.append(f"{where} ({name}): schema must be non-empty text or NULL")
            continue
        targets.append(Target(name=name, url=target_url, schema=schema))
    if not rows:
        errors.append("targets query returned no rows")
    _check_unique(targets, "targets query", errors)
    if errors:
        raise FleetError(*errors)
    return targets


def select(targets: list[Target], selector: str) -> list[Target]:
    """The targets named `selector` or tagged with it (for --canary)."""
    chosen = [t for t in targets if t.name == selector or selector in t.tags]
    if not chosen:
        raise FleetError(f"--canary {selector}: no target has that name or tag")
    return chosen
