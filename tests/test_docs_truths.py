"""One truth per rule: where --help, the README and the docs describe the same rule, they agree.

Each test names the rule and the places that state it; the rule's own page is linked from the
others. Examples with output are run by tests/test_doc_examples.py.
"""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from cascade_tool import __version__
from cascade_tool.cli import cli

REPO = Path(__file__).resolve().parent.parent


def flat(text: str) -> str:
    return " ".join(text.split())


def page(name: str) -> str:
    return flat((REPO / name).read_text(encoding="utf-8"))


def help_text(*command: str) -> str:
    return flat(CliRunner().invoke(cli, [*command, "--help"]).output)


def test_the_machinery_warning_is_described_one_way() -> None:
    """older, newer or edited, everywhere; the cases and what they ask live on upgrading.md."""
    for where, text in [("README.md", page("README.md")), ("docs/cli.md", page("docs/cli.md")),
                        ("docs/deploying.md", page("docs/deploying.md")),
                        ("generate --help", help_text("generate"))]:
        assert "older, newer or edited" in text, where
        assert "older machinery" not in text and "machinery is older than the installed" not in text, where
    upgrading = page("docs/upgrading.md")
    for case in ("older than", "another build of", "newer than the installed", "was edited"):
        assert case in upgrading, case


def test_smoke_test_says_what_its_rollback_does_not_undo() -> None:
    for where, text in [("smoke-test --help", help_text("smoke-test")), ("docs/impact.md", page("docs/impact.md")),
                        ("README.md", page("README.md"))]:
        assert "sequences" in text and ("ROW EXCLUSIVE" in text or "locks every manifest table" in text), where
        assert "always rolls back" not in text and "always rolled back" not in text, where


def test_the_demo_needs_the_demo_extra_everywhere_it_is_introduced() -> None:
    assert "cascade-tool[demo]" in help_text("demo")
    for name in ("README.md", "docs/index.md"):
        text = page(name)
        assert "needs nothing installed by hand" not in text, name
        heading = "## Quick start" if name.endswith("index.md") else "## Try it"
        quick = text[text.index(heading) :]
        assert "cascade-tool[demo]" in quick[:1200], name


def test_supported_versions_are_the_ones_ci_tests() -> None:
    for name in ("README.md", "docs/index.md"):
        text = page(name)
        assert "13 and later" not in text, name
        assert "15, 16, 17 and 18" in text and "Citus 13.2" in text, name


def test_no_page_claims_more_than_its_evidence() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    for path in pages:
        text = flat(path.read_text(encoding="utf-8"))
        for claim in ("no deadlock error ever", "never gets a deadlock error", "restores the FKs exactly",
                      "restores every FK exactly", "exactly as they were there"):
            assert claim not in text, f"{path.name}: {claim!r}"


def test_the_changelog_has_unreleased_and_this_version() -> None:
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"(?m)^## (.+)$", text)
    assert headings[0] == "Unreleased"
    assert __version__ in headings, f"CHANGELOG.md has no section for {__version__}"


def test_rollback_advice_names_the_half_done_case_wherever_downgrade_minus_one_is_advised() -> None:
    for name in ("README.md", "docs/first-deploy.md", "docs/rollback.md"):
        text = page(name)
        assert "downgrade -1" in text and ("half-way" in text or "half-done" in text), name
    assert "`alembic downgrade -1` rolls back." not in page("README.md")
