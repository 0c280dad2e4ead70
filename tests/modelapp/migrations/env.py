"""The test application's Alembic environment: autogenerate compares the database with its models.

Like the repository's migrations/env.py, the URL comes from DATABASE_URL (postgresql:// runs
with psycopg 3) and each revision runs in its own transaction. `target_metadata` is the
application's models: MODELAPP_MODELS names the module (default tests.modelapp.models, the
fixed models; tests.modelapp.before for the models as first written), so `alembic check`
compares the database with one or the other.
"""

from __future__ import annotations

import importlib
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import Connection

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def target_metadata() -> MetaData:
    module = importlib.import_module(os.environ.get("MODELAPP_MODELS", "tests.modelapp.models"))
    metadata: MetaData = module.Base.metadata
    return metadata


def database_url() -> str:
    url = os.environ.get("DATABASE_URL") or config.get_main_option("sqlalchemy.url") or ""
    if not url:
        raise SystemExit("DATABASE_URL is not set (postgresql://user@host/dbname)")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata(),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if isinstance(connectable, Connection):
        _run(connectable)
        return
    engine = connectable or create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata(), transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
