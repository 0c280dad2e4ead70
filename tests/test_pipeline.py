"""The pipeline around the deploy: the pre-commit hook the repository ships, and the CI workflow
docs/ci.md gives users to copy.

The hook is checked by pre-commit itself: its manifest loader, then `pre-commit try-repo` on a
throwaway copy of this checkout, which installs the package into an environment of its own
(language: python) and runs the hook in a sample project, passing and then failing. The
workflow's `run:` commands are taken from the page's YAML block and run, in order, in a sample
project against a throwaway database, so the page cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.helpers import REPO

HOOK_ID = "cascade-tool-generate-check"

APP_SCHEMA = '''"""the application's schema, as its own Alembic history would build it"""

from alembic import op

revision = "0001app"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE users (id bigint PRIMARY KEY);
        CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id));
        CREATE INDEX posts_user_id_idx ON posts (user_id);
        CREATE TABLE comments (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id),
                               post_id bigint REFERENCES posts (id));
        INSERT INTO users SELECT g FROM generate_series(1, 20) AS g;
        INSERT INTO posts (user_id) SELECT 1 + g % 20 FROM generate_series(1, 200) AS g;
        INSERT INTO comments (user_id, post_id) SELECT 1 + g % 20, 1 + g % 200 FROM generate_series(1, 400) AS g;
    """)


def downgrade() -> None:
    op.execute("DROP TABLE comments, posts, users")
'''

MANIFEST = """[target]
table = "users"

[defaults]
columns = ["user_id"]

[[tables]]
name = "posts"

