"""The record store: every screening the service answered, append-only, in SQLite or PostgreSQL.

A record keeps what a clinic must be able to show later, as it keeps a consent form: the intake as received, the
result as returned (verdict, reasons, ruleset revision and hash, policy, engine, decision id, timestamp), who
submitted it and for which clinic (``tenant``), and for a re-screening the record it replaces and what changed.
Records are never updated or deleted; a correction is a new record. The migrations add database triggers that
refuse ``UPDATE``, ``DELETE``, an insert that would replace a row (SQLite's ``INSERT OR REPLACE``) and
``TRUNCATE`` (PostgreSQL), so this holds for any client of the database, not only for this module; on PostgreSQL
the service's own role is also granted only ``SELECT`` and ``INSERT`` (``docs/deployment.md``).

Each record is sealed into a hash chain (:mod:`needlescreen.server.chain`) as it is stored, so a change made
around the triggers (a superuser, a copy of the SQLite file) is found by :meth:`Store.verify`. Records are sealed
one at a time, across every worker process: SQLite takes its write lock before the newest seal is read
(``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-level advisory lock.

Each worker process builds its own :class:`Store` (its own SQLAlchemy engine and connection pool). A record is
committed before the service answers 2xx, so a killed worker loses no acknowledged record; SQLite syncs each commit
to disk (``synchronous=FULL``) unless the ``sqlite_sync`` setting says ``NORMAL``. The records a worker's threads
hand in while one of them writes are committed together in its next transaction (one sync for all of them).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from .chain import GENESIS, ChainReport, seal, verify

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's own busy wait serves
    fcntl = None  # type: ignore[assignment]

__all__ = ["Base", "Page", "ScreeningRecord", "Store", "migrate", "normalise_url"]


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""


class ScreeningRecord(Base):
    """One screening as answered: intake and result as JSON text, with the columns a list is filtered by."""

    __tablename__ = "screening_records"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)  # the result's decision id
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    submitted_by: Mapped[str] = mapped_column(String(64))
    #: The clinic of the key that stored it (None: stored without keys or by an admin key).
    tenant: Mapped[str | None] = mapped_column(String(64))
    patient_ref: Mapped[str | None] = mapped_column(String(64))
    clinician: Mapped[str | None] = mapped_column(String(200))
    clinic: Mapped[str | None] = mapped_column(String(200))
    encounter_date: Mapped[dt.date | None] = mapped_column(Date)
    verdict: Mapped[str] = mapped_column(String(8))
    technique: Mapped[str] = mapped_column(String(16))
    ruleset_name: Mapped[str] = mapped_column(String(200))
    ruleset_revision: Mapped[str] = mapped_column(String(64))
    ruleset_hash: Mapped[str] = mapped_column(String(64))
    policy_source: Mapped[str] = mapped_column(String(500))
    engine: Mapped[str] = mapped_column(String(16))
    package_version: Mapped[str] = mapped_column(String(64))
    previous_id: Mapped[str | None] = mapped_column(String(36), ForeignKey("screening_records.id"))
    intake_json: Mapped[str] = mapped_column(Text)
    result_json: Mapped[str] = mapped_column(Text)
    changes_json: Mapped[str | None] = mapped_column(Text)
    #: The seal of the record before it, and this record's own seal (:mod:`needlescreen.server.chain`).
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    record_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_screening_records_patient_ref", "patient_ref", "seq"),
        Index("ix_screening_records_verdict", "verdict", "seq"),
        Index("ix_screening_records_created_at", "created_at"),
        Index("ix_screening_records_tenant", "tenant", "seq"),
    )


_COLUMNS = tuple(c for c in ScreeningRecord.__table__.columns if c.key not in ("seq", "prev_hash", "record_hash"))
#: What a write stores: every column but ``seq``, which the database gives.
_WRITTEN = tuple(c.key for c in ScreeningRecord.__table__.columns if c.key != "seq")
# Plain SQL, run as written: the newest seal is read once per write, and compiling a select costs more than running it.
_HEAD = "SELECT record_hash FROM screening_records ORDER BY seq DESC LIMIT 1"
#: The PostgreSQL advisory lock that makes sealing one writer at a time ("need" in ASCII).
_CHAIN_LOCK = 0x6E656564
#: The triggers that keep the records append-only, by dialect (``verify`` reports any that is missing or disabled).
GUARDS = {
    "sqlite": ("screening_records_no_delete", "screening_records_no_replace", "screening_records_no_update"),
    "postgresql": ("screening_records_append_only", "screening_records_no_truncate"),
}


@dataclass(slots=True)
class _Pending:
    """A record waiting for a writer: its values, and once written whether it was committed."""

    values: dict[str, Any]
    done: bool = False
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, newest first; ``next_cursor`` continues it (None on the last page)."""

    items: Sequence[ScreeningRecord]
    next_cursor: int | None


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given without a driver (``postgresql://`` or ``postgres://``)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _engine(url: str, sqlite_sync: str = "FULL") -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            # The driver's own transaction handling starts a transaction only at the first write, too late to seal
            # a record against the newest seal: transactions are begun explicitly instead.
            conn.isolation_level = None
            cur = conn.cursor()
            # WAL lets readers and one writer work at once across worker processes. FULL syncs each commit to
            # disk, so an acknowledged record survives a power loss or OS crash; NORMAL (a setting) only a crash
            # or kill of the process.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_sync}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Reads run in a transaction of their own (one snapshot); a writer begins IMMEDIATE itself (Store._write).
            conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _writer_lock_file(engine: Engine) -> int | None:
    """The file the worker processes of one SQLite database queue on to write (None: not a SQLite file)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if fcntl is None or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)


def migrate(url: str) -> None:
    """Bring the database to the newest schema (Alembic ``upgrade head``), creating it when new."""
    from alembic import command
    from alembic.config import Config

    engine = _engine(url)
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


class Store:
    """Reads and appends screening records; there is no method that changes or removes one."""

    def __init__(self, url: str, *, sqlite_sync: Literal["FULL", "NORMAL"] = "FULL") -> None:
        if sqlite_sync not in ("NORMAL", "FULL"):
            raise ValueError("sqlite_sync must be NORMAL or FULL")
        self.url = normalise_url(url)
        self.engine = _engine(self.url, sqlite_sync)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Records are sealed one writer at a time (the chain), and SQLite makes a waiting writer sleep and retry
        # (1 ms, 2 ms, 5 ms, ...): threads of one worker queue on a lock instead, and whoever holds it commits every
        # record waiting by then in one transaction (group commit: one sync to disk for all of them).
        self._write_lock = threading.Lock()
        self._lock_file = _writer_lock_file(self.engine)
        self._pending_lock = threading.Lock()
        self._pending: list[_Pending] = []
        # The write path's SQL and conversions, made once by SQLAlchemy for this database's driver.
        dialect = self.engine.dialect
        table = ScreeningRecord.__table__
        self._convert = [(key, table.c[key].type.dialect_impl(dialect).bind_processor(dialect)) for key in _WRITTEN]
        self._positional = dialect.paramstyle in ("qmark", "format", "numeric")
        marks = {"qmark": "?", "format": "%s"}.get(dialect.paramstyle)
        placeholders = [marks or f"%({key})s" for key in _WRITTEN]
        self._insert = f"INSERT INTO screening_records ({', '.join(_WRITTEN)}) VALUES ({', '.join(placeholders)})"
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):  # pragma: no cover - neither SQLite nor psycopg
            raise ValueError(f"unsupported database driver parameter style {dialect.paramstyle!r}")
        self._begin = "BEGIN IMMEDIATE" if self.dialect == "sqlite" else f"SELECT pg_advisory_xact_lock({_CHAIN_LOCK})"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def ping(self) -> None:
        """Raise unless the database answers and holds the records table."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM screening_records WHERE seq < 0"))

    def _write(self, batch: list[_Pending]) -> None:
        """Seal the batch in order onto the newest seal and commit it, this process alone (module docstring).

        Written through the driver's own connection, with SQL and value conversions SQLAlchemy made once in
        ``__init__``: per record this costs about half what a Core ``INSERT`` and its transaction cost.
        """
        with self._across_processes():
            raw = self.engine.raw_connection()
            try:
                cursor = raw.cursor()
                try:
                    cursor.execute(self._begin)
                    cursor.execute(_HEAD)
                    head = cursor.fetchone()
                    prev = GENESIS if head is None else head[0] or ""
                    for pending in batch:
                        pending.values["prev_hash"] = prev
                        prev = pending.values["record_hash"] = seal(pending.values, prev)
                        # One statement per record, in order: each takes the next seq, as its seal expects.
                        cursor.execute(self._insert, self._parameters(pending.values))
                    raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
                finally:
                    cursor.close()
            finally:
                raw.close()

    def _parameters(self, values: dict[str, Any]) -> Any:
        converted = {key: (convert(values[key]) if convert else values[key]) for key, convert in self._convert}
        return tuple(converted.values()) if self._positional else converted

    @contextlib.contextmanager
    def _across_processes(self) -> Iterator[None]:
        # SQLite's own wait for a write lock held by another process sleeps and retries (1 ms, 2 ms, 5 ms, ... up to
        # 100 ms), which at a sync to disk per commit made the slowest stored screenings wait 300 ms: the workers
        # queue on a file lock beside the database instead, which wakes the next one the moment it is free.
        if self._lock_file is None:
            yield
            return
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def add(self, record: ScreeningRecord) -> ScreeningRecord:
        """Seal one record onto the chain, append it and commit (the caller answers 2xx only after this returns).

        Raises:
            Exception: whatever the database raised; the record was not stored.
        """
        # A Core INSERT of the mapped columns: the ORM's unit of work costs more than the write itself here.
        mine = _Pending({c.key: getattr(record, c.key) for c in _COLUMNS})
        with self._pending_lock:
            self._pending.append(mine)
        with self._write_lock:
            if not mine.done:  # else a thread that held the lock before committed it with its own
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        if mine.error is not None:
            raise mine.error
        record.prev_hash, record.record_hash = mine.values["prev_hash"], mine.values["record_hash"]
        return record

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._write(batch)
        except Exception as exc:
            if len(batch) > 1:
                # Nothing of the batch was stored: write each on its own, so a record fails only for its own fault.
                for pending in batch:
                    self._commit([pending])
                return
            batch[0].error = exc
        for pending in batch:
            pending.done = True

    def get(self, record_id: str, *, scope: str | None = None) -> ScreeningRecord | None:
        """A record by its id (the decision id of its result); with ``scope``, only a record of that clinic."""
        query = select(ScreeningRecord).where(ScreeningRecord.id == record_id)
        if scope is not None:
            query = query.where(ScreeningRecord.tenant == scope)
        with self._sessions() as session:
            return session.scalars(query).first()

    def current_intakes(self, *, scope: str | None = None) -> list[tuple[str, str]]:
        """``(record id, intake JSON)`` of every screening's current version, oldest first (a record a re-screen
        superseded is left out): the cohort an impact report screens. With ``scope``, one clinic's records."""
        query = select(ScreeningRecord.id, ScreeningRecord.previous_id, ScreeningRecord.intake_json).order_by(
            ScreeningRecord.seq
        )
        if scope is not None:
            query = query.where(ScreeningRecord.tenant == scope)
        with self._sessions() as session:
            rows = session.execute(query).all()
        superseded = {previous for _id, previous, _intake in rows if previous is not None}
        return [(record_id, intake) for record_id, _previous, intake in rows if record_id not in superseded]

    def list(
        self,
        *,
        limit: int,
        cursor: int | None = None,
        patient_ref: str | None = None,
        verdict: str | None = None,
        date_from: dt.date | None = None,
        date_to: dt.date | None = None,
        encounter_date: dt.date | None = None,
        scope: str | None = None,
    ) -> Page:
        """Records newest first, filtered; ``date_from``/``date_to`` bound the screening date (UTC), inclusive.

        With ``scope``, only the records of that clinic.
        """
        query = select(ScreeningRecord).order_by(ScreeningRecord.seq.desc()).limit(limit + 1)
        if scope is not None:
            query = query.where(ScreeningRecord.tenant == scope)
        if cursor is not None:
            query = query.where(ScreeningRecord.seq < cursor)
        if patient_ref is not None:
            query = query.where(ScreeningRecord.patient_ref == patient_ref)
        if verdict is not None:
            query = query.where(ScreeningRecord.verdict == verdict)
        if encounter_date is not None:
            query = query.where(ScreeningRecord.encounter_date == encounter_date)
        if date_from is not None:
            start = dt.datetime.combine(date_from, dt.time.min, tzinfo=dt.UTC)
            query = query.where(ScreeningRecord.created_at >= start)
        if date_to is not None and date_to < dt.date.max:
            end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
            query = query.where(ScreeningRecord.created_at < end)
        with self._sessions() as session:
            rows = list(session.scalars(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(rows, rows[-1].seq if more and rows else None)

    def guards(self) -> tuple[str, ...]:
        """The append-only triggers that are missing or disabled (an empty list: all in place)."""
        if self.dialect == "postgresql":
            found = text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'screening_records'::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'"
            )
        else:
            found = text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'screening_records'")
        with self.engine.connect() as conn:
            present = set(conn.execute(found).scalars())
        return tuple(name for name in GUARDS.get(self.dialect, ()) if name not in present)

    def verify(self, *, scope: str | None = None, anchor: str | None = None) -> ChainReport:
        """Check every record against its seal and the seal before it (:func:`needlescreen.server.chain.verify`).

        With ``scope``, only that clinic's records are checked (the others' seals still link the chain).
        """
        table = ScreeningRecord.__table__
        query = select(table).order_by(table.c.seq)
        with self.engine.connect() as conn:
            # One statement, streamed: one consistent snapshot, without holding every record in memory.
            rows = conn.execution_options(yield_per=256).execute(query).mappings()
            report = verify(rows, scope=scope, anchor=anchor)
        report.missing_guards = list(self.guards())
        return report

    def close(self) -> None:
        """Close the connection pool."""
        self.engine.dispose()
        if self._lock_file is not None:
            os.close(self._lock_file)
            self._lock_file = None
