"""Where generated revisions go: an Alembic versions directory, chained onto its head.

Alembic's own ScriptDirectory reads the existing revisions, so a generated file drops into any
Alembic project; the file itself is written by our template alone (one owner for its text).
"""

from __future__ import annotations

import ast
import datetime as dt
import difflib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from cascade_tool import __version__
from cascade_tool.errors import RevisionError
from cascade_tool.manifest import Manifest
from cascade_tool.render import MARKER, RevisionInfo, machinery_sha256, pyrepr, render_revision

_REV_ID = re.compile(r"^[A-Za-z0-9_]{1,32}$")


def versions_dir_from(versions_dir: str | Path | None, alembic_ini: str | Path | None) -> Path:
    """The versions directory named by --versions-dir, by --alembic-ini, or ./alembic.ini."""
    if versions_dir and alembic_ini:
        raise RevisionError("give either --versions-dir or --alembic-ini, not both")
    if versions_dir:
        path = Path(versions_dir)
        if not path.is_dir():
            raise RevisionError(f"versions directory {path} does not exist")
        return path
    ini = Path(alembic_ini) if alembic_ini else Path("alembic.ini")
    if not ini.is_file():
        if alembic_ini:
            raise RevisionError(f"alembic config {ini} does not exist")
        fallback = Path("migrations") / "versions"
        if fallback.is_dir():
            return fallback
        raise RevisionError(
            "no alembic.ini or migrations/versions here: pass --alembic-ini or --versions-dir"
        )
    try:
        script = ScriptDirectory.from_config(Config(str(ini)))
        return Path(script.versions)
    except CommandError as exc:
        raise RevisionError(f"{ini}: {exc}") from None


def _script_directory(versions: Path) -> ScriptDirectory:
    return ScriptDirectory(str(versions), version_locations=[str(versions)])


def current_head(versions: Path) -> str | None:
    """The single head of the versions directory (None when it is empty)."""
    try:
        heads = _script_directory(versions).get_heads()
    except CommandError as exc:
        raise RevisionError(f"{versions}: {exc}") from None
    if len(heads) > 1:
        raise RevisionError(
            f"{versions} has {len(heads)} heads ({', '.join(sorted(heads))}): "
            "merge them first (alembic merge heads)"
        )
    return heads[0] if heads else None


@dataclass(frozen=True)
class Generated:
    path: Path
    info: RevisionInfo


def newest_generated(versions: Path) -> Generated | None:
    """The generated revision nearest to the head, with the parameters it was rendered with."""
    try:
        scripts = list(_script_directory(versions).walk_revisions())
    except CommandError as exc:
        raise RevisionError(f"{versions}: {exc}") from None
    for script in scripts:
        path = Path(script.path)
        text = path.read_text("utf-8")
        if MARKER not in text:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        message = doc.splitlines()[0] if doc else ""
        date = re.search(r"^Create Date: (.*)$", doc, re.M)
        down = script.down_revision
        if isinstance(down, (tuple, list)):
            raise RevisionError(f"{path}: generated revision with several parents")
        return Generated(
            path,
            RevisionInfo(script.revision, down, date.group(1) if date else "", message),
        )
    return None


def _slug(message: str) -> str:
    words = re.sub(r"[^a-z0-9]+", " ", message.lower()).split()
    slug = ""
    for word in words:
        if slug and len(slug) + 1 + len(word) > 40:
            break
        slug = f"{slug}_{word}" if slug else word[:40]
    return slug or "cascade"


