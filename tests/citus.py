"""A real Citus cluster for the tests: a coordinator and two workers on this machine.

Citus is built from its source tarball (scripts/build-citus.sh) into a PostgreSQL server it
supports, once per machine, when it is not installed yet. The tarball is
CASCADE_TOOL_CITUS_SOURCE, or the one the project's shared directory beside the checkout holds.
Where Citus cannot be built or started, the Citus tests skip with one line saying why (under CI
they fail instead: see helpers.unavailable).

`citus_db` gives each test its own database, created on all three nodes with the extension, the
workers added to the coordinator; its URL is the coordinator's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cascade_tool.errors import ServerError
from cascade_tool.pgserver import Cluster
from tests.helpers import REPO, SHARED, unavailable

# Citus 13.2 supports PostgreSQL 15, 16 and 17; Debian's 15 is the one this machine has.
CITUS_PG_CONFIGS = [Path(f"/usr/lib/postgresql/{m}/bin/pg_config") for m in (17, 16, 15)]
CITUS_SETTINGS = {
    "shared_preload_libraries": "'citus'",
    "max_connections": "200",
    "citus.shard_count": "8",
    # node-to-node connections: no TLS (the server runs as another user than the one whose HOME
    # libpq would search for client certificates)
    "citus.node_conninfo": "'sslmode=disable'",
    "citus.log_distributed_deadlock_detection": "off",
}


def _pkglibdir(pg_config: Path) -> Path:
    out = subprocess.run([str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _source() -> Path | None:
    named = os.environ.get("CASCADE_TOOL_CITUS_SOURCE")
    if named:
        return Path(named)
    found = sorted((SHARED / "citus").glob("citus-*.tar.gz"))
    return found[-1] if found else None


def ensure_citus() -> Path:
    """The bindir of a PostgreSQL server with Citus installed, building Citus once if needed;
    skips the calling test with one line when that cannot be done here."""
    for pg_config in CITUS_PG_CONFIGS:
        if pg_config.exists() and (_pkglibdir(pg_config) / "citus.so").exists():
            return pg_config.parent
    debian15 = Path("/usr/lib/postgresql/15/bin")
    if not (debian15 / "postgres").exists():
        unavailable("Citus tests: no PostgreSQL 15-17 server on this machine to build Citus into")
    source = _source()
    if source is None or not source.exists():
        unavailable("Citus tests: no Citus source tarball (set CASCADE_TOOL_CITUS_SOURCE)")
    if os.geteuid() != 0:
        unavailable("Citus tests: building Citus needs root (apt-get, make install); run as root once")
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "build-citus.sh"), str(source), str(debian15 / "pg_config")],
        capture_output=True, text=True,
    )
    if result.returncode != 0 or not (_pkglibdir(debian15 / "pg_config") / "citus.so").exists():
        last = (result.stdout + result.stderr).strip().splitlines()[-1:] or ["no output"]
        unavailable(f"Citus tests: building Citus failed: {last[0]}")
    return debian15


@dataclass
class CitusCluster:
    coordinator: Cluster
    workers: list[Cluster]

    @property
    def nodes(self) -> list[Cluster]:
        return [self.coordinator, *self.workers]

    def create_database(self, name: str) -> str:
        """A new database on every node with the extension; the workers added to the coordinator."""
        for node in self.nodes:
            with psycopg.connect(node.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            with psycopg.connect(node.url(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        with psycopg.connect(self.coordinator.url(name), autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (self.coordinator.port,))
            for worker in self.workers:
                conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
        return self.coordinator.url(name)

    def drop_database(self, name: str) -> None:
        for node in self.nodes:
            with psycopg.connect(node.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def worker_urls(self, name: str) -> list[str]:
        return [w.url(name) for w in self.workers]


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[CitusCluster]:
    """A coordinator and two workers with Citus, started once for the session."""
    bindir = ensure_citus()
    started: list[Cluster] = []
    try:
        for _ in range(3):
            started.append(Cluster.start(bindir, settings=CITUS_SETTINGS))
    except ServerError as exc:
        for node in started:
            node.stop()
        unavailable(f"Citus tests: a Citus node did not start: {str(exc).splitlines()[0]}")
    try:
        yield CitusCluster(started[0], started[1:])
    finally:
        for node in started:
            node.stop()


_count = iter(range(1_000_000))


@pytest.fixture
def citus_db(citus_cluster: CitusCluster) -> Iterator[str]:
    """The coordinator URL of a new database spread over the cluster's three nodes."""
    name = f"citus{os.getpid()}_{next(_count)}"
    url = citus_cluster.create_database(name)
    yield url
    citus_cluster.drop_database(name)