[[tables]]
name = "comments"
on_delete = "SET NULL"
"""


def _bin_dir(tmp_path: Path) -> Path:
    """`cascade-tool` and `alembic` as a user's PATH has them, running this checkout's code."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, module in (("cascade-tool", "cascade_tool"), ("alembic", "alembic")):
        script = bindir / name
        script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m {module} "$@"\n')
        script.chmod(0o755)
    return bindir


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    env["PATH"] = f"{_bin_dir(tmp_path)}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def sample_project(root: Path, env: dict[str, str]) -> Path:
    """An application repository: alembic.ini, env.py, its own history, a manifest and the
    revision `cascade-tool generate` wrote from it."""
    project = root / "app"
    (project / "migrations" / "versions").mkdir(parents=True)
    shutil.copy(REPO / "alembic.ini", project / "alembic.ini")
    for name in ("env.py", "script.py.mako"):
        shutil.copy(REPO / "migrations" / name, project / "migrations" / name)
    (project / "migrations" / "versions" / "0001app_schema.py").write_text(APP_SCHEMA)
    (project / "manifest.toml").write_text(MANIFEST)
    gen = subprocess.run(["cascade-tool", "generate", "--rev-id", "0002cascade"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert gen.returncode == 0, gen.stderr
    return project


def test_hook_manifest_passes_pre_commits_own_validation() -> None:
    """pre-commit's loader accepts the file; the hook runs generate --check --strict, offline,
    installed from the repository itself, without file names appended."""
    from pre_commit.clientlib import load_manifest

    hooks = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert [h["id"] for h in hooks] == [HOOK_ID]
    hook = hooks[0]
    assert hook["entry"] == "cascade-tool generate --check --strict"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    assert re.search(hook["files"], "manifest.toml") and re.search(hook["files"], "migrations/versions/x.py")
    assert not re.search(hook["files"], "README.md")


def _copy_of_checkout(dest: Path) -> str:
    """This checkout as it is (tracked and new files, uncommitted changes included), committed in
    a fresh repository at `dest`; returns its commit."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: pre-commit installs hooks from a git repository")
    dest.mkdir()
    for name in sorted(set(filter(None, listed.stdout.split("\0")))):
        if name.startswith(("tests/", "benchmarks/", "docs/")) or not (REPO / name).is_file():
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout under test"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=dest, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_pre_commit_try_repo_installs_the_hook_and_it_passes_then_fails(tmp_path: Path) -> None:
    """`pre-commit try-repo` against a copy of this checkout, from a sample project: pre-commit
    builds its own environment (language: python: pip installs the copy, with no package index
    reached: the dependencies come from this environment), the hook passes while the revision
    matches the manifest, and fails (exit 1, the diff and what to run) once the manifest changes."""
    pytest.importorskip("pre_commit")
    if sys.prefix != sys.base_prefix:
        pytest.skip("run from a virtualenv: the hook's environment would not see this one's packages "
                    "offline (it is built on the base interpreter)")
    env = _env(tmp_path)
    project = sample_project(tmp_path, env)
    rev = _copy_of_checkout(tmp_path / "cascade-tool")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    hook_env = dict(
        os.environ,
        PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"),
        VIRTUALENV_SYSTEM_SITE_PACKAGES="1",  # the dependencies: from this environment
        PIP_NO_INDEX="1",  # so that nothing is downloaded
        PIP_NO_BUILD_ISOLATION="0",  # build with this environment's setuptools
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    hook_env.pop("PYTHONPATH", None)  # the hook must run the copy pre-commit installed
    cmd = [sys.executable, "-m", "pre_commit", "try-repo", str(tmp_path / "cascade-tool"), HOOK_ID,
           "--ref", rev, "--all-files"]
    ok = subprocess.run(cmd, cwd=project, env=hook_env, capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"^cascade-tool generate --check\.+Passed$", ok.stdout, re.M), ok.stdout

    (project / "manifest.toml").write_text(MANIFEST.replace('on_delete = "SET NULL"', 'on_delete = "CASCADE"'))
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    stale = subprocess.run(cmd, cwd=project, env=hook_env, capture_output=True, text=True, timeout=600)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert re.search(r"^cascade-tool generate --check\.+Failed$", stale.stdout, re.M), stale.stdout
    assert "- exit code: 1" in stale.stdout
    assert "does not match manifest.toml; run cascade-tool generate for a new revision" in stale.stdout


def workflow() -> dict[str, Any]:
    """The GitHub Actions workflow on docs/ci.md (its one YAML block with `jobs:`)."""
    text = (REPO / "docs" / "ci.md").read_text()
    blocks = [b for b in re.findall(r"^```yaml\n(.*?)^```$", text, re.M | re.S) if "\njobs:" in b]
    assert len(blocks) == 1, "docs/ci.md: expected one workflow block"
    data = yaml.safe_load(blocks[0])
    assert isinstance(data, dict)
    return data


def test_ci_page_workflow_steps_run_against_a_throwaway_database(
    empty_db: str, server: Any, tmp_path: Path
) -> None:
    """Every `run:` step of the page's workflow (except installing packages), in order, in a
    sample project whose DATABASE_URL is a throwaway database: each exits 0, and the database
    ends as the manifest says (converted, at head)."""
    job = workflow()["jobs"]["cascade"]
    image = job["services"]["postgres"]["image"]
    assert re.fullmatch(r"postgres:(1[5-8])", image), image  # a supported server version
    assert "DATABASE_URL" in job["env"]
    commands = [step["run"].strip() for step in job["steps"] if "run" in step]
    installs = [c for c in commands if c.startswith("python -m pip install")]
    runs = [c for c in commands if c not in installs]
    assert len(installs) == 1
    # what the page promises to run, in this order
    assert [c.split()[0:2] for c in runs] == [
        ["cascade-tool", "generate"], ["alembic", "upgrade"], ["cascade-tool", "plan"],
        ["cascade-tool", "preflight"], ["alembic", "upgrade"], ["cascade-tool", "verify"],
    ]
    env = _env(tmp_path, DATABASE_URL=empty_db)
    project = sample_project(tmp_path, env)
    outputs = []
    for command in runs:
        result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=project, env=env,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}: exit {result.returncode}\n{result.stdout}{result.stderr}"
        outputs.append(result.stdout + result.stderr)
    assert "up to date" in outputs[0]
    assert re.search(r"posts.*NO ACTION.*CASCADE", outputs[2], re.S), outputs[2]
    with psycopg.connect(empty_db) as conn:
        actions = dict(conn.execute(
            "SELECT conrelid::regclass::text || '.' || conname, confdeltype::text FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid = 'users'::regclass").fetchall())
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert actions == {"posts.posts_user_id_fkey": "c", "comments.comments_user_id_fkey": "n"}
    assert version == ("0002cascade",)

    # The steps fail as the page says: a manifest changed since the revision, exit 1.
    (project / "manifest.toml").write_text(MANIFEST.replace('on_delete = "SET NULL"', 'on_delete = "CASCADE"'))
    stale = subprocess.run(["bash", "-c", runs[0]], cwd=project, env=env, capture_output=True, text=True)
    assert stale.returncode == 1, stale.stdout + stale.stderr
