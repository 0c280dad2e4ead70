"""check-models: SQLAlchemy models that agree with the database's ON DELETE rules.

The test application in tests/modelapp proves the whole loop on real PostgreSQL: after
`alembic upgrade head` of the generated revision, `alembic check` reports exactly the FKs
check-models flags in the models as first written (before.py), and nothing once the models carry
the fixes check-models printed (models.py); deleting a user through the ORM is then one DELETE
statement, the database doing the rest.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cascade_tool.manifest import load_manifest
from cascade_tool.models.read import _def_options
from cascade_tool.revisions import generate
from tests.helpers import REPO, Server, execute_sql

MODELAPP = REPO / "tests" / "modelapp"
MANIFEST = MODELAPP / "manifest.toml"
BEFORE, AFTER = "tests.modelapp.before", "tests.modelapp.models"


def _squash(text: str) -> str:
    """Source text without whitespace: a call reads the same wrapped or on one line."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="session")
def modelapp_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the test app's Alembic environment holding the revision generated from its manifest."""
    project = tmp_path_factory.mktemp("modelapp")
    shutil.copy(MODELAPP / "alembic.ini", project / "alembic.ini")
    shutil.copytree(
        MODELAPP / "migrations", project / "migrations", ignore=shutil.ignore_patterns("__pycache__", "*.py[co]")
    )
    versions = project / "migrations" / "versions"
    versions.mkdir(exist_ok=True)
    generate(load_manifest(MANIFEST), versions, "cascade user foreign keys", rev_id="modelapp0001",
             create_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    return project


def app_alembic(project: Path, url: str, *args: str, models: str = AFTER) -> subprocess.CompletedProcess[str]:
    """The real `alembic` command line of the test app, with MODELAPP_MODELS as its target_metadata."""
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(REPO), MODELAPP_MODELS=models)
    return subprocess.run([sys.executable, "-m", "alembic", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def app_db(server: Server, modelapp_project: Path) -> Iterator[str]:
    """The test app's database (schema.sql, with data) after `alembic upgrade head`."""

    def load(url: str) -> None:
        execute_sql(url, (MODELAPP / "schema.sql").read_text("utf-8"))
        up = app_alembic(modelapp_project, url, "upgrade", "head")
        assert up.returncode == 0, up.stderr
        assert "8 converted, 0 created, 0 unchanged, 1 skipped" in up.stdout

    name = server.create_database(server.template("modelapp-upgraded", load))
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def clean_imports() -> Iterator[None]:
    """Forget modules a test imported from its temporary directory (names are reused)."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        module = sys.modules.pop(name)
        base = getattr(module, "Base", None)
        registry = getattr(base, "registry", None)
        if registry is not None and hasattr(registry, "dispose"):
            registry.dispose()


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")


def fk_changes(stderr: str) -> set[tuple[str, str]]:
    """(table, columns) of every FK `alembic check` wants to drop or add."""
    return set(re.findall(r"Detected (?:removed|added) foreign key \(([^)]*)\)\([^)]*\) on table (\S+)", stderr))


# --- the test application: check-models, alembic check, the ORM ------------------------------


def test_check_models_flags_what_alembic_check_and_the_orm_get_wrong(
    app_db: str, modelapp_project: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the fixes: the findings name each model line and fix, and alembic check reports
    exactly the FKs flagged. After them (models.py carries the printed fixes verbatim): both clean."""
    monkeypatch.chdir(REPO)
    result = run_cli("check-models", "--manifest", str(MANIFEST), "--models", f"{BEFORE}:Base",
                     "--database-url", app_db, "--json")
    assert result.code == 1, result.err
    data = json.loads(result.out)
    assert data["database_checked"] is True and data["ok"] is False
    assert data["checked"] == {"entries": 9, "fks": 8, "relationships": 6}
    found = [(f["severity"], f["kind"], f["obj"]) for f in data["findings"]]
    assert found == [
        ("error", "relationship", "User.chat_sessions"),  # seed 000: nulls a NOT NULL column
        ("error", "fk_options", "ChatSession.user_id"),
        ("error", "fk_options", "ChatMessage.session_id"),  # and DEFERRABLE INITIALLY DEFERRED
        ("error", "fk_options", "ChatMessage.user_id"),
        ("error", "fk_options", "Appointment.patient_id"),
        ("error", "relationship", "User.doctor_appointments"),  # delete-orphan on SET NULL
        ("error", "fk_options", "Appointment.doctor_id"),
        ("error", "relationship", "User.lifestyle"),  # seed 003: blank-out primary key
        ("error", "fk_options", "UserLifestyle.user_id"),
        ("error", "fk_options", "HealthDataHistory.user_id"),  # and ON UPDATE CASCADE
        ("error", "fk_options", "Feedback.user_id"),
        ("warning", "relationship", "ChatSession.messages"),  # per-row DELETEs
        ("warning", "relationship", "User.feedback"),  # per-row UPDATEs
    ]
    by_obj = {f["obj"]: f for f in data["findings"]}
    assert "blank-out primary key column 'user_lifestyle.user_id'" in by_obj["User.lifestyle"]["why"]
    assert 'null value in column "user_id"' in by_obj["User.chat_sessions"]["why"]
    assert by_obj["ChatMessage.session_id"]["fix"] == (
        'ForeignKey("chat_sessions.id", name="chat_messages_session_fk", ondelete="CASCADE", '
        'deferrable=True, initially="DEFERRED")'
    )
    assert by_obj["HealthDataHistory.user_id"]["fix"] == (
        'ForeignKey("users.id", name="health_data_history_user_fk", ondelete="CASCADE", onupdate="CASCADE")'
    )
    before_lines = (MODELAPP / "before.py").read_text("utf-8").splitlines()
    after_text = _squash((MODELAPP / "models.py").read_text("utf-8"))
    for f in data["findings"]:
        assert f["file"] == "tests/modelapp/before.py"
        call = "ForeignKey(" if f["kind"] == "fk_options" else "relationship("
        assert call in before_lines[f["line"] - 1], (f["obj"], before_lines[f["line"] - 1])
        assert _squash(f["fix"]) in after_text, f"models.py does not carry the fix for {f['obj']}"

    # alembic check (autogenerate) wants to re-create exactly the FKs flagged, and nothing else
    check = app_alembic(modelapp_project, app_db, "check", models=BEFORE)
    assert check.returncode != 0
    assert "New upgrade operations detected" in check.stderr
    detected = re.findall(r"\[alembic\.autogenerate\.compare\S*\] (Detected .*)", check.stderr)
    assert detected and all("foreign key" in line for line in detected), detected
    manifest = load_manifest(MANIFEST)
    flagged = {
        (", ".join(manifest.entries[f["entry"]].columns), manifest.entries[f["entry"]].table.name)
        for f in data["findings"] if f["kind"] == "fk_options"
    }
    assert fk_changes(check.stderr) == flagged

    fixed = run_cli("check-models", "--manifest", str(MANIFEST), "--models", AFTER, "--database-url", app_db)
    assert fixed.code == 0, fixed.out
    assert fixed.out.splitlines()[-1] == (
        "OK: 9 entries, 8 model FKs and 6 relationships checked; the models agree with the manifest."
    )
    clean = app_alembic(modelapp_project, app_db, "check", models=AFTER)
    assert clean.returncode == 0, clean.stderr
    assert "No new upgrade operations detected." in clean.stdout + clean.stderr


def test_orm_delete_of_a_user_is_one_delete_statement(app_db: str) -> None:
    """With the fixed models the session emits one DELETE and no SELECT or UPDATE on children;
    the database cascades and sets NULL. The models as first written make the same delete fail."""
    from tests.modelapp import before, models

    engine = sa.create_engine(app_db.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.pool.NullPool)
    statements: list[str] = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def log(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        statements.append(" ".join(statement.split()))

    def counts() -> dict[str, Any]:
        with psycopg.connect(app_db) as conn:
            return dict(conn.execute(
                """SELECT 'sessions', count(*) FROM chat_sessions WHERE user_id = 1
                   UNION ALL SELECT 'messages', count(*) FROM chat_messages m
                             JOIN chat_sessions s ON s.id = m.session_id WHERE s.user_id = 1
                   UNION ALL SELECT 'appointments', count(*) FROM appointments WHERE patient_id = 1
                   UNION ALL SELECT 'lifestyle', count(*) FROM user_lifestyle WHERE user_id = 1
                   UNION ALL SELECT 'history', count(*) FROM health_data_history WHERE user_id = 1
                   UNION ALL SELECT 'feedback kept', count(*) FROM feedback WHERE user_id IS NULL
                   UNION ALL SELECT 'doctor cleared', count(*) FROM appointments WHERE doctor_id IS NULL
                   UNION ALL SELECT 'other messages', count(*) FROM chat_messages WHERE user_id = 2"""
            ).fetchall())

    assert counts() == {"sessions": 2, "messages": 6, "appointments": 2, "lifestyle": 1, "history": 2,
                        "feedback kept": 0, "doctor cleared": 1, "other messages": 3}
    try:
        for user_id in (1, 3):  # a patient, then the doctor (SET NULL on appointments.doctor_id)
            with Session(engine) as session:
                user = session.get(models.User, user_id)
                assert user is not None
                statements.clear()
                session.delete(user)
                session.commit()
            assert statements == [statements[0]] and statements[0].startswith("DELETE FROM users WHERE"), statements
        assert counts() == {"sessions": 0, "messages": 0, "appointments": 0, "lifestyle": 0, "history": 0,
                            "feedback kept": 2, "doctor cleared": 1, "other messages": 3}

        # the models as first written fight the database: they null NOT NULL / primary key columns
        with Session(engine) as session:
            user2 = session.get(before.User, 2)
            statements.clear()
            session.delete(user2)
            with pytest.raises((AssertionError, sa.exc.IntegrityError)) as failure:
                session.commit()
        assert re.search(r"blank-out primary key column|violates not-null constraint", str(failure.value))
        assert any(s.startswith("SELECT") and "FROM chat_sessions" in s for s in statements), statements
    finally:
        engine.dispose()


# --- without a database, outside the repository, errors ---------------------------------------


def test_without_a_database_only_ondelete_is_compared(run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = run_cli("check-models", "--manifest", str(MANIFEST), "--models", BEFORE)
    assert result.code == 1
    assert "DEFERRABLE" not in result.out and "onupdate is" not in result.out
    assert ("note: onupdate, deferrable and initially were not compared with the database "
            "(no --database-url or DATABASE_URL): ondelete was compared with the manifest only") in result.out
    assert "note: no model for optional entries (skipped): user_medications" in result.out
    assert result.out.splitlines()[-1] == (
        "FAILED: 9 entries, 8 model FKs and 6 relationships checked: 11 error(s), 2 warning(s)."
    )


SEED_000_MANIFEST = """
    [target]
    table = "events"

    [defaults]
    on_delete = "CASCADE"

    [[tables]]
    name = "chat_rooms"
    columns = ["event_id"]

    [[tables]]
    name = "chat_messages"
    columns = ["chat_room_id"]
    target = "chat_rooms"

    [[tables]]
    name = "chat_messages"
    columns = ["reply_to_message_id"]
    target = "chat_messages"
    on_delete = "SET NULL"
"""

SEED_000_MODELS = '''
    """Chat models as they were when deleting an event failed (seed 000)."""

    from __future__ import annotations

    from sqlalchemy import ForeignKey
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


    class Base(DeclarativeBase):
        pass


    class Event(Base):
        __tablename__ = "events"

        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str]


    class ChatRoom(Base):
        __tablename__ = "chat_rooms"

        id: Mapped[int] = mapped_column(primary_key=True)
        event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
        messages: Mapped[list[ChatMessage]] = relationship(back_populates="chat_room")


    class ChatMessage(Base):
        __tablename__ = "chat_messages"

        id: Mapped[int] = mapped_column(primary_key=True)
        chat_room_id: Mapped[int] = mapped_column(ForeignKey("chat_rooms.id"))
        reply_to_message_id: Mapped[int | None] = mapped_column(ForeignKey("chat_messages.id"))
        chat_room: Mapped[ChatRoom] = relationship(back_populates="messages")
        replies: Mapped[list[ChatMessage]] = relationship(back_populates="reply_to")
        reply_to: Mapped[ChatMessage | None] = relationship(back_populates="replies", remote_side=[id])
'''

SEED_000_OUTPUT = """\
cascade-tool check-models: chatapp.models:Base against manifest.toml

error: chatapp/models.py:24: ChatRoom.event_id
  entry: tables[0]: chat_rooms(event_id) -> events
  wrong: ondelete is not set, the manifest says CASCADE
  why:   alembic autogenerate compares ondelete, onupdate, deferrable and initially: `alembic revision --autogenerate` would propose to drop this FK and re-create it as the model says (undoing the cascade-tool migration), and `alembic check` fails
  fix:   ForeignKey("events.id", ondelete="CASCADE")

error: chatapp/models.py:25: ChatRoom.messages
  entry: tables[1]: chat_messages(chat_room_id) -> chat_rooms
  wrong: no delete cascade: deleting the parent makes the ORM set chat_messages.chat_room_id to NULL on every child (SELECTed first) before the DELETE, and so does removing a child from the collection
  why:   chat_room_id is NOT NULL: the UPDATE fails (null value in column "chat_room_id" violates not-null constraint) and the delete with it.
  fix:   relationship(back_populates="chat_room", cascade="all, delete-orphan", passive_deletes=True)

error: chatapp/models.py:32: ChatMessage.chat_room_id
  entry: tables[1]: chat_messages(chat_room_id) -> chat_rooms
  wrong: ondelete is not set, the manifest says CASCADE
  why:   alembic autogenerate compares ondelete, onupdate, deferrable and initially: `alembic revision --autogenerate` would propose to drop this FK and re-create it as the model says (undoing the cascade-tool migration), and `alembic check` fails
  fix:   ForeignKey("chat_rooms.id", ondelete="CASCADE")

error: chatapp/models.py:33: ChatMessage.reply_to_message_id
  entry: tables[2]: chat_messages(reply_to_message_id) -> chat_messages
  wrong: ondelete is not set, the manifest says SET NULL
  why:   alembic autogenerate compares ondelete, onupdate, deferrable and initially: `alembic revision --autogenerate` would propose to drop this FK and re-create it as the model says (undoing the cascade-tool migration), and `alembic check` fails
  fix:   ForeignKey("chat_messages.id", ondelete="SET NULL")

warning: chatapp/models.py:35: ChatMessage.replies
  entry: tables[2]: chat_messages(reply_to_message_id) -> chat_messages
  wrong: passive_deletes is not set: deleting the parent makes the ORM SELECT the children and UPDATE chat_messages.reply_to_message_id to NULL row by row
  why:   the database's ON DELETE SET NULL does it in the same statement.
  fix:   relationship(back_populates="reply_to", passive_deletes=True)

note: onupdate, deferrable and initially were not compared with the database (no --database-url or DATABASE_URL): ondelete was compared with the manifest only
FAILED: 3 entries, 3 model FKs and 2 relationships checked: 4 error(s), 1 warning(s).
"""  # noqa: E501 - the exact output, long lines included


def test_seed_000_chat_models_outside_the_repository(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    """A models package found by import path from the working directory (as alembic's
    prepend_sys_path does). The seed's own fix (delete-orphan, no passive_deletes) still warns;
    the recommended shape is clean."""
    write(tmp_path, {"manifest.toml": SEED_000_MANIFEST, "chatapp/__init__.py": "",
                     "chatapp/models.py": SEED_000_MODELS})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = run_cli("check-models", "--manifest", "manifest.toml", "--models", "chatapp.models:Base")
    assert (result.code, result.err) == (1, "")
    assert result.out == SEED_000_OUTPUT

    seed_fix = SEED_000_MODELS.replace(
        'relationship(back_populates="chat_room")',
        'relationship(back_populates="chat_room", cascade="all, delete-orphan")',
    )
    recommended = SEED_000_MODELS.replace(
        'relationship(back_populates="chat_room")',
        'relationship(back_populates="chat_room", cascade="all, delete-orphan", passive_deletes=True)',
    ).replace(
        'relationship(back_populates="reply_to")', 'relationship(back_populates="reply_to", passive_deletes=True)'
    )
    for name, text in (("seedfix", seed_fix), ("recommended", recommended)):
        fks = {'"events.id")': '"events.id", ondelete="CASCADE")',
               '"chat_rooms.id")': '"chat_rooms.id", ondelete="CASCADE")',
               '"chat_messages.id")': '"chat_messages.id", ondelete="SET NULL")'}
        for old, new in fks.items():
            text = text.replace(old, new)
        write(tmp_path, {f"chatapp/{name}.py": text})
    seed = run_cli("check-models", "--manifest", "manifest.toml", "--models", "chatapp.seedfix", "--json")
    assert seed.code == 1
    assert [(f["severity"], f["obj"], f["fix"]) for f in json.loads(seed.out)["findings"]] == [
        ("warning", "ChatRoom.messages",
         'relationship(back_populates="chat_room", cascade="all, delete-orphan", passive_deletes=True)'),
        ("warning", "ChatMessage.replies", 'relationship(back_populates="reply_to", passive_deletes=True)'),
    ]
    ok = run_cli("check-models", "--manifest", "manifest.toml", "--models", "chatapp.recommended")
    assert ok.code == 0, ok.out
    assert ok.out.splitlines()[-1] == (
        "OK: 3 entries, 3 model FKs and 2 relationships checked; the models agree with the manifest."
    )


def test_imperative_tables_unlisted_and_missing_models(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    """A bare MetaData: FKs found in Table(...) calls, FKs to the target the manifest lacks,
    entries with no model or no ForeignKey, SET NULL on a NOT NULL column."""
    write(tmp_path, {
        "manifest.toml": """
            [target]
            table = "users"
            [[tables]]
            name = "tokens"
            columns = ["user_id"]
            on_delete = "SET NULL"
            [[tables]]
            name = "posts"
            columns = ["user_id"]
            [[tables]]
            name = "devices"
            columns = ["user_id"]
            [[tables]]
            name = "legacy"
            columns = ["user_id"]
            optional = true
        """,
        "plainapp/__init__.py": "",
        "plainapp/tables.py": """
            from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table

            metadata = MetaData()
            users = Table("users", metadata, Column("id", Integer, primary_key=True))
            tokens = Table(
                "tokens", metadata,
                Column("id", Integer, primary_key=True),
                Column("user_id", Integer, ForeignKey("users.id", ondelete="SET NULL"), nullable=False),
            )
            posts = Table("posts", metadata, Column("id", Integer, primary_key=True), Column("user_id", Integer))
            notes = Table(
                "notes", metadata,
                Column("id", Integer, primary_key=True),
                Column("author_id", Integer, ForeignKey("users.id")),
            )
        """,
    })
    monkeypatch.chdir(tmp_path)
    result = run_cli("check-models", "--manifest", "manifest.toml", "--models", "plainapp.tables", "--json")
    assert result.code == 1, result.err
    data = json.loads(result.out)
    found = [(f["severity"], f["kind"], f["obj"], f["file"], f["line"]) for f in data["findings"]]
    assert found == [
        ("error", "set_null_not_null", "tokens(user_id)", "plainapp/tables.py", 8),
        ("error", "fk_missing", "posts.user_id", "plainapp/tables.py", 10),
        ("warning", "no_model", "devices", None, None),
        ("warning", "unlisted", "notes(author_id)", "plainapp/tables.py", 14),
    ]
    unlisted = data["findings"][-1]
    assert unlisted["fix"].startswith('add to the manifest: [[tables]] name = "notes" columns = ["author_id"]')
    assert data["findings"][1]["fix"] == 'declare it: ForeignKey("users.id", ondelete="CASCADE")'
    assert any(n.startswith("relationships were not checked: plainapp.tables is a MetaData") for n in data["notes"])
    assert "no model for optional entries (skipped): legacy" in data["notes"]


def test_backref_secondary_and_the_ways_to_name_the_models(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch, clean_imports: None
) -> None:
    """A backref is fixed where it is written; a many-to-many over a CASCADE association table
    wants passive_deletes; an eager-loaded collection defeats passive_deletes; a registry, a base's
    MetaData and a module name all name the same models."""
    write(tmp_path, {
        "manifest.toml": """
            [target]
            table = "users"
            [defaults]
            columns = ["user_id"]
            [[tables]]
            name = "sessions"
            [[tables]]
            name = "user_groups"
            [[tables]]
            name = "devices"
        """,
        "regapp/__init__.py": "",
        "regapp/models.py": """
            from sqlalchemy import Column, ForeignKey, Integer, Table
            from sqlalchemy.orm import backref, registry, relationship

            mapper_registry = registry()
            Base = mapper_registry.generate_base()

            user_groups = Table(
                "user_groups", Base.metadata,
                Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
                Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
            )


            class User(Base):
                __tablename__ = "users"
                id = Column(Integer, primary_key=True)
                groups = relationship("Group", secondary=user_groups)


            class Group(Base):
                __tablename__ = "groups"
                id = Column(Integer, primary_key=True)


            class LoginSession(Base):
                __tablename__ = "sessions"
                id = Column(Integer, primary_key=True)
                user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
                user = relationship("User", backref=backref("sessions", cascade="all"))


            class Device(Base):
                __tablename__ = "devices"
                id = Column(Integer, primary_key=True)
                user_id = Column(Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
                user = relationship(
                    "User",
                    backref=backref("devices", cascade="all, delete-orphan", passive_deletes=True, lazy="selectin"),
                )
        """,
    })
    monkeypatch.chdir(tmp_path)
    for spec in ("regapp.models", "regapp.models:mapper_registry", "regapp.models:Base.metadata"):
        result = run_cli("check-models", "--manifest", "manifest.toml", "--models", spec, "--json")
        assert result.code == 1, (spec, result.err)
        found = [(f["severity"], f["obj"], f["line"], f["fix"]) for f in json.loads(result.out)["findings"]]
        assert found == [
            ("error", "User.sessions", 29,
             'backref("sessions", cascade="all, delete-orphan", passive_deletes=True)'),
            ("warning", "User.groups", 17, 'relationship("Group", secondary=user_groups, passive_deletes=True)'),
            ("warning", "User.devices", 38,
             'backref("devices", cascade="all, delete-orphan", passive_deletes=True)'),
        ], spec


@pytest.mark.parametrize(
    ("files", "spec", "message"),
    [
        ({}, "nosuchapp.models",
         "cascade-tool: error: cannot import nosuchapp.models: No module named 'nosuchapp' (searched {cwd} "
         "first, then sys.path: run from the directory that holds the package, or set PYTHONPATH)"),
        ({"brokenapp/__init__.py": "", "brokenapp/models.py": "X = 1\nraise RuntimeError('no config')\n"},
         "brokenapp.models:Base",
         "cascade-tool: error: importing brokenapp.models failed: RuntimeError: no config at "
         "brokenapp/models.py:2 (searched {cwd} first, then sys.path: run from the directory that holds the "
         "package, or set PYTHONPATH)"),
        ({"depapp/__init__.py": "", "depapp/models.py": "import flask_nothing_here\n"}, "depapp.models",
         "cascade-tool: error: importing depapp.models failed: ModuleNotFoundError: No module named "
         "'flask_nothing_here' (a dependency of the models is not installed in this environment)"),
        ({"attrapp/__init__.py": "", "attrapp/models.py": "X = 1\n"}, "attrapp.models:Base",
         "cascade-tool: error: module attrapp.models has no attribute 'Base'"),
        ({"typeapp/__init__.py": "", "typeapp/models.py": "Base = 1\n"}, "typeapp.models:Base",
         "cascade-tool: error: typeapp.models:Base is a int object, not a DeclarativeBase subclass, a registry "
         "or a MetaData"),
        ({"twoapp/__init__.py": "", "twoapp/models.py": "from sqlalchemy import MetaData\na = MetaData()\n"
          "b = MetaData()\n"}, "twoapp.models",
         "cascade-tool: error: twoapp.models defines several (a, b): name one, e.g. --models twoapp.models:a"),
        ({"mapapp/__init__.py": "", "mapapp/models.py": "from sqlalchemy.orm import DeclarativeBase, "
          "Mapped, mapped_column, relationship\nclass Base(DeclarativeBase):\n    pass\nclass A(Base):\n"
          "    __tablename__ = 'a'\n    id: Mapped[int] = mapped_column(primary_key=True)\n"
          "    bs = relationship('Nowhere')\n"}, "mapapp.models:Base",
         "cascade-tool: error: configuring the mappers of mapapp.models:Base failed: InvalidRequestError: "
         "When initializing mapper Mapper[A(a)], expression 'Nowhere' failed to locate a name ('Nowhere'). "
         "If this is a class name, consider adding this relationship() to the <class 'mapapp.models.A'> "
         "class after both dependent classes have been defined."),
        ({}, "app/models.py",
         "cascade-tool: error: --models 'app/models.py': expected an import path, package.module or "
         "package.module:Base (dots, not a file path)"),
    ],
    ids=["missing", "raises", "dependency", "attribute", "type", "ambiguous", "mapper", "path"],
)
def test_import_problems_exit_2_with_one_line(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch, clean_imports: None,
    files: dict[str, str], spec: str, message: str,
) -> None:
    write(tmp_path, {"manifest.toml": '[target]\ntable = "users"\n[[tables]]\nname = "x"\ncolumns = ["user_id"]\n',
                     **files})
    monkeypatch.chdir(tmp_path)
    result = run_cli("check-models", "--manifest", "manifest.toml", "--models", spec)
    assert (result.code, result.out) == (2, "")
    assert result.err == message.format(cwd=tmp_path.resolve()) + "\n"
    assert str(tmp_path.resolve()) not in sys.path  # the working directory is not left on sys.path


def test_database_definitions_are_read_past_quoted_identifiers() -> None:
    """ON UPDATE and DEFERRABLE come from pg_get_constraintdef text; names may contain anything."""
    opts = _def_options('FOREIGN KEY ("a""(b") REFERENCES "we)ird"."t(x"(id) ON UPDATE CASCADE '
                        'ON DELETE SET NULL ("a""(b") DEFERRABLE INITIALLY DEFERRED')
    assert (opts.onupdate, opts.deferral) == ("CASCADE", "DEFERRABLE INITIALLY DEFERRED")
    opts = _def_options('FOREIGN KEY ("ON UPDATE CASCADE DEFERRABLE") REFERENCES users(id) ON DELETE CASCADE')
    assert (opts.onupdate, opts.deferral) == (None, "NOT DEFERRABLE")
    opts = _def_options("FOREIGN KEY (user_id) REFERENCES users(id) MATCH FULL DEFERRABLE NOT VALID")
    assert (opts.onupdate, opts.deferral) == (None, "DEFERRABLE")
