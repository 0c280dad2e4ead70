"""The docs' examples, run: fenced ```console blocks are executed and their output compared.

Conventions a page follows (docs/development.md, "Examples that run"):

- A ```console block is a shell session: lines starting with `$ ` are commands, the lines after
  a command (up to the next `$ `) are the output it must print, stdout and stderr together in
  the order a terminal shows them. A command that must exit non-zero says so at its end:
  `$ cascade-tool verify --manifest manifest.toml   # exit 1`.
- In the expected output, a line holding only `...` stands for any number of lines, and `...`
  inside a line for any text. Durations (`13 ms`, `0.9 s`), Alembic revision ids and the
  temporary constraint names are compared as placeholders, so timing never makes a page fail.
- An ```ini title="alembic.ini"``` block sets those keys in the project's alembic.ini (the page
  tells the reader to edit the file; the run does the same edit).
- Any other block (```text, ```shell, indented) is not run: use those for output the test suite
  cannot reproduce, and never show output there that claims to be the tool's.
- The example URL `postgresql+psycopg://deploy@db.internal/app` stands for the throwaway
  server's database `app`, in commands and in files.

We wrote this small harness rather than use Sybil or pytest-codeblocks: both can run shell blocks,
but neither compares a block's output with wildcards for timings and revision ids, and neither
hands a page a throwaway server and project from the suite's own fixtures. cogapp regenerates
output blocks instead of checking them, so a drift would be silently rewritten, not caught.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLE_URL = "postgresql+psycopg://deploy@db.internal/app"

FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$", re.M | re.S)
EXIT = re.compile(r"\s+#\s*exit\s+(\d+)\s*$")
DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ms|s|min)\b")
REVISION = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{12}(?![0-9A-Za-z])")
TMP_NAME = re.compile(r"\bcascade_tmp_[0-9a-f]{16}\b")


@dataclass
class Command:
    line: int  # 1-based line of the command in the page
    text: str
    expected: list[str]
    exit_code: int = 0


@dataclass
class Block:
    info: str
    line: int
    body: str
    commands: list[Command] = field(default_factory=list)

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info.strip() else ""

    @property
    def title(self) -> str | None:
        found = re.search(r'title="([^"]+)"', self.info)
        return found.group(1) if found else None


def blocks(text: str) -> list[Block]:
    """Every fenced block of a Markdown page, console blocks parsed into commands."""
    found = []
    for match in FENCE.finditer(text):
        indent = len(match.group("indent"))
        body = "\n".join(line[indent:] for line in match.group("body").splitlines())
        block = Block(match.group("info").strip(), text.count("\n", 0, match.start()) + 1, body)
        if block.language == "console":
            for number, line in enumerate(body.splitlines(), start=block.line + 1):
                if line.startswith("$ "):
                    command = line[2:]
                    code = 0
                    exit_match = EXIT.search(command)
                    if exit_match:
                        code = int(exit_match.group(1))
                        command = command[: exit_match.start()]
                    block.commands.append(Command(number, command, [], code))
                elif block.commands:
                    block.commands[-1].expected.append(line)
                elif line.strip():
                    raise ValueError(f"line {number}: output before any `$ ` command")
        found.append(block)
    return found


def normalise(text: str) -> str:
    text = TMP_NAME.sub("cascade_tmp_<hash>", text)
    text = REVISION.sub("<rev>", text)
    text = DURATION.sub("<time>", text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def pattern(expected: list[str]) -> re.Pattern[str]:
    """The expected lines as one regex: `...` alone is any lines, `...` in a line any text."""
    parts = []
    for line in normalise("\n".join(expected)).splitlines() if expected else []:
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    return re.compile("".join(parts), re.S)


def matches(expected: list[str], actual: str) -> bool:
    body = normalise(actual)
    if not expected or not "".join(expected).strip():
        return True  # a command shown without output: only its exit code is checked
    return pattern(expected).fullmatch(body + "\n") is not None


def set_ini_keys(path: Path, body: str) -> None:
    """Apply an ```ini title="alembic.ini"``` block: set each `key = value` it shows."""
    lines = path.read_text(encoding="utf-8").splitlines()
    for setting in body.splitlines():
        if "=" not in setting or setting.lstrip().startswith(("#", ";", "[")):
            continue
        key = setting.split("=", 1)[0].strip()
        index = next((i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*=", line)), None)
        if index is None:
            raise AssertionError(f"{path.name} has no `{key}` line to set")
        lines[index] = setting
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Session:
    """One page's shell session: a working directory, an environment, a URL to substitute."""

    cwd: Path
    url: str  # the throwaway server's URL for the example URL's database
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = dict(os.environ)
        base.pop("DATABASE_URL", None)
        bindir = str(Path(sys.executable).parent)
        base["PATH"] = bindir + os.pathsep + base.get("PATH", "")
        base.update(PYTHONUNBUFFERED="1", COLUMNS="200", TERM="dumb", NO_COLOR="1")
        base.pop("FORCE_COLOR", None)
        self.env = {**base, **self.env}

    def substitute(self, text: str) -> str:
        return text.replace(EXAMPLE_URL, self.url)

    def run(self, command: Command) -> tuple[int, str]:
        text = self.substitute(command.text).strip()
        words = shlex.split(text, comments=True)
        if words and words[0] == "export":
            for assignment in words[1:]:
                key, _, value = assignment.partition("=")
                self.env[key] = value
            return 0, ""
        if words and words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
            return 0, ""
        result = subprocess.run(
            ["bash", "-c", text + " 2>&1"], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        return result.returncode, result.stdout.replace(self.url, EXAMPLE_URL)


def run_page(page: Path, session: Session) -> list[str]:
    """Run every console block of `page` in order; the failures, as readable paragraphs."""
    failures = []
    for block in blocks(page.read_text(encoding="utf-8")):
        if block.language == "ini" and block.title:
            set_ini_keys(session.cwd / block.title, session.substitute(block.body))
            continue
        for command in block.commands:
            code, output = session.run(command)
            problems = []
            if code != command.exit_code:
                problems.append(f"exit code {code}, the page says {command.exit_code}")
            if not matches(command.expected, output):
                problems.append("the output differs from the page")
            if problems:
                failures.append(
                    f"{page.name}:{command.line}: $ {command.text}\n  " + "; ".join(problems)
                    + "\n--- the page shows:\n" + "\n".join(command.expected)
                    + "\n--- the command printed:\n" + output
                )
                return failures  # later commands depend on this one
    return failures
