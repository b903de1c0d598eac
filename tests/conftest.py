"""Shared pytest fixtures.

Store fixtures (this section):

* ``store`` -- one fresh, empty store per test, parametrized over every backend:
  ``memory``, ``sqlite`` (a file in ``tmp_path``) and ``postgresql``.
* ``sql_url`` -- the URL of a fresh, empty SQL database (SQLite file or a new PostgreSQL
  database), for tests that need to poke at the raw schema.
* ``pg_server`` / ``pg_url`` -- the local PostgreSQL server (127.0.0.1:5432, trust auth)
  and the database created for this test session. A PostgreSQL test FAILS (never skips)
  when the server is unreachable; the message says how to start it.

Other fixtures go below the store section.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tunelab.store import MemoryStore, SQLStore, Store

# --------------------------------------------------------------------------- PostgreSQL

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_ADMIN_DB = "test"
PG_START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
STORE_BACKENDS = ["memory", "sqlite", "postgresql"]
_TABLES = "tunelab_reports, tunelab_trials, tunelab_studies"


def pg_url_for(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


class PostgresServer:
    """The local server: creates throw-away databases and drops them all at the end."""

    def __init__(self) -> None:
        import psycopg

        self._psycopg = psycopg
        self.session_tag = f"tunelab_test_{os.getpid()}_{secrets.token_hex(4)}"
        self.created: list[str] = []
        self._admin = self._connect(PG_ADMIN_DB)

    def _connect(self, database: str) -> Any:
        try:
            return self._psycopg.connect(pg_url_for(database), autocommit=True, connect_timeout=5)
        except self._psycopg.OperationalError as exc:
            error = exc
        pytest.fail(  # never skip: a missing server must not pass unnoticed
            f"PostgreSQL is not reachable at {pg_url_for(database)}: {error}\n"
            f"The store tests need the local PostgreSQL server; start it with:\n"
            f"    {PG_START_HINT}",
            pytrace=False,
        )

    def create_database(self) -> str:
        """A new, empty database; returns its store URL."""
        name = f"{self.session_tag}_{len(self.created)}"
        self._admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return pg_url_for(name)

    def execute(self, url: str, sql: str) -> None:
        """Run raw SQL in the database behind ``url`` (autocommit)."""
        with self._connect(url.rsplit("/", 1)[1]) as conn:
            conn.execute(sql)

    def close(self) -> None:
        for name in self.created:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._admin.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_url(pg_server: PostgresServer) -> str:
    """The database of this test session (tables are emptied before each ``store`` test)."""
    return pg_server.create_database()


# --------------------------------------------------------------------------- stores


@pytest.fixture(params=STORE_BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> Iterator[Store]:
    """A fresh, empty store of each backend."""
    backend: str = request.param
    opened: Store
    if backend == "memory":
        opened = MemoryStore()
    elif backend == "sqlite":
        opened = SQLStore(f"sqlite:///{os.fspath(tmp_path)}/store.db")
    else:
        url: str = request.getfixturevalue("pg_url")
        server: PostgresServer = request.getfixturevalue("pg_server")
        opened = SQLStore(url)  # creates the tables on first use
        server.execute(url, f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The URL of a fresh SQL database that no store has opened yet."""
    if request.param == "sqlite":
        return f"sqlite:///{os.fspath(tmp_path)}/fresh.db"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database()
