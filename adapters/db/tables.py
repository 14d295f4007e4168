"""Tables. The schema changes only through the Alembic migrations in ``migrations/``.

The tables about a run (transitions, outputs, plan attempts, orders, history) carry its ``run_id``
without a foreign key (0010): every write about a run is fenced on the run's row in the same
statement, and runs are never deleted."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


ACTIVE = "status IN ('RUNNING', 'BLOCKED')"

runs = Table(
    "runs", metadata,
    Column("id", String(40), primary_key=True),
    Column("account", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("seq", Integer, nullable=False, default=0),
    Column("max_phase", Integer, nullable=False),
    Column("planner", String(32), nullable=False),
    Column("policy", JSON),  # the rebalancing policy and its parameters; null: threshold (0007)
    Column("actor", String(64), nullable=False),
    Column("sell_attempts", Integer, nullable=False, default=0),
    Column("buy_attempts", Integer, nullable=False, default=0),
    Column("thresholds", JSON, nullable=False),
    Column("targets", JSON, nullable=False),
    Column("error", Text),
    Column("blocked_reason", Text),
    Column("engine_version", String(16), nullable=False),
    Column("checkpoint_format", Integer, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime),
    # fencing: +1 on every acquisition by a new owner; every write about the run checks it (0003)
    Column("lease_epoch", Integer, nullable=False, default=0, server_default=text("0")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index("uq_runs_active_account", "account", unique=True,
          sqlite_where=text(ACTIVE), postgresql_where=text(ACTIVE)),
    Index("ix_runs_status", "status"),
)

run_transitions = Table(
    "run_transitions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("trigger", String(40), nullable=False),
    Column("source", String(32), nullable=False),
    Column("dest", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", Text),
    Column("at", UTCDateTime, nullable=False),
    Column("duration_ms", Integer),
    Column("status", String(16)),
    UniqueConstraint("run_id", "seq", name="uq_run_transitions_run_seq"),
)

step_outputs = Table(
    "step_outputs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("run_id", "seq", "kind", name="uq_step_outputs_run_seq_kind"),
)

plan_attempts = Table(
    "plan_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("side", String(8), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("planner", String(32), nullable=False),
    Column("plan", JSON),
    Column("error", Text),
    Column("checks", JSON, nullable=False),
    Column("passed", Boolean),
    Column("meta", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("run_id", "side", "attempt", name="uq_plan_attempts_run_side_attempt"),
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False),
    Column("account", String(64), nullable=False),
    Column("side", String(8), nullable=False),
    Column("ticker", String(12), nullable=False),
    Column("name", String(128), nullable=False, default=""),
    Column("quantity", BigInteger, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("odno", String(20)),
    Column("org_no", String(10)),
    Column("filled_quantity", BigInteger, nullable=False, default=0),
    Column("avg_price", Float, nullable=False, default=0.0),
    Column("amount", BigInteger, nullable=False, default=0),
    Column("fees", BigInteger, nullable=False, default=0),
    Column("sends", Integer, nullable=False, default=0),
    Column("send_started_at", UTCDateTime),  # the last send's start: a takeover waits past it (0003)
    Column("broker_code", String(16)),
    Column("message", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    UniqueConstraint("run_id", "side", "ticker", "seq", name="uq_orders_run_side_ticker_seq"),
    Index("ix_orders_account_odno", "account", "odno"),
)

ai_strategy_decisions = Table(
    "ai_strategy_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("mp_id", String(32), nullable=False),
    Column("mp", JSON, nullable=False),
    Column("sub_mp", JSON, nullable=False),
    Column("names", JSON, nullable=False),
    Column("decided_by", String(64)),  # 0006: the CLI user / --by, the API caller, "web"
)

rebalancing_config = Table(
    "rebalancing_config", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mp_threshold_percent", Float, nullable=False, default=3.0),
    Column("sub_mp_threshold_percent", Float, nullable=False, default=5.0),
    Column("updated_at", UTCDateTime, nullable=False),
)

rebalancing_history = Table(
    "rebalancing_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(40), nullable=False, unique=True),
    Column("executed_at", UTCDateTime, nullable=False),
    Column("account", String(64), nullable=False),
    Column("mp_threshold_percent", Float, nullable=False),
    Column("sub_mp_threshold_percent", Float, nullable=False),
    Column("drift_before", JSON),
    Column("drift_after", JSON),
    Column("trades", JSON, nullable=False),
    Column("total_cost", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_message", Text),
    # the buy-side recovery of a PARTIAL run: first outcome and each attempt (0005)
    Column("recovery", JSON),
    Column("policy", String(64)),  # the run's policy label (0007)
)

schedule_claims = Table(
    "schedule_claims", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(128), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("run_id", String(40)),
    Column("outcome", Text),
    UniqueConstraint("account", "due_at", name="uq_schedule_claims_account_due_at"),
)

# accounts as data (0008): WHERE credentials come from (names, a path), never a secret
accounts = Table(
    "accounts", metadata,
    Column("alias", String(64), primary_key=True),
    Column("broker", String(16), nullable=False),
    Column("masked_number", String(32)),
    Column("appkey_env", String(64)),
    Column("appsecret_env", String(64)),
    Column("account_env", String(64)),
    Column("credentials_file", String(512)),
    Column("portfolio", String(64)),  # NULL: the strategist's latest decision
    Column("thresholds", JSON),  # NULL: the global thresholds
    Column("schedule_cron", String(120)),  # NULL: the global schedule
    Column("sim_account_path", String(512)),
    Column("enabled", Boolean, nullable=False, default=True, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# named targets, append-only: the newest row of a name is that portfolio (0008)
portfolios = Table(
    "portfolios", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("mp_id", String(32), nullable=False),
    Column("mp", JSON, nullable=False),
    Column("sub_mp", JSON, nullable=False),
    Column("names", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_portfolios_name_id", "name", "id"),
)

_ = (datetime,)
