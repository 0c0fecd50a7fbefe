"""voice transcripts: what a speech-to-text engine heard in a voice answer, and whether the
client confirmed it

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-06 13:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("answer", sa.Column("transcript", sa.Text(), nullable=True))
    op.add_column("answer", sa.Column("transcript_state", sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("transcript_state")
        batch_op.drop_column("transcript")
