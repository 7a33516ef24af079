"""outbox tasks: each subscriber's progress on each event

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 08:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import keyrelay.kit.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox_tasks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subscriber", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", keyrelay.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("done_at", keyrelay.kit.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", keyrelay.kit.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["outbox.id"], name=op.f("fk_outbox_tasks_event_id_outbox"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_tasks")),
        sa.UniqueConstraint("event_id", "subscriber", name=op.f("uq_outbox_tasks_event_id_subscriber")),
    )
    with op.batch_alter_table("outbox_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_tasks_due", ["status", "available_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_tasks_due")
    op.drop_table("outbox_tasks")
