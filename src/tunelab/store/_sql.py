"""A store over SQLAlchemy Core: an SQLite file by default, PostgreSQL by URL.

SQLite runs in WAL mode; every write transaction starts with ``BEGIN IMMEDIATE`` so that
writers queue at the start instead of failing half-way, and lock errors are retried with
back-off, so several processes can share one file without "database is locked" reaching
the user. Trial numbers come from one ``INSERT ... (SELECT MAX(number) + 1)`` statement
guarded by a unique constraint and retried on conflict.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from tunelab._errors import (
    MissingExtraError,
    SchemaVersionError,
    StoreError,
    StudyNotFoundError,
    TrialNotFoundError,
    require_extra,
)
from tunelab._log import logger
from tunelab.store._base import (
    SCHEMA_VERSION,
    Store,
    StudyRecord,
    StudySummary,
    as_objectives,
    best_of,
    dumps,
    json_attrs,
    json_value,
    loads,
)
from tunelab.store._schema import environments, meta, metadata, reports, studies, trials
from tunelab.trial import Report, Trial, TrialStatus

__all__ = ["SQLStore"]

T = TypeVar("T")
_MAX_RETRIES = 60
_LOCK_MESSAGES = ("database is locked", "database table is locked", "database is busy")
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock (PostgreSQL)


class _RetryIntegrity(Exception):
    """Raised inside a transaction to ask for a retry after a unique-key race."""


def _is_transient(error: sa_exc.DBAPIError) -> bool:
    text = str(error.orig).lower()
    if any(m in text for m in _LOCK_MESSAGES):
        return True
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in _RETRY_SQLSTATES


def _normalize_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        require_extra("psycopg", "postgres", "A PostgreSQL store")
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("postgresql+"):
        require_extra("psycopg", "postgres", "A PostgreSQL store")
    return url


class SQLStore(Store):
    """The durable store. ``url`` is any SQLAlchemy URL; ``sqlite:///tunelab.db`` by default.

    >>> from tunelab import SQLStore
    >>> store = SQLStore("sqlite:///:memory:")
    >>> store.list_studies()
    []
    """

    def __init__(self, url: str = "sqlite:///tunelab.db") -> None:
        self.url = url
        try:
            self._sa_url = make_url(_normalize_url(url))
            create_engine(self._sa_url)  # resolves the dialect and driver, connects to nothing
        except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
            if isinstance(exc, MissingExtraError):
                raise
            raise StoreError(
                f"cannot open store {url!r}: {exc}; use a file path, sqlite:///PATH, "
                "postgresql://USER@HOST/DB or memory"
            ) from None
        self._is_sqlite = self._sa_url.get_backend_name() == "sqlite"
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn: Connection | None = None
        self._engine = self._make_engine()
        self._prepare_statements()
        self._init_schema()

    # ------------------------------------------------------------------ engine

    def _make_engine(self) -> Engine:
        if not self._is_sqlite:
            return create_engine(self._sa_url, pool_pre_ping=True, pool_size=2, max_overflow=2)
        database = self._sa_url.database or ""
        in_memory = database in ("", ":memory:")
        if not in_memory:
            Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self._sa_url,
            connect_args={"timeout": 30, "check_same_thread": False},
            poolclass=StaticPool if in_memory else None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine

    def _connection(self) -> Connection:
        if self._pid != os.getpid():  # forked: never reuse the parent's connections
            self._engine.dispose(close=False)
            self._pid = os.getpid()
            self._conn = None
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect()
        return self._conn

    def _run(self, fn: Callable[[Connection], T], *, write: bool = True) -> T:
        """Run ``fn`` in one transaction, retrying lock errors and unique-key races."""
        delay = 0.005
        for attempt in range(_MAX_RETRIES):
            with self._lock:
                try:
                    conn = self._connection()
                    with conn.begin():
                        if self._is_sqlite:
                            # Straight to the driver: an engine "begin" listener would make
                            # SQLAlchemy dispatch events on every statement of the hot path.
                            raw: Any = conn.connection.driver_connection
                            raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                        return fn(conn)
                except _RetryIntegrity:
                    pass
                except sa_exc.DBAPIError as error:
                    if error.connection_invalidated:
                        self._conn = None
                    elif not _is_transient(error) or attempt == _MAX_RETRIES - 1:
                        raise StoreError(f"store {self.url!r}: {error.orig}") from error
                except sqlite3.OperationalError as error:
                    # From the raw BEGIN IMMEDIATE above, which SQLAlchemy does not wrap;
                    # start again on a fresh connection.
                    conn.close()
                    self._conn = None
                    if not any(m in str(error).lower() for m in _LOCK_MESSAGES) or (
                        attempt == _MAX_RETRIES - 1
                    ):
                        raise StoreError(f"store {self.url!r}: {error}") from error
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)
        raise StoreError(f"store {self.url!r}: gave up after {_MAX_RETRIES} retries")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._engine.dispose()

    # ------------------------------------------------------------------ schema

    def _init_schema(self) -> None:
        def init(conn: Connection) -> None:
            version = None
            if inspect(conn).has_table(meta.name):
                # FOR UPDATE: two processes opening an old store migrate it one at a time
                # (PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises them).
                row = conn.execute(
                    select(meta.c.value).where(meta.c.key == "schema_version").with_for_update()
                ).scalar()
                version = int(row) if row is not None else None
                if version is not None and version > SCHEMA_VERSION:
                    raise SchemaVersionError(
                        f"store {self.url!r} has schema version {version}, newer than the "
                        f"{SCHEMA_VERSION} this tunelab reads; upgrade tunelab "
                        "(pip install -U tunelab)"
                    )
            existed = inspect(conn).has_table(studies.name)
            metadata.create_all(conn)
            if existed and (version is None or version < SCHEMA_VERSION):
                self._migrate(conn, version or 1)
            if version is None:
                conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif version < SCHEMA_VERSION:
                conn.execute(
                    update(meta).where(meta.c.key == "schema_version")
                    .values(value=str(SCHEMA_VERSION))
                )

        try:
            self._run(init)
        except StoreError as error:
            if isinstance(error, SchemaVersionError):
                raise
            # Two processes creating tables at once: the loser sees "already exists".
            if "already exists" not in str(error).lower():
                raise
            self._run(init)

    def _migrate(self, conn: Connection, version: int) -> None:
        """Upgrade the tables of a store written at schema ``version``, step by step, in
        the transaction that opens it."""
        if version < 2:
            logger.info("upgrading store %r from schema version %d to 2", self.url, version)
            columns = {c["name"] for c in inspect(conn).get_columns(studies.name)}
            if "objectives" not in columns:
                conn.execute(text(f"ALTER TABLE {studies.name} ADD COLUMN objectives TEXT"))
            rows = conn.execute(
                select(studies.c.id, studies.c.metric, studies.c.direction)
                .where(studies.c.objectives.is_(None))
            ).all()
            for study_id, metric, direction in rows:
                conn.execute(
                    update(studies).where(studies.c.id == study_id)
                    .values(objectives=dumps([[metric, direction]]))
                )
        if version < 3:  # the environments table: made by create_all, nothing to move
            logger.info("upgrading store %r from schema version %d to 3", self.url,
                        max(version, 2))

    @property
    def schema_version(self) -> int:
        value = self._run(
            lambda c: c.execute(
                select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar(),
            write=False,
        )
        if value is None:
            raise StoreError(f"store {self.url!r} records no schema version")
        return int(value)

    # ------------------------------------------------------------------ statements

    def _prepare_statements(self) -> None:
        t = trials
        next_number = (
            select(func.coalesce(func.max(t.c.number), -1) + 1)
            .where(t.c.study_id == bindparam("b_study"))
            .scalar_subquery()
        )
        self._insert_trial = (
            insert(t).values(number=next_number).returning(t.c.id, t.c.number)
        )
        self._lock_study = (
            select(studies.c.id).where(studies.c.id == bindparam("b_study")).with_for_update()
        )
        self._find_waiting = (
            select(t.c.id)
            .where(t.c.study_id == bindparam("b_study"), t.c.status == TrialStatus.WAITING.value)
            .order_by(t.c.number)
            .limit(1)
        )
        self._claim = (
            update(t)
            .where(t.c.id == bindparam("b_id"), t.c.status == TrialStatus.WAITING.value)
            .values(
                status=TrialStatus.RUNNING.value,
                worker=bindparam("b_worker"),
                started_at=bindparam("b_now"),
                heartbeat_at=bindparam("b_now"),
            )
            .returning(*t.c)
        )
        finish_values: dict[str, Any] = {
            "status": bindparam("b_status"),
            "metrics": bindparam("b_metrics"),
            "value": bindparam("b_value"),
            "error": bindparam("b_error"),
            "traceback": bindparam("b_traceback"),
            "finished_at": bindparam("b_now"),
        }
        self._finish = (
            update(t).where(t.c.id == bindparam("b_id")).values(**finish_values).returning(*t.c)
        )
        self._finish_owned = (  # only the owner of a RUNNING trial can finish it
            update(t)
            .where(
                t.c.id == bindparam("b_id"),
                t.c.status == TrialStatus.RUNNING.value,
                t.c.worker == bindparam("b_worker"),
            )
            .values(**finish_values)
            .returning(*t.c)
        )
        self._insert_reports = insert(reports)
        self._heartbeat = (
            update(t)
            .where(
                t.c.id.in_(bindparam("b_ids", expanding=True)),
                t.c.status == TrialStatus.RUNNING.value,
            )
            .values(heartbeat_at=bindparam("b_now"))
        )

    # ------------------------------------------------------------------ conversions

    @staticmethod
    def _trial_from_row(row: Any, trial_reports: Sequence[Report] = ()) -> Trial:
        m = row._mapping
        return Trial(
            number=m["number"],
            status=TrialStatus(m["status"]),
            config=loads(m["config"]),
            metrics=loads(m["metrics"]) or {},
            value=None if m["value"] is None else float(m["value"]),
            created_at=m["created_at"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            error=m["error"],
            traceback=m["traceback"],
            worker=m["worker"],
            heartbeat_at=m["heartbeat_at"],
            attempt=m["attempt"],
            user_attrs=loads(m["user_attrs"]) or {},
            system_attrs=loads(m["system_attrs"]) or {},
            reports=tuple(trial_reports),
            id=m["id"],
        )

    @staticmethod
    def _study_from_row(row: Any) -> StudyRecord:
        m = row._mapping
        return StudyRecord(
            id=m["id"],
            name=m["name"],
            metric=m["metric"],
            direction=m["direction"],
            space=loads(m["space"]),
            searcher=loads(m["searcher"]),
            scheduler=loads(m["scheduler"]),
            user_attrs=loads(m["user_attrs"]) or {},
            created_at=m["created_at"],
            objectives=loads(m["objectives"]) or (),
        )

    @staticmethod
    def _report_rows(trial_id: int, items: Sequence[Report]) -> list[dict[str, Any]]:
        return [
            {"trial_id": trial_id, "step": r.step, "metrics": dumps(r.metrics), "time": r.time}
            for r in items
        ]

    # ------------------------------------------------------------------ studies

    def create_study(
        self,
        name: str,
        *,
        metric: str,
        direction: str,
        space: dict[str, Any],
        searcher: dict[str, Any],
        scheduler: dict[str, Any],
        user_attrs: dict[str, Any] | None = None,
        objectives: Sequence[tuple[str, str]] | None = None,
    ) -> StudyRecord:
        pairs = as_objectives(metric, direction, objectives)
        values = {
            "name": name,
            "metric": metric,
            "direction": direction,
            "space": dumps(space),
            "searcher": dumps(searcher),
            "scheduler": dumps(scheduler),
            "user_attrs": json_attrs(user_attrs),
            "created_at": time.time(),
            "objectives": dumps([list(p) for p in pairs]),
        }

        def create(conn: Connection) -> StudyRecord:
            row = conn.execute(select(studies).where(studies.c.name == name)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(studies).values(**values))
                except sa_exc.IntegrityError:
                    raise _RetryIntegrity() from None
                row = conn.execute(select(studies).where(studies.c.name == name)).one()
            return self._study_from_row(row)

        return self._run(create)

    def get_study(self, name: str) -> StudyRecord:
        row = self._run(
            lambda c: c.execute(select(studies).where(studies.c.name == name)).first(),
            write=False,
        )
        if row is None:
            raise StudyNotFoundError(
                f"no study named {name!r} in store {self.url!r}; "
                f"known: {sorted(s.name for s in self.list_studies())}"
            )
        return self._study_from_row(row)

    def list_studies(self) -> list[StudySummary]:
        t = trials

        def read(conn: Connection) -> list[StudySummary]:
            rows = conn.execute(select(studies).order_by(studies.c.id)).all()
            stats = conn.execute(
                select(
                    t.c.study_id,
                    t.c.status,
                    func.count(),
                    func.min(t.c.value),
                    func.max(t.c.value),
                    func.max(func.coalesce(t.c.finished_at, t.c.started_at, t.c.created_at)),
                ).group_by(t.c.study_id, t.c.status)
            ).all()
            by_study: dict[int, list[Any]] = {}
            for s in stats:
                by_study.setdefault(s[0], []).append(s)
            out = []
            for row in rows:
                rec = self._study_from_row(row)
                mine = by_study.get(rec.id, [])
                counts = {s[1]: int(s[2]) for s in mine}
                done = [s for s in mine if s[1] == TrialStatus.COMPLETE.value]
                best = best_of(
                    [s[3] if rec.direction == "min" else s[4] for s in done], rec.direction
                )
                stamps = [s[5] for s in mine if s[5] is not None]
                out.append(
                    StudySummary(
                        name=rec.name,
                        metric=rec.metric,
                        direction=rec.direction,
                        n_trials=sum(counts.values()),
                        counts=counts,
                        best_value=best,
                        created_at=rec.created_at,
                        last_update=max(stamps) if stamps else None,
                        objectives=rec.objectives,
                    )
                )
            return out

        return self._run(read, write=False)

    def delete_study(self, name: str) -> None:
        record = self.get_study(name)

        def remove(conn: Connection) -> None:
            ids = select(trials.c.id).where(trials.c.study_id == record.id)
            conn.execute(delete(reports).where(reports.c.trial_id.in_(ids)))
            conn.execute(delete(trials).where(trials.c.study_id == record.id))
            conn.execute(delete(studies).where(studies.c.id == record.id))

        self._run(remove)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        encoded = json_value(key, value)

        def write(conn: Connection) -> None:
            current = conn.execute(
                select(studies.c.user_attrs).where(studies.c.id == study_id).with_for_update()
            ).scalar()
            attrs = loads(current) or {}
            attrs[key] = loads(encoded)
            conn.execute(
                update(studies).where(studies.c.id == study_id).values(user_attrs=dumps(attrs))
            )

        self._run(write)

    def set_study_searcher(self, study_id: int, spec: dict[str, Any]) -> None:
        encoded = dumps(spec)
        self._run(
            lambda c: c.execute(
                update(studies).where(studies.c.id == study_id).values(searcher=encoded)
            )
        )

    def set_study_scheduler(self, study_id: int, spec: dict[str, Any]) -> None:
        encoded = dumps(spec)
        self._run(
            lambda c: c.execute(
                update(studies).where(studies.c.id == study_id).values(scheduler=encoded)
            )
        )

    # ------------------------------------------------------------------ trials

    def create_trial(
        self,
        study_id: int,
        config: dict[str, Any],
        *,
        status: TrialStatus,
        worker: str | None = None,
        user_attrs: dict[str, Any] | None = None,
        system_attrs: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        value: float | None = None,
    ) -> Trial:
        now = time.time()
        running = status is TrialStatus.RUNNING
        finished = status.is_finished
        params: dict[str, Any] = {
            "b_study": study_id,
            "study_id": study_id,
            "status": status.value,
            "config": dumps(config),
            "created_at": now,
            "started_at": now if running else None,
            "heartbeat_at": now if running else None,
            "worker": worker if running else None,
            "attempt": 1,
            "user_attrs": json_attrs(user_attrs),
            "system_attrs": dumps(system_attrs or {}),
            "metrics": dumps(metrics) if metrics else None,
            "value": value,
            "finished_at": now if finished else None,
        }

        def create(conn: Connection) -> tuple[int, int]:
            if not self._is_sqlite:
                # Take the next number in turn: many drivers racing for MAX(number) + 1
                # would mostly lose, back off and retry (SQLite's BEGIN IMMEDIATE
                # already serialises writers).
                conn.execute(self._lock_study, {"b_study": study_id})
            try:
                row = conn.execute(self._insert_trial, params).one()
            except sa_exc.IntegrityError:
                raise _RetryIntegrity() from None  # another process took the number
            return int(row[0]), int(row[1])

        trial_id, number = self._run(create)
        return Trial(
            number=number,
            status=status,
            config=dict(config),
            created_at=now,
            started_at=params["started_at"],
            heartbeat_at=params["heartbeat_at"],
            worker=params["worker"],
            user_attrs=loads(params["user_attrs"]),
            system_attrs=dict(system_attrs or {}),
            metrics=loads(params["metrics"]) or {},
            value=value,
            finished_at=params["finished_at"],
            id=trial_id,
        )

    def claim_waiting(self, study_id: int, worker: str) -> Trial | None:
        while True:
            found = self._run(
                lambda c: c.execute(self._find_waiting, {"b_study": study_id}).scalar(),
                write=False,
            )
            if found is None:
                return None

            def claim(c: Connection, tid: int = found) -> Any:
                return c.execute(
                    self._claim, {"b_id": tid, "b_worker": worker, "b_now": time.time()}
                ).first()

            row = self._run(claim)
            if row is not None:
                return self._trial_from_row(row)
            # another driver claimed it first: look again

    def add_reports(self, trial_id: int, items: Sequence[Report]) -> None:
        if items:
            rows = self._report_rows(trial_id, items)
            self._run(lambda c: c.execute(self._insert_reports, rows))

    def finish_trial(
        self,
        trial_id: int,
        *,
        status: TrialStatus,
        metrics: dict[str, float] | None = None,
        value: float | None = None,
        error: str | None = None,
        traceback: str | None = None,
        reports: Sequence[Report] = (),
        worker: str | None = None,
        system_attrs: dict[str, Any] | None = None,
    ) -> Trial | None:
        params = {
            "b_id": trial_id,
            "b_status": status.value,
            "b_metrics": dumps(metrics or {}),
            "b_value": value,
            "b_error": error,
            "b_traceback": traceback,
            "b_now": time.time(),
        }
        if worker is not None:
            params["b_worker"] = worker
        statement = self._finish if worker is None else self._finish_owned
        if system_attrs is not None:
            statement = statement.values(system_attrs=dumps(system_attrs))
        rows = self._report_rows(trial_id, reports)

        def finish(conn: Connection) -> Any:
            row = conn.execute(statement, params).first()
            if row is not None and rows:
                conn.execute(self._insert_reports, rows)
            return row

        row = self._run(finish)
        if row is None:
            if worker is not None:
                return None  # no longer this worker's trial: its result is dropped
            raise TrialNotFoundError(f"no trial with id {trial_id} in store {self.url!r}")
        return self._trial_from_row(row)

    def _transition(
        self,
        trial_id: int,
        *,
        from_status: TrialStatus,
        worker: str | None,
        values: dict[str, Any],
        reports_rows: list[dict[str, Any]] | None = None,
    ) -> Trial | None:
        """Move a trial out of ``from_status`` (owned by ``worker`` when given) in one
        guarded UPDATE; None when it was not in that state."""
        t = trials
        statement = update(t).where(t.c.id == trial_id, t.c.status == from_status.value)
        if worker is not None:
            statement = statement.where(t.c.worker == worker)
        statement = statement.values(**values).returning(*t.c)

        def move(conn: Connection) -> Any:
            row = conn.execute(statement).first()
            if row is not None and reports_rows:
                conn.execute(self._insert_reports, reports_rows)
            if row is None and (
                conn.execute(select(t.c.id).where(t.c.id == trial_id)).first() is None
            ):
                raise TrialNotFoundError(f"no trial with id {trial_id} in store {self.url!r}")
            return row

        row = self._run(move)
        return None if row is None else self._trial_from_row(row)

    def pause_trial(
        self,
        trial_id: int,
        *,
        worker: str,
        metrics: dict[str, float],
        value: float | None,
        reports: Sequence[Report] = (),
        system_attrs: dict[str, Any],
    ) -> Trial | None:
        return self._transition(
            trial_id,
            from_status=TrialStatus.RUNNING,
            worker=worker,
            values={
                "status": TrialStatus.PAUSED.value,
                "metrics": dumps(metrics),
                "value": value,
                "worker": None,
                "heartbeat_at": None,
                "system_attrs": dumps(system_attrs),
            },
            reports_rows=self._report_rows(trial_id, reports),
        )

    def set_trial_system_attrs(self, trial_id: int, attrs: dict[str, Any]) -> None:
        encoded = dumps(attrs)
        self._run(lambda c: c.execute(
            update(trials).where(trials.c.id == trial_id).values(system_attrs=encoded)))

    def repause_trial(
        self, trial_id: int, *, expected_worker: str | None, step: int,
        system_attrs: dict[str, Any],
    ) -> bool:
        t = trials
        encoded = dumps(system_attrs)

        def repause(conn: Connection) -> bool:
            row = conn.execute(
                select(t.c.status, t.c.worker, t.c.attempt).where(t.c.id == trial_id)
                .with_for_update()
            ).first()
            if row is None or row[0] != TrialStatus.RUNNING.value or row[1] != expected_worker:
                return False
            conn.execute(delete(reports).where(reports.c.trial_id == trial_id,
                                               reports.c.step > step))
            conn.execute(
                update(t).where(t.c.id == trial_id).values(
                    status=TrialStatus.PAUSED.value, worker=None, heartbeat_at=None,
                    attempt=row[2] + 1, system_attrs=encoded,
                )
            )
            return True

        return self._run(repause)

    def retry_trial(
        self, trial_id: int, *, worker: str, step: int, system_attrs: dict[str, Any]
    ) -> Trial | None:
        t = trials
        encoded = dumps(system_attrs)

        def retry(conn: Connection) -> Any:
            row = conn.execute(
                update(t)
                .where(t.c.id == trial_id, t.c.status == TrialStatus.RUNNING.value,
                       t.c.worker == worker)
                .values(attempt=t.c.attempt + 1, heartbeat_at=time.time(),
                        system_attrs=encoded)
                .returning(*t.c)
            ).first()
            if row is not None:
                conn.execute(delete(reports).where(reports.c.trial_id == trial_id,
                                                   reports.c.step > step))
            return row

        row = self._run(retry)
        return None if row is None else self._trial_from_row(row)

    def resume_trial(
        self, trial_id: int, *, worker: str, system_attrs: dict[str, Any]
    ) -> Trial | None:
        return self._transition(
            trial_id,
            from_status=TrialStatus.PAUSED,
            worker=None,
            values={
                "status": TrialStatus.RUNNING.value,
                "worker": worker,
                "heartbeat_at": time.time(),
                "system_attrs": dumps(system_attrs),
            },
        )

    def count_trials(
        self, study_id: int, *, statuses: Sequence[TrialStatus] | None = None
    ) -> int:
        t = trials
        query = select(func.count()).select_from(t).where(t.c.study_id == study_id)
        if statuses is not None:
            query = query.where(t.c.status.in_([s.value for s in statuses]))
        return int(self._run(lambda c: c.execute(query).scalar() or 0, write=False))

    def heartbeat(self, trial_ids: Sequence[int]) -> None:
        if trial_ids:
            ids = list(trial_ids)
            self._run(lambda c: c.execute(self._heartbeat, {"b_ids": ids, "b_now": time.time()}))

    def requeue_trial(self, trial_id: int, *, expected_worker: str | None, reason: str) -> bool:
        t = trials

        def requeue(conn: Connection) -> bool:
            row = conn.execute(
                select(t.c.status, t.c.worker, t.c.system_attrs, t.c.attempt)
                .where(t.c.id == trial_id)
                .with_for_update()
            ).first()
            if row is None or row[0] != TrialStatus.RUNNING.value or row[1] != expected_worker:
                return False
            attrs = loads(row[2]) or {}
            attrs["requeued"] = reason
            conn.execute(delete(reports).where(reports.c.trial_id == trial_id))
            conn.execute(
                update(t)
                .where(t.c.id == trial_id)
                .values(
                    status=TrialStatus.WAITING.value,
                    worker=None,
                    started_at=None,
                    heartbeat_at=None,
                    attempt=row[3] + 1,
                    system_attrs=dumps(attrs),
                )
            )
            return True

        return self._run(requeue)

    def _reports_for(
        self, conn: Connection, trial_ids: Sequence[int] | Any
    ) -> dict[int, list[Report]]:
        out: dict[int, list[Report]] = {}
        rows = conn.execute(
            select(reports.c.trial_id, reports.c.step, reports.c.metrics, reports.c.time)
            .where(reports.c.trial_id.in_(trial_ids))
            .order_by(reports.c.trial_id, reports.c.id)
        )
        for tid, step, metrics, stamp in rows:
            out.setdefault(tid, []).append(Report(step, loads(metrics), stamp))
        return out

    def get_trials(
        self,
        study_id: int,
        *,
        statuses: Sequence[TrialStatus] | None = None,
        with_reports: bool = False,
        min_number: int | None = None,
        numbers: Sequence[int] | None = None,
    ) -> list[Trial]:
        t = trials

        def read(conn: Connection) -> list[Trial]:
            where = [t.c.study_id == study_id]
            if statuses is not None:
                where.append(t.c.status.in_([s.value for s in statuses]))
            if min_number is not None:
                where.append(t.c.number >= int(min_number))
            if numbers is not None:
                where.append(t.c.number.in_([int(n) for n in numbers]))
            rows = conn.execute(select(t).where(*where).order_by(t.c.number)).all()
            by_trial: dict[int, list[Report]] = {}
            if with_reports and rows:
                ids = select(t.c.id).where(*where)
                by_trial = self._reports_for(conn, ids)
            return [self._trial_from_row(r, by_trial.get(r._mapping["id"], ())) for r in rows]

        return self._run(read, write=False)

    def get_trial(self, study_id: int, number: int, *, with_reports: bool = True) -> Trial:
        t = trials

        def read(conn: Connection) -> Trial | None:
            row = conn.execute(
                select(t).where(t.c.study_id == study_id, t.c.number == number)
            ).first()
            if row is None:
                return None
            items: list[Report] = []
            if with_reports:
                items = self._reports_for(conn, [row._mapping["id"]]).get(row._mapping["id"], [])
            return self._trial_from_row(row, items)

        trial = self._run(read, write=False)
        if trial is None:
            raise TrialNotFoundError(f"no trial number {number!r} in this study")
        return trial

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        encoded = json_value(key, value)

        def write(conn: Connection) -> None:
            current = conn.execute(
                select(trials.c.user_attrs).where(trials.c.id == trial_id).with_for_update()
            ).scalar()
            attrs = loads(current) or {}
            attrs[key] = loads(encoded)
            conn.execute(
                update(trials).where(trials.c.id == trial_id).values(user_attrs=dumps(attrs))
            )

        self._run(write)

    # ------------------------------------------------------------------ environments

    def save_environment(self, card_hash: str, card: dict[str, Any]) -> None:
        encoded = json_value("environment", card)
        key = str(card_hash)

        def save(conn: Connection) -> None:
            found = conn.execute(
                select(environments.c.hash).where(environments.c.hash == key)
            ).first()
            if found is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(environments).values(
                            hash=key, card=encoded, created_at=time.time()))
                except sa_exc.IntegrityError:
                    pass  # another process stored the same card meanwhile

        self._run(save)

    def get_environment(self, card_hash: str) -> dict[str, Any] | None:
        text_ = self._run(
            lambda c: c.execute(
                select(environments.c.card).where(environments.c.hash == str(card_hash))
            ).scalar(),
            write=False,
        )
        return None if text_ is None else loads(text_)
