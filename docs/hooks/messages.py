"""Every error message cascade-tool and its revisions can print, read from the code.

The troubleshooting page is built from this list (docs/hooks/troubleshooting.py) and the causes
and remedies in docs/hooks/troubleshooting.toml; tests/test_troubleshooting.py fails when a
message has no entry there, or an entry names a message the code no longer prints.

Where messages come from:
- Python (the CLI and the library): every call of a CascadeToolError subclass (errors.py), of
  click.UsageError / click.BadParameter, and every `errors.append(...)` (problems collected into
  one error); the first argument's text, with each interpolated value shown as `…`;
- the revision: `raise CommandError(...)` in templates/revision.py.j2, every `RAISE EXCEPTION` and
  `RAISE WARNING` in templates/*.j2, and the problems its opening check collects
  (`v_problems := v_problems || format('...')`), with each `%` / `%s` / `%I` shown as `…`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = "…"
CLICK_ERRORS = {"UsageError", "BadParameter", "ClickException"}


@dataclass(frozen=True)
class Message:
    text: str  # the message with every interpolated value as `…`
    source: str  # path relative to the repository, and line
    origin: str  # "cli" or "revision"


def error_classes() -> set[str]:
    tree = ast.parse((REPO / "cascade_tool" / "errors.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


def _constants(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found[node.targets[0].id] = node.value.value
    return found


def _text(node: ast.AST, constants: dict[str, str]) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(part, constants) for part in node.values)
    if isinstance(node, ast.FormattedValue):
        if isinstance(node.value, ast.Name) and node.value.id in constants:
            return constants[node.value.id]
        return PLACEHOLDER
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left, constants) + _text(node.right, constants)
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return PLACEHOLDER


def _name(func: ast.AST) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(rf"{PLACEHOLDER}(?:\s*{PLACEHOLDER})+", PLACEHOLDER, text)


def python_messages() -> list[Message]:
    classes = error_classes() | CLICK_ERRORS
    found = []
    for path in sorted((REPO / "cascade_tool").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = _name(node.func)
            collected = (name == "append" and isinstance(node.func, ast.Attribute)
                         and _name(node.func.value) == "errors")
            if name not in classes and not collected:
                continue
            for arg in node.args:
                if isinstance(arg, ast.Starred):
                    continue
                text = normalise(_text(arg, constants))
                if not _says_something(text):
                    continue  # a message passed on from elsewhere (listed where it is made)
                found.append(Message(text, f"{path.relative_to(REPO)}:{node.lineno}", "cli"))
        for function in ast.walk(tree):  # warnings a function returns for the CLI to print
            if isinstance(function, ast.FunctionDef) and function.name.endswith("_warning"):
                for node in ast.walk(function):
                    if isinstance(node, ast.Return) and node.value is not None:
                        text = normalise(_text(node.value, constants))
                        if _says_something(text):
                            found.append(Message(text, f"{path.relative_to(REPO)}:{node.lineno}", "cli"))
    return found


def _says_something(text: str) -> bool:
    """False for a bare pass-through such as `…`, `…: …` or `cascade-tool: …`."""
    return re.sub(r"^cascade-tool:|…|[\s:;()]", "", text) != ""


SQL_STRING = r"'((?:[^']|'')*)'"
SQL_PATTERNS = [
    re.compile(r"RAISE\s+(?:EXCEPTION|WARNING)\s+" + SQL_STRING),
    re.compile(r"v_problems\s*:=\s*v_problems\s*\|\|\s*format\(\s*" + SQL_STRING),
]


def _sql_text(literal: str) -> str:
    text = literal.replace("''", "'")
    return re.sub(r"%[sIL]?", PLACEHOLDER, text)


def revision_messages() -> list[Message]:
    found = []
    for path in sorted((REPO / "templates").glob("*.j2")):
        text = path.read_text(encoding="utf-8")
        for pattern in SQL_PATTERNS:
            for match in pattern.finditer(text):
                message = normalise(_sql_text(match.group(1)))
                if not _says_something(message):
                    continue
                line = text.count("\n", 0, match.start()) + 1
                found.append(Message(message, f"{path.relative_to(REPO)}:{line}", "revision"))
        for match in re.finditer(r'raise CommandError\(f?"((?:[^"\\]|\\.)*)"\)', text):
            message = normalise(re.sub(r"\{[^}]*\}", PLACEHOLDER, match.group(1)))
            line = text.count("\n", 0, match.start()) + 1
            found.append(Message(message, f"{path.relative_to(REPO)}:{line}", "revision"))
    return found


BLOCKING_DETAILS = ("cannot read the definition of", "has no primary key", "referenced column ", "have no unique")


def lookup_details() -> list[Message]:
    """What the lookup (sql/resolve.sql) says of an entry the opening check stops on."""
    path = REPO / "cascade_tool" / "sql" / "resolve.sql"
    text = path.read_text(encoding="utf-8")
    end = text.index("END AS detail")
    start = text.rindex("CASE", 0, end)
    found = []
    for match in re.finditer(r"THEN\s+(.*?)(?=\s+WHEN\s|\s+ELSE\s|\s*$)", text[start:end], re.S):
        parts = re.split(r"\s*\|\|\s*", match.group(1).strip())
        message = normalise("".join(p[1:-1].replace("''", "'") if p.startswith("'") else PLACEHOLDER for p in parts))
        if any(marker in message for marker in BLOCKING_DETAILS):
            line = text.count("\n", 0, start + match.start()) + 1
            found.append(Message(message, f"{path.relative_to(REPO)}:{line}", "revision"))
    return found


def all_messages() -> list[Message]:
    """Every message, once per distinct text (the first place that prints it)."""
    seen: dict[str, Message] = {}
    for message in python_messages() + revision_messages() + lookup_details():
        seen.setdefault(message.text, message)
    return list(seen.values())
