"""The documentation: the MkDocs site builds with --strict, and nothing a user reads points at
things a user cannot see (internal seed or issue numbers, paths outside the package).

Build the site by hand with `mkdocs build --strict` (or `mkdocs serve`) from the repository root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# References that mean something only inside the project's own history: "seed 003", "issue 4",
# "#12" used as an issue number, and paths into the workspace that ships nothing.
INTERNAL_REFERENCE = re.compile(
    r"(?i)\bseeds?\s+\d"
    r"|\bissues?\s+#?\d"
    r"|(?<![&\w/#])#\d+\b"
    r"|\.\./shared\b"
    r"|\bshared/(?:corpus|reference)\b"
)

README_MAX_LINES = 210


def user_facing_files() -> list[Path]:
    """Everything a user reads: the README, the docs site, the shipped templates and package."""
    files = [REPO / "README.md", REPO / "mkdocs.yml"]
    files += sorted((REPO / "docs").rglob("*.md"))
    files += sorted(p for p in (REPO / "templates").rglob("*") if p.is_file() and p.suffix in (".j2", ".py"))
    package = REPO / "cascade_tool"
    for pattern in ("*.py", "*.sql", "*.toml"):
        files += sorted(package.rglob(pattern))
    return files


def internal_references(text: str) -> list[tuple[int, str]]:
    """(line number, the matched text) for each internal reference in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        found += [(number, match.group(0)) for match in INTERNAL_REFERENCE.finditer(line)]
    return found


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        cwd=config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize(
    "text",
    [
        "as seed 003 showed",
        "Seeds 002 and 003",
        "(issue 6): stop",
        "see issue #4",
        "fixed in #12",
        "from ../shared/corpus/gitlab",
        "see shared/reference/002_chat.txt",
    ],
)
def test_the_check_finds_internal_references(text: str) -> None:
    assert internal_references("first line\n" + text) != []
    assert internal_references("first line\n" + text)[0][0] == 2


@pytest.mark.parametrize(
    "text",
    [
        "the GitLab schema",
        "a random seed for the test data",
        "&#39;quoted&#39;",
        "color: #fff",
        "https://example.org/page#section-2",
        "`lint` reports issues such as unindexed FKs",
    ],
)
def test_the_check_leaves_ordinary_text_alone(text: str) -> None:
    assert internal_references(text) == []


def test_no_user_facing_text_refers_to_seeds_issues_or_shared_paths() -> None:
    hits = []
    for path in user_facing_files():
        for number, match in internal_references(path.read_text(encoding="utf-8")):
            hits.append(f"{path.relative_to(REPO)}:{number}: {match!r}")
    assert not hits, "say it in the user's terms instead:\n" + "\n".join(hits)


def test_readme_is_a_first_page() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move detail into docs/"


def test_readme_links_into_docs_exist() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#\s]+)", text)
    assert links, "the README links to the docs pages"
    missing = [link for link in links if not (REPO / link).is_file()]
    assert not missing, f"README.md links to missing pages: {missing}"


def test_docs_site_builds_strict(tmp_path: Path) -> None:
    result = mkdocs_build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    for page in sorted((tmp_path / "site").rglob("index.html")):
        prose = re.sub(r"(?s)<pre.*?</pre>|<code.*?</code>|<script.*?</script>", "", page.read_text(encoding="utf-8"))
        leaked = re.findall(r"(?m)^\s*(?:#{1,6} |\|---|```)", prose)
        assert not leaked, f"{page.relative_to(tmp_path)}: markdown left unrendered: {leaked}"
    reference = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    # the CLI reference is generated from the click commands: every command is on the page
    from cascade_tool.cli import cli

    for name in cli.commands:
        assert f'id="cascade-tool-{name}"' in reference, name


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    """--strict turns a warning into a failure, so the build test above can fail."""
    copy = tmp_path / "project"
    copy.mkdir()
    shutil.copy(REPO / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(REPO / "docs", copy / "docs")
    page = copy / "docs" / "index.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [nowhere](no-such-page.md).\n", encoding="utf-8")
    result = mkdocs_build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stdout + result.stderr
