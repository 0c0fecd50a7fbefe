"""rounds: each meeting has its own round of answers and topics

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Everything there is belongs to round 1, the current one: the rows keep round NULL
    # ("current") and the client's round is 1; starting round 2 numbers them 1.
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), server_default="1",
                                      nullable=False))
        batch_op.add_column(sa.Column("evaluation_at", sa.DateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=True))
    with op.batch_alter_table("agenda_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("round", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agenda_item", schema=None) as batch_op:
        batch_op.drop_column("round")
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("round")
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.drop_column("evaluation_at")
        batch_op.drop_column("round")
