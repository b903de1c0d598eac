"""The relational schema (SQLAlchemy Core) and its version.

Times are seconds since the epoch (floats); configs, metrics and attributes are JSON text,
parsed with ``json`` only.

Versions (``tunelab_meta.schema_version``; ``SQLStore`` upgrades older stores in place):

1. the first schema;
2. ``tunelab_studies.objectives``: JSON list of ``[metric, direction]`` pairs, the
   primary one first (filled with the one target for studies of version 1);
3. ``tunelab_environments``: environment cards (JSON) keyed by their hash, each stored
   once however many trials ran on it (trials name theirs in ``system_attrs["env"]``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = ["environments", "meta", "metadata", "reports", "studies", "trials"]

metadata = MetaData()

#: key/value rows; ``schema_version`` is the one that matters.
meta = Table(
    "tunelab_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

studies = Table(
    "tunelab_studies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("metric", String(255), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("space", Text, nullable=False),
    Column("searcher", Text, nullable=False),
    Column("scheduler", Text, nullable=False),
    Column("user_attrs", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    # Nullable so that ALTER TABLE can add it to a version-1 store; always written since.
    Column("objectives", Text, nullable=True),
)

trials = Table(
    "tunelab_trials",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "study_id", Integer, ForeignKey("tunelab_studies.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("config", Text, nullable=False),
    Column("metrics", Text, nullable=True),
    Column("value", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("heartbeat_at", Float, nullable=True),
    Column("worker", String(255), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("traceback", Text, nullable=True),
    Column("user_attrs", Text, nullable=False),
    Column("system_attrs", Text, nullable=False),
    UniqueConstraint("study_id", "number", name="uq_tunelab_trials_study_number"),
    Index("ix_tunelab_trials_study_status", "study_id", "status"),
)

reports = Table(
    "tunelab_reports",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column(
        "trial_id", BigInteger, ForeignKey("tunelab_trials.id", ondelete="CASCADE"), nullable=False
    ),
    Column("step", Integer, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("time", Float, nullable=False),
    Index("ix_tunelab_reports_trial", "trial_id", "step"),
)

#: Environment cards (tunelab.tracking), one row per distinct environment.
environments = Table(
    "tunelab_environments",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("card", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)