def generate(
    manifest: Manifest,
    versions: Path,
    message: str,
    rev_id: str | None = None,
    create_date: dt.datetime | None = None,
) -> Path:
    """Write a new revision for `manifest` on top of the directory's head; return its path."""
    rev = rev_id or uuid.uuid4().hex[-12:]
    if not _REV_ID.match(rev):
        raise RevisionError(f"revision id {rev!r} must be letters, digits or _ (at most 32)")
    head = current_head(versions)
    if head == rev or (versions / f"{rev}_{_slug(message)}.py").exists():
        raise RevisionError(f"revision {rev} already exists in {versions}")
    when = (create_date or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%d %H:%M:%S%z")
    info = RevisionInfo(rev, head, when, message)
    text = render_revision(manifest, info)
    path = versions / f"{rev}_{_slug(message)}.py"
    path.write_text(text, "utf-8")
    return path


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    path: Path | None
    diff: str
    machinery_warning: str | None = None  # the revision's machinery is not what this cascade-tool writes


def _manifest_part(text: str, path: Path) -> list[str]:
    """TARGET, OPTIONS and ENTRIES of a revision file, one literal per line (what the manifest
    decides). OPTIONS is absent from revisions written before [options] existed."""
    values: dict[str, object] = {}
    for node in ast.parse(text).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id in ("TARGET", "OPTIONS", "ENTRIES") and value is not None:
            values[target.id] = ast.literal_eval(value)
    if not {"TARGET", "ENTRIES"} <= set(values):
        raise RevisionError(f"{path}: no TARGET/ENTRIES: not a revision cascade-tool can check")
    entries = values["ENTRIES"]
    assert isinstance(entries, list)
    head = [f"TARGET = {pyrepr(values['TARGET'])}\n", f"OPTIONS = {pyrepr(values.get('OPTIONS'))}\n"]
    return head + [pyrepr(e) + "\n" for e in entries]


def _version_key(version: str) -> tuple[int, ...]:
    """0.10.2 -> (0, 10, 2); anything after the leading numbers (".dev1", "rc1") is ignored."""
    found = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(n) for n in found.group(0).split(".")) if found else ()


def _recorded_machinery(text: str, path: Path) -> dict[str, str] | None:
    """The revision's MACHINERY literal (None: written before revisions recorded it)."""
    for node in ast.parse(text).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "MACHINERY" and value is not None:
            try:
                recorded = ast.literal_eval(value)
            except ValueError:
                raise RevisionError(f"{path}: MACHINERY is not a literal") from None
            if not isinstance(recorded, dict) or not {"version", "sha256"} <= set(recorded):
                raise RevisionError(f"{path}: MACHINERY must give a version and a sha256")
            return {"version": str(recorded["version"]), "sha256": str(recorded["sha256"])}
    return None


def machinery_warning(text: str, path: Path, expected: str | None) -> str | None:
    """Why the revision's machinery (the code below its marker line) is not what the installed
    cascade-tool writes, or None. `expected`: the same revision rendered now (None when the
    manifest no longer matches, so only the recorded version and the hash can be compared)."""
    recorded = _recorded_machinery(text, path)
    advice = ("it keeps working as it is; if it has not been deployed yet, delete it and run "
              "cascade-tool generate again for the newer one")
    if recorded is None:
        return (f"{path}: its machinery is from a cascade-tool older than {__version__} "
                f"(it records no machinery version); {advice}")
    actual = machinery_sha256(text)
    if actual != recorded["sha256"]:
        return (f"{path}: the machinery below its marker line was edited: its sha256 is not the "
                "one MACHINERY records; regenerate it rather than edit it")
    mine, theirs = _version_key(__version__), _version_key(recorded["version"])
    if theirs < mine:
        return f"{path}: its machinery is from cascade-tool {recorded['version']}, older than {__version__}; {advice}"
    if theirs > mine:
        return (f"{path}: its machinery is from cascade-tool {recorded['version']}, newer than the "
                f"installed {__version__}; upgrade cascade-tool")
    if expected is not None and machinery_sha256(expected) != actual:
        return (f"{path}: its machinery differs from what the installed cascade-tool {__version__} "
                f"writes (another build of {recorded['version']}); {advice}")
    return None


def check(manifest: Manifest, versions: Path) -> CheckResult:
    """Does the newest generated revision still convert what the manifest lists?

    Compares the manifest-derived part of the file (TARGET and ENTRIES), so a newer cascade-tool
    rendering its SQL differently does not make an existing revision out of date; that is
    reported apart, as `machinery_warning` (from MACHINERY, the version and sha256 it records).
    """
    found = newest_generated(versions)
    if found is None:
        return CheckResult(False, None, "no generated revision in " + str(versions))
    text = found.path.read_text("utf-8")
    rendered = render_revision(manifest, found.info)
    expected = _manifest_part(rendered, found.path)
    actual = _manifest_part(text, found.path)
    if expected == actual:
        return CheckResult(True, found.path, "", machinery_warning(text, found.path, rendered))
    diff = "".join(
        difflib.unified_diff(
            actual, expected, str(found.path), "rendered from " + manifest.source, n=1
        )
    )
    return CheckResult(False, found.path, diff, machinery_warning(text, found.path, None))