# The multi-tenant layout Citus recommends: users and four child tables distributed by tenant_id
# and colocated, tenant-first composite FKs to users, two reference tables (one referencing the
# other), a distributed table's FK to a reference table, and a Citus local table (a plain table
# Citus added to its metadata because of its FK to a reference table).
MULTI_TENANT_SCHEMA = """
CREATE TABLE countries (code text PRIMARY KEY, name text);
CREATE TABLE plans (id int PRIMARY KEY, country_code text, name text,
    CONSTRAINT plans_country_fkey FOREIGN KEY (country_code) REFERENCES countries (code));
SELECT create_reference_table('countries');
SELECT create_reference_table('plans');
CREATE TABLE users (tenant_id bigint NOT NULL, id bigint NOT NULL, email text, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('users', 'tenant_id', shard_count => 8);
CREATE TABLE posts (tenant_id bigint NOT NULL, id bigint NOT NULL, user_id bigint, body text,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT posts_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id));
CREATE TABLE comments (tenant_id bigint NOT NULL, id bigint NOT NULL, user_id bigint,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT comments_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
        ON UPDATE RESTRICT);
CREATE TABLE orders (tenant_id bigint NOT NULL, id bigint NOT NULL, user_id bigint,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT orders_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
        MATCH FULL ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE sessions (tenant_id bigint NOT NULL, id bigint NOT NULL, user_id bigint, plan_id int,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT sessions_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) DEFERRABLE);
SELECT create_distributed_table(t, 'tenant_id', colocate_with => 'users')
  FROM unnest(ARRAY['posts', 'comments', 'orders', 'sessions']) AS t;
ALTER TABLE sessions ADD CONSTRAINT sessions_plan_fkey FOREIGN KEY (plan_id) REFERENCES plans (id);
CREATE TABLE plan_notes (id int PRIMARY KEY, plan_id int, note text,
    CONSTRAINT plan_notes_plan_fkey FOREIGN KEY (plan_id) REFERENCES plans (id));
INSERT INTO countries VALUES ('fr', 'France'), ('de', 'Germany');
INSERT INTO plans VALUES (1, 'fr', 'basic'), (2, 'de', 'pro'), (3, 'de', 'legacy');
INSERT INTO users SELECT t, u, 'u' || u || '@t' || t FROM generate_series(1, 20) AS t, generate_series(1, 5) AS u;
INSERT INTO posts SELECT tenant_id, id * 10 + k, id, 'hello' FROM users, generate_series(1, 3) AS k;
INSERT INTO comments SELECT tenant_id, id * 10 + k, id FROM users, generate_series(1, 2) AS k;
INSERT INTO orders SELECT tenant_id, id, id FROM users;
INSERT INTO sessions SELECT tenant_id, id, id, 1 + id % 3 FROM users;
INSERT INTO plan_notes VALUES (1, 1, 'a'), (2, 3, 'b'), (3, 3, 'c');
"""

# Shard-level FKs on one node: (shard table, constraint, confdeltype, validated), Citus' own
# catalog tables left out.
SHARD_FKS_SQL = """
SELECT r.relname::text, c.conname::text, c.confdeltype::text, c.convalidated, pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
  JOIN pg_namespace n ON n.oid = r.relnamespace
 WHERE c.contype = 'f' AND n.nspname = 'public'
 ORDER BY 1, 2
"""


def load_multi_tenant(url: str) -> None:
    """MULTI_TENANT_SCHEMA on the coordinator `url` (its workers already added)."""
    with psycopg.connect(url, autocommit=True) as conn:
        # one statement at a time: Citus forwards a DDL statement's own text to the workers
        for statement in MULTI_TENANT_SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement.encode())


def node_fks(url: str) -> list[tuple[str, str, str, bool, str]]:
    """Every FK of the public schema on one node: on a worker, the shards' FKs."""
    with psycopg.connect(url) as conn:
        conn.execute("SET citus.show_shards_for_app_name_prefixes = '*'")  # Citus hides shards otherwise
        return [tuple(row) for row in conn.execute(SHARD_FKS_SQL).fetchall()]
